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


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the whole session (tests/pg_server.py). Where it cannot be
    started, the tests that need it fail under CI (CI=true) and are skipped, with the reason, elsewhere."""
    from pg_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is required in CI and cannot be started: {exc}")
        pytest.skip(f"PostgreSQL cannot be started: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The game database of one test, on each back-end: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "game.sqlite")
    return request.getfixturevalue("postgres_server").fresh_url()
