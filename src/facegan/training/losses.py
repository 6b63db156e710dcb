"""The losses and regularisers, one phase of one accumulation round at a time.

- logistic: the non-saturating logistic loss of StyleGAN/StyleGAN2, G: softplus(-D(G(z))),
  D: softplus(D(G(z))) + softplus(-D(x)); R1 = (γ/2)·‖∇ₓD(x)‖² on reals; for StyleGAN2 also the
  path-length penalty (ws-gradient of G(w)·y with y ~ N(0, 1/(H·W)), its length's squared
  distance to a running mean, weight 2, on half the batch).
- wgan-gp: WGAN with gradient penalty and drift (Gulrajani et al.; ProGAN/StyleGAN's CelebA-HQ
  setting): G: -D(G(z)); D: D(G(z)) - D(x) + λ/t²·(‖∇D(x̂)‖ - t)² + ε·D(x)², x̂ a random point
  between a real and a fake.
- bce: the DCGAN tutorial's binary cross-entropy (on logits). Options of the Keras face tutorial:
  label flipping (real = 0, generated = 1) and label noise (D's labels + n·U(0, 1); G's target
  stays clean).

Phases are named as the official code's: 'Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth'. Every
per-sample loss is divided by the *global* batch (and multiplied by the phase's lazy-regularisation
interval), so summing the gradients of all rounds of all processes gives the gradient of the
global-batch mean, whatever the number of processes or the per-process batch.

Style mixing (probability p): a second latent takes over from a crossover layer drawn uniformly in
[1, active layers), where active layers are all of them for StyleGAN2 and those of the resolutions
trained so far for progressive StyleGAN, as the official code.

D-input blur (NVIDIA's stylegan3 loss): every image D sees (G's fakes, D's fakes, the reals, also
under R1, whose gradient is taken with respect to the unblurred reals) is first filtered with the
official Gaussian, 2^-(x/σ)² over |x| <= floor(3σ), normalised, applied along both axes with zero
padding; σ fades linearly from `blur_sigma` to 0 over `blur_fade_kimg` (`blur_sigma_at`).

Running averages: the G forward of the architecture's averaging phase (its traits'
`averages_phase`: G's main phase, or D's fakes) hands its w (for w_avg) and its layers'
running-average steps (through a RunningAverages collector) to the phase statistics; the loop
moves them once per step, over every round and process.

Penalties on D's input gradient (R1, WGAN-GP) are taken with respect to the image at the
network's full resolution, as NVIDIA's TF graph does for progressive StyleGAN: there the reals at
a lower level of detail are nearest-upsampled to full size before D. With f = 2^floor(lod) that
upsampling makes the gradient 1/f² per full-resolution pixel, so the squared norm is ‖∇‖²/f² of
the low-resolution gradient's and the norm ‖∇‖/f; facegan feeds D the low-resolution image and
applies these factors (the same numbers without the upsampled tensor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from facegan.networks.base import RunningAverages
from facegan.nn.resample import filter2d


@dataclass
class PhaseStats:
    """Sums over the samples of a phase (divide by counts for means)."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    w_sum: torch.Tensor | None = None    # Sum of the first latent's w over the averaging phase's samples.
    w_count: int = 0
    averages: RunningAverages = field(default_factory=RunningAverages)  # The layers' running-average steps.

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
    active_ws: int | None = None                           # Layers in use (progressive), None = all.
    pl_mean: float = 0.0                                   # Running mean of path lengths (from the loop).
    blur_sigma: float = 0.0                                # This step's D-input blur (0 = none).


def blur_sigma_at(nimg: int, init_sigma: float, fade_kimg: float) -> float:
    """The D-input blur after `nimg` images: init_sigma fading linearly to 0 over fade_kimg."""
    if fade_kimg <= 0:
        return 0.0
    return max(1 - nimg / (fade_kimg * 1e3), 0.0) * init_sigma


