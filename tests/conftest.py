"""Shared test set-up: markers, the GPU skip, and deterministic small-thread torch."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("FACEGAN_TEST", "1")


def pytest_configure(config):
    import torch

    # Tests are small; keep them from fighting over the cores of a shared CI machine.
    torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture
def seeded():
    """Seed torch and NumPy's global generators for a reproducible test."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    np.random.seed(0)
