"""Choosing where to run: CPU, CUDA or MPS, decided at run time, never hard-coded."""

from __future__ import annotations

import logging

import torch

from facegan.errors import ConfigError

log = logging.getLogger(__name__)


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then CPU; an explicit name must be available."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available here (use --device cpu)")
    return device


def has_native_bf16(device: torch.device | str) -> bool:
    """Whether `device` does bfloat16 arithmetic in hardware.

    CPUs need AVX-512 BF16 or AMX (Intel Cooper Lake / Sapphire Rapids and newer, AMD Zen 4 and newer);
    elsewhere oneDNN converts every operand to float32 and back, which makes bf16 convolutions several
    times slower than fp32 (10x for a 3x3 convolution, 19x for a StyleGAN2 generator, on an AVX2 Zen 3;
    docs/benchmarks.md). CUDA: compute capability 8.0 (Ampere) and newer. Other devices are assumed
    capable.
    """
    device = torch.device(device)
    if device.type == "cpu":
        cpu = torch.cpu
        return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported",
                                                                    "_is_amx_tile_supported"))
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return True


_warned: set[str] = set()


def warn_if_bf16_is_emulated(precision: str, device: torch.device | str) -> None:
    """Log a warning (once per device type) when bf16 is asked for where the hardware has none.

    The run goes on: the images are valid, only slow.
    """
    device = torch.device(device)
    if precision != "bf16" or device.type in _warned or has_native_bf16(device):
        return
    _warned.add(device.type)
    what = (f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no AVX-512 BF16 or AMX"
            if device.type == "cpu" else f"this {device.type} device has no native bfloat16")
    log.warning("precision bf16: %s, so bfloat16 is emulated and runs several times slower than fp32 "
                "here; use fp32 (the default)", what)
