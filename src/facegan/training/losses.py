"""The losses and regularisers, one phase of one accumulation round at a time.

- logistic: the non-saturating logistic loss of StyleGAN/StyleGAN2, G: softplus(-D(G(z))),
  D: softplus(D(G(z))) + softplus(-D(x)); R1 = (γ/2)·‖∇ₓD(x)‖² on reals; for StyleGAN2 also the
  path-length penalty (ws-gradient of G(w)·y with y ~ N(0, 1/(H·W)), its length's squared
  distance to a running mean, weight 2, on half the batch).
- wgan-gp: WGAN with gradient penalty and drift (Gulrajani et al.; ProGAN/StyleGAN's CelebA-HQ
  setting): G: -D(G(z)); D: D(G(z)) - D(x) + λ/t²·(‖∇D(x̂)‖ - t)² + ε·D(x)², x̂ a random point
  between a real and a fake.
- bce: the DCGAN tutorial's binary cross-entropy (on logits).

Phases are named as the official code's: 'Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth'. Every
per-sample loss is divided by the *global* batch (and multiplied by the phase's lazy-regularisation
interval), so summing the gradients of all rounds of all processes gives the gradient of the
global-batch mean, whatever the number of processes or the per-process batch.

Style mixing (probability p): a second latent takes over from a crossover layer drawn uniformly in
[1, active layers), where active layers are all of them for StyleGAN2 and those of the resolutions
trained so far for progressive StyleGAN, as the official code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


@dataclass
class PhaseStats:
    """Sums over the samples of a phase (divide by counts for means)."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    w_sum: torch.Tensor | None = None    # Sum of the first latent's w over the G phase's samples.
    w_count: int = 0

    def add(self, name: str, values: torch.Tensor) -> None:
        v = values.detach().float()
        self.sums[name] = self.sums.get(name, 0.0) + float(v.sum())
        self.counts[name] = self.counts.get(name, 0) + v.numel()

    def add_w(self, w: torch.Tensor) -> None:
        s = w.detach().float().sum(0)
        self.w_sum = s if self.w_sum is None else self.w_sum + s
        self.w_count += w.shape[0]

    def mean(self, name: str) -> float | None:
        return self.sums[name] / self.counts[name] if self.counts.get(name) else None


@dataclass
class LossContext:
    """What the loop tells the loss about the current step."""

    global_batch: int
    synthesis_kwargs: dict = field(default_factory=dict)   # e.g. {'max_resolution': 16, 'lod': 1.3} (v1)
    d_kwargs: dict = field(default_factory=dict)           # e.g. {'lod': 1.3} (v1)
    active_ws: int | None = None                           # Layers in use (progressive), None = all.
    pl_mean: float = 0.0                                   # Running mean of path lengths (from the loop).


