"""Shared by the network tests: parameters that matter."""

from __future__ import annotations

import torch


def with_random_parameters(net: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> torch.nn.Module:
    """Set what a new network leaves at a constant (biases, noise strengths, batch-norm scales, w_avg,
    the stored noise maps) to random values, so that a test sees them act. Filters, batch-norm
    statistics and the lod buffer keep their values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.ndim <= 1:
                p.copy_(torch.randn(p.shape, generator=gen) * scale + (1 if _is_bn_scale(net, name) else 0))
        for name, b in net.named_buffers():
            if name.endswith(("noise_const", "w_avg")):
                b.copy_(torch.randn(b.shape, generator=gen) * scale)
    return net


def _is_bn_scale(net: torch.nn.Module, name: str) -> bool:
    module_name, _, leaf = name.rpartition(".")
    module = net.get_submodule(module_name) if module_name else net
    return isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and leaf == "weight"
