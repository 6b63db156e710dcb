"""Optimisers other than Adam (which is torch's own; see loop.make_optimizer).

`KerasRMSprop` is Keras 2's RMSprop as the Keras face tutorial uses it, which differs from
torch.optim.RMSprop in three ways: ε is added *after* the square root, each gradient element is
first clipped to ±clipvalue (Keras' `clipvalue`), and the learning rate decays with Keras'
time-based schedule lr / (1 + decay·iterations), where iterations counts the updates before this
one. Per parameter, with a accumulator starting at 0:

    g ← clip(g, -clipvalue, clipvalue)
    a ← ρ·a + (1 - ρ)·g²
    p ← p - lr / (1 + decay·t) · g / (√a + ε)
"""

from __future__ import annotations

import torch


class KerasRMSprop(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 0.001, rho: float = 0.9, eps: float = 1e-7,
                 clipvalue: float | None = None, decay: float = 0.0):
        if lr <= 0 or not 0 <= rho < 1 or eps < 0 or decay < 0 or (clipvalue is not None and clipvalue <= 0):
            raise ValueError(f"invalid RMSprop settings lr={lr} rho={rho} eps={eps} clipvalue={clipvalue} "
                             f"decay={decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, clipvalue=clipvalue, decay=decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(p)
                g = p.grad
                if group["clipvalue"] is not None:
                    g = g.clamp(-group["clipvalue"], group["clipvalue"])
                a = state["square_avg"]
                a.mul_(group["rho"]).addcmul_(g, g, value=1 - group["rho"])
                lr = group["lr"] / (1 + group["decay"] * state["step"])
                p.addcdiv_(g, a.sqrt().add_(group["eps"]), value=-lr)
                state["step"] += 1
        return loss