class GANLoss:
    def __init__(self, G, D, kind: str = "logistic", augment_pipe=None, r1_gamma: float = 10.0,
                 style_mixing_prob: float = 0.9, pl_weight: float = 0.0, pl_batch_shrink: int = 2,
                 wgan_lambda: float = 10.0, wgan_epsilon: float = 0.001, wgan_target: float = 1.0,
                 autocast_dtype: torch.dtype | None = None):
        self.G, self.D, self.kind, self.augment_pipe = G, D, kind, augment_pipe
        self.r1_gamma, self.style_mixing_prob = r1_gamma, style_mixing_prob
        self.pl_weight, self.pl_batch_shrink = pl_weight, pl_batch_shrink
        self.wgan_lambda, self.wgan_epsilon, self.wgan_target = wgan_lambda, wgan_epsilon, wgan_target
        self.autocast_dtype = autocast_dtype

    # -- building blocks ------------------------------------------------------------------------
    def _autocast(self, device: torch.device):
        enabled = self.autocast_dtype is not None
        return torch.autocast(device.type, dtype=self.autocast_dtype or torch.float32, enabled=enabled)

    def run_G(self, z: torch.Tensor, c: torch.Tensor | None, ctx: LossContext):
        """Generate with style mixing; returns (images, ws, ws of the first latent for w_avg)."""
        G = self.G
        ws = G.mapping(z, c)
        w_first = ws[:, 0].detach()
        num_ws = ws.shape[1]
        active = ctx.active_ws or num_ws
        if self.style_mixing_prob > 0 and active > 1:
            cutoff = int(torch.randint(1, active, ()))
            if float(torch.rand(())) < self.style_mixing_prob:
                ws2 = G.mapping(torch.randn_like(z), c)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        with self._autocast(z.device):
            img = G.synthesis(ws, noise_mode="random", **ctx.synthesis_kwargs)
        return img.float(), ws, w_first

    def run_D(self, img: torch.Tensor, c: torch.Tensor | None, ctx: LossContext) -> torch.Tensor:
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        with self._autocast(img.device):
            return self.D(img, c, **ctx.d_kwargs).float()

    # -- one phase, one round ---------------------------------------------------------------------
    def accumulate(self, phase: str, real: torch.Tensor, real_c, gen_z: torch.Tensor, gen_c, gain: float,
                   ctx: LossContext, stats: PhaseStats) -> torch.Tensor:
        """Backpropagate this round's share of the phase's loss; returns the (detached) loss sum
        (non-finite when something diverged)."""
        n = ctx.global_batch
        total = torch.zeros((), device=gen_z.device)
        g_main = phase in ("Gmain", "Gboth")
        g_reg = phase in ("Greg", "Gboth") and self.pl_weight > 0 and self.kind == "logistic"
        d_main = phase in ("Dmain", "Dboth")
        d_reg = phase in ("Dreg", "Dboth")

        if g_main:
            img, _, w_first = self.run_G(gen_z, gen_c, ctx)
            logits = self.run_D(img, gen_c, ctx)
            stats.add("Loss/scores/fake", logits)
            stats.add("Loss/signs/fake", logits.sign())
            if self.kind == "logistic":
                loss = F.softplus(-logits)
            elif self.kind == "wgan-gp":
                loss = -logits
            else:
                loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
            stats.add("Loss/G/loss", loss)
            stats.add_w(w_first)  # for the w_avg update
            (loss.sum() * (gain / n)).backward()
            total = total + loss.detach().sum()

        if g_reg:
            m = max(1, gen_z.shape[0] // self.pl_batch_shrink)
            img, ws, _ = self.run_G(gen_z[:m], None if gen_c is None else gen_c[:m], ctx)
            pl_noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            (grads,) = torch.autograd.grad((img * pl_noise).sum(), ws, create_graph=True)
            lengths = grads.square().sum(2).mean(1).sqrt()
            penalty = (lengths - ctx.pl_mean).square()
            stats.add("Loss/pl_length", lengths)
            stats.add("Loss/pl_penalty", penalty)
            loss = penalty * self.pl_weight
            stats.add("Loss/G/reg", loss)
            # The penalty is a mean over the shrunk batch.
            (loss.sum() * (gain * self.pl_batch_shrink / n) + img[:, 0, 0, 0].sum() * 0).backward()
            total = total + loss.detach().sum()

        if d_main:
            with torch.no_grad():
                img, _, _ = self.run_G(gen_z, gen_c, ctx)
            logits = self.run_D(img, gen_c, ctx)
            stats.add("Loss/scores/fake", logits)
            stats.add("Loss/signs/fake", logits.sign())
            if self.kind == "logistic":
                loss_gen = F.softplus(logits)
            elif self.kind == "wgan-gp":
                loss_gen = logits
            else:
                loss_gen = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")
            (loss_gen.sum() * (gain / n)).backward()
            total = total + loss_gen.detach().sum()
            if self.kind == "wgan-gp" and d_reg:
                total = total + self._wgan_penalty(real, img, real_c, gain, ctx, stats)
            stats.add("Loss/D/loss_fake", loss_gen)

        r1 = d_reg and self.kind == "logistic" and self.r1_gamma > 0
        if d_main or r1:
            real_tmp = real.detach().requires_grad_(r1)
            logits = self.run_D(real_tmp, real_c, ctx)
            stats.add("Loss/scores/real", logits)
            stats.add("Loss/signs/real", logits.sign())
            loss = torch.zeros_like(logits)
            if d_main:
                if self.kind == "logistic":
                    loss = F.softplus(-logits)
                elif self.kind == "wgan-gp":
                    loss = -logits + self.wgan_epsilon * logits.square()
                else:
                    loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
                stats.add("Loss/D/loss_real", loss)
            if r1:
                (grads,) = torch.autograd.grad(logits.sum(), real_tmp, create_graph=True)
                penalty = grads.square().sum([1, 2, 3])
                stats.add("Loss/r1_penalty", penalty)
                reg = penalty * (self.r1_gamma / 2)
                stats.add("Loss/D/reg", reg)
                loss = loss + reg.reshape(loss.shape)
            (loss.sum() * (gain / n)).backward()
            total = total + loss.detach().sum()
        return total

    def _wgan_penalty(self, real, fake, c, gain, ctx, stats) -> torch.Tensor:
        alpha = torch.rand([real.shape[0], 1, 1, 1], device=real.device)
        mixed = torch.lerp(real.detach(), fake.detach(), alpha).requires_grad_(True)
        logits = self.run_D(mixed, c, ctx)
        (grads,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
        norms = grads.flatten(1).norm(dim=1)
        penalty = (norms - self.wgan_target).square() * (self.wgan_lambda / self.wgan_target ** 2)
        stats.add("Loss/wgan_gp", penalty)
        (penalty.sum() * (gain / ctx.global_batch)).backward()
        return penalty.detach().sum()
