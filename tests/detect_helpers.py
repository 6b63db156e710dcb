"""Shared set-up of the detector tests."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_thread():
    """Training tiny networks and detectors is fastest on one thread: on a busy machine several threads
    spin waiting for each other (a tiny StyleGAN2 trained 30x slower on two threads under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
