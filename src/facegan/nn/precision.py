"""Where the float16 layers of a network run.

The official StyleGAN2/StyleGAN3 networks run their `num_fp16_res` highest resolutions in float16
on CUDA, and in float32 everywhere else (stylegan3's copy of the StyleGAN2 network checks the
device; PyTorch's float16 convolutions on a CPU are slow). facegan follows that by default.

`cpu_fp16()` lets the float16 layers run on the CPU too, inside a `with` block:

    with facegan.nn.precision.cpu_fp16():
        img = G.synthesis(ws)              # float16 blocks, the CUDA arithmetic, on the CPU
        imgs = G.run(z, precision="fp16")  # fp16 autocast is accepted on the CPU as well

Inside it the networks take every decision they take on CUDA: float16 blocks, the
pre-normalisation before demodulation, the weight caches in float16, the clamps, fp16 autocast,
and StyleGAN2's official choice of fused modulation in inference (on a plain CPU run facegan
keeps modulation unfused, which CPU kernels run faster). It exists so that all of these can be
tested and checked on a machine without a GPU. It is slow; it is not a way to speed anything up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_cpu_fp16_depth = 0  # > 0 inside cpu_fp16(); a plain global, so torch.compile guards on it


@contextlib.contextmanager
def cpu_fp16() -> Iterator[None]:
    """Run float16 layers on the CPU as they run on CUDA (nestable; for tests and checks)."""
    global _cpu_fp16_depth
    _cpu_fp16_depth += 1
    try:
        yield
    finally:
        _cpu_fp16_depth -= 1


def fp16_enabled(device: torch.device) -> bool:
    """Whether float16 layers (and the other CUDA decisions) apply on `device`: always on CUDA, on
    the CPU only inside cpu_fp16()."""
    return device.type == "cuda" or (_cpu_fp16_depth > 0 and device.type == "cpu")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The float type of full-precision arithmetic for a tensor of `dtype`: float32, or float64 for
    float64 tensors (a float64 network computes in float64 end to end, as a reference)."""
    return torch.promote_types(dtype, torch.float32)
