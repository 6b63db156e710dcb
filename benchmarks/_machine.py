"""What a benchmark ran on, for its JSON: figures from different CPUs are not comparable, and bf16
figures mean nothing without knowing whether the CPU has bfloat16 in hardware."""

from __future__ import annotations

import os
import platform

import torch

from facegan.utils.device import has_native_bf16


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16_cpu": has_native_bf16("cpu"), "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