def blur_images(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """The D-input blur: the Gaussian 2^-(x/σ)², |x| <= floor(3σ), normalised, along both axes."""
    radius = math.floor(sigma * 3)
    if radius <= 0:
        return img
    f = torch.arange(-radius, radius + 1, device=img.device, dtype=torch.float32).div(sigma).square().neg().exp2()
    return filter2d(img, f / f.sum())


def adversarial_loss(kind: str, logits: torch.Tensor, towards_real: bool, label_flip: bool = False,
                     label_noise: float = 0.0) -> torch.Tensor:
    """The per-sample loss that pushes D's `logits` towards 'real' (or 'fake'): the one place
    the loss kinds differ in their main terms. bce: the 'real' label is 1 (0 with `label_flip`),
    plus `label_noise`·U(0, 1) per sample."""
    if kind == "logistic":
        return F.softplus(-logits if towards_real else logits)
    if kind == "wgan-gp":
        return -logits if towards_real else logits
    target = torch.full_like(logits, float(towards_real != label_flip))
    if label_noise:
        target = target + label_noise * torch.rand_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


class GANLoss:
    def __init__(self, G, D, kind: str = "logistic", augment_pipe=None, r1_gamma: float = 10.0,
                 style_mixing_prob: float = 0.9, pl_weight: float = 0.0, pl_batch_shrink: int = 2,
                 wgan_lambda: float = 10.0, wgan_epsilon: float = 0.001, wgan_target: float = 1.0,
                 autocast_dtype: torch.dtype | None = None, resolution: int | None = None,
                 label_flip: bool = False, label_noise: float = 0.0, averages_phase: str = "G"):
        self.G, self.D, self.kind, self.augment_pipe = G, D, kind, augment_pipe
        self.r1_gamma, self.style_mixing_prob = r1_gamma, style_mixing_prob
        self.pl_weight, self.pl_batch_shrink = pl_weight, pl_batch_shrink
        self.wgan_lambda, self.wgan_epsilon, self.wgan_target = wgan_lambda, wgan_epsilon, wgan_target
        self.autocast_dtype = autocast_dtype
        self.resolution = resolution          # The networks' full resolution (None: the images').
        self.label_flip, self.label_noise = label_flip, label_noise  # bce only (options.APPLIES)
        self.averages_phase = averages_phase  # 'G' or 'D': whose fakes move G's running averages

    def regularises(self, net: str) -> bool:
        """Whether the loss has a regulariser for 'G' (path length) or 'D' (R1, gradient penalty)."""
        if net == "G":
            return self.pl_weight > 0 and self.kind == "logistic"
        return (self.kind == "logistic" and self.r1_gamma > 0) or self.kind == "wgan-gp"

    # -- building blocks ------------------------------------------------------------------------
    def _autocast(self, device: torch.device):
        enabled = self.autocast_dtype is not None
        return torch.autocast(device.type, dtype=self.autocast_dtype or torch.float32, enabled=enabled)

    def run_G(self, z: torch.Tensor, c: torch.Tensor | None, ctx: LossContext, update_emas=False):
        """Generate with style mixing; returns (images, ws, ws of the first latent for w_avg).
        `update_emas`: a RunningAverages collector for the layers' running-average steps."""
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
            img = G.synthesis(ws, noise_mode="random", update_emas=update_emas, **ctx.synthesis_kwargs)
        return img.float(), ws, w_first

    def run_D(self, img: torch.Tensor, c: torch.Tensor | None, ctx: LossContext) -> torch.Tensor:
        if ctx.blur_sigma > 0:
            img = blur_images(img, ctx.blur_sigma)
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        with self._autocast(img.device):
            return self.D(img, c).float()

    def _upsampling(self, img: torch.Tensor) -> int:
        """f: how many times smaller `img` is than the networks' full resolution."""
        return 1 if self.resolution is None else self.resolution // img.shape[-1]

    # -- one phase, one round ---------------------------------------------------------------------
    def accumulate(self, phase: str, real: torch.Tensor, real_c, gen_z: torch.Tensor, gen_c, gain: float,
                   ctx: LossContext, stats: PhaseStats) -> torch.Tensor:
        """Backpropagate this round's share of the phase's loss; returns the (detached) loss sum
        (non-finite when something diverged)."""
        total = torch.zeros((), device=gen_z.device)
        d_main = phase in ("Dmain", "Dboth")
        d_reg = phase in ("Dreg", "Dboth")
        if phase in ("Gmain", "Gboth"):
            total = total + self._g_main(gen_z, gen_c, gain, ctx, stats)
        if phase in ("Greg", "Gboth") and self.regularises("G"):
            total = total + self._path_length(gen_z, gen_c, gain, ctx, stats)
        if d_main or (d_reg and self.kind == "wgan-gp"):
            total = total + self._d_fakes(real, real_c, gen_z, gen_c, gain, ctx, stats, d_main, d_reg)
        r1 = d_reg and self.kind == "logistic" and self.r1_gamma > 0
        if d_main or r1:
            total = total + self._d_reals(real, real_c, gain, ctx, stats, d_main, r1)
        return total

    def _averaging(self, net: str, stats: PhaseStats):
        """The collector for run_G's update_emas where `net`'s phase moves the running averages."""
        return stats.averages if net == self.averages_phase else False

    def _g_main(self, gen_z, gen_c, gain, ctx, stats) -> torch.Tensor:
        img, _, w_first = self.run_G(gen_z, gen_c, ctx, update_emas=self._averaging("G", stats))
        logits = self.run_D(img, gen_c, ctx)
        stats.add("Loss/scores/fake", logits)
        stats.add("Loss/signs/fake", logits.sign())
        loss = adversarial_loss(self.kind, logits, towards_real=True, label_flip=self.label_flip)
        stats.add("Loss/G/loss", loss)
        if self.averages_phase == "G":
            stats.add_w(w_first)  # for the w_avg update
        (loss.sum() * (gain / ctx.global_batch)).backward()
        return loss.detach().sum()

    def _path_length(self, gen_z, gen_c, gain, ctx, stats) -> torch.Tensor:
        rounds_share = gen_z.shape[0]
        m = max(1, rounds_share // self.pl_batch_shrink)
        img, ws, _ = self.run_G(gen_z[:m], None if gen_c is None else gen_c[:m], ctx)
        pl_noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grads,) = torch.autograd.grad((img * pl_noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        penalty = (lengths - ctx.pl_mean).square()
        stats.add("Loss/pl_length", lengths)
        stats.add("Loss/pl_penalty", penalty)
        loss = penalty * self.pl_weight
        stats.add("Loss/G/reg", loss)
        # A mean over the PL samples of the whole step: m of this round's share, in every round.
        (loss.sum() * (gain * (rounds_share / m) / ctx.global_batch) + img[:, 0, 0, 0].sum() * 0).backward()
        return loss.detach().sum()

    def _d_fakes(self, real, real_c, gen_z, gen_c, gain, ctx, stats, d_main: bool, d_reg: bool) -> torch.Tensor:
        total = torch.zeros((), device=gen_z.device)
        with torch.no_grad():
            img, _, w_first = self.run_G(gen_z, gen_c, ctx, update_emas=d_main and self._averaging("D", stats))
        if d_main and self.averages_phase == "D":
            stats.add_w(w_first)  # for the w_avg update
        if d_main:
            logits = self.run_D(img, gen_c, ctx)
            stats.add("Loss/scores/fake", logits)
            stats.add("Loss/signs/fake", logits.sign())
            loss_gen = adversarial_loss(self.kind, logits, towards_real=False, label_flip=self.label_flip,
                                        label_noise=self.label_noise)
            (loss_gen.sum() * (gain / ctx.global_batch)).backward()
            total = total + loss_gen.detach().sum()
        if self.kind == "wgan-gp" and d_reg:
            total = total + self._wgan_penalty(real, img, real_c, gain, ctx, stats)
        if d_main:
            stats.add("Loss/D/loss_fake", loss_gen)
        return total

    def _d_reals(self, real, real_c, gain, ctx, stats, d_main: bool, r1: bool) -> torch.Tensor:
        real_tmp = real.detach().requires_grad_(r1)
        logits = self.run_D(real_tmp, real_c, ctx)
        stats.add("Loss/scores/real", logits)
        stats.add("Loss/signs/real", logits.sign())
        loss = torch.zeros_like(logits)
        if d_main:
            loss = adversarial_loss(self.kind, logits, towards_real=True, label_flip=self.label_flip,
                                    label_noise=self.label_noise)
            if self.kind == "wgan-gp":
                loss = loss + self.wgan_epsilon * logits.square()
            stats.add("Loss/D/loss_real", loss)
        if r1:
            (grads,) = torch.autograd.grad(logits.sum(), real_tmp, create_graph=True)
            penalty = grads.square().sum([1, 2, 3])
            f = self._upsampling(real)
            if f > 1:  # w.r.t. the full-resolution image (see the module's docstring)
                penalty = penalty / (f * f)
            stats.add("Loss/r1_penalty", penalty)
            reg = penalty * (self.r1_gamma / 2)
            stats.add("Loss/D/reg", reg)
            loss = loss + reg.reshape(loss.shape)
        (loss.sum() * (gain / ctx.global_batch)).backward()
        return loss.detach().sum()

    def _wgan_penalty(self, real, fake, c, gain, ctx, stats) -> torch.Tensor:
        alpha = torch.rand([real.shape[0], 1, 1, 1], device=real.device)
        mixed = torch.lerp(real.detach(), fake.detach(), alpha).requires_grad_(True)
        logits = self.run_D(mixed, c, ctx)
        (grads,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
        norms = grads.flatten(1).norm(dim=1)
        f = self._upsampling(real)
        if f > 1:  # w.r.t. the full-resolution image (see the module's docstring)
            norms = norms / f
        penalty = (norms - self.wgan_target).square() * (self.wgan_lambda / self.wgan_target ** 2)
        stats.add("Loss/wgan_gp", penalty)
        (penalty.sum() * (gain / ctx.global_batch)).backward()
        return penalty.detach().sum()
