"""StyleGAN (v1) generator on CPU: our fp32 path against the straightforward one, and bf16 autocast.

The straightforward path ("plain") is the layer epilogue written op by op as the official code does
(out-of-place noise, bias and activation, torch.var_mean instance norm, separate style
modulation), NCHW activations and F.interpolate for the nearest upscale. "ours" is the network as
shipped (in-place epilogue with the AdaIN multiply-add folded, two-reduction statistics,
channels_last activations on CPU, broadcast-copy upscale). Both compute the same images.

The sides alternate within one process over several rounds; the JSON gives each side's median
seconds per batch and the median of the per-round ratios.

    PYTHONPATH=src python benchmarks/stylegan1_cpu.py --resolution 256 --batch 4 --rounds 7
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch
import torch.nn.functional as F

import facegan.networks.stylegan as sg
import facegan.nn.scale2d as scale2d
from facegan.networks import build_generator, stylegan_preset


def plain_layer_forward(self, x, ws, noise_mode="const"):
    """The epilogue op by op, out of place (the 'before' of the optimisations)."""
    if self.weight is not None:
        w = self.weight * self.weight_gain
        x = scale2d.upscale2d_conv2d(x, w, self.fused) if self.up else F.conv2d(x, w, padding=1)
    if self.blur is not None:
        x = self.blur(x)
    if self.noise_strength is not None and noise_mode != "none":
        x = x + self.noise_const[None, None] * self.noise_strength[None, :, None, None]
    x = F.leaky_relu(x + self.bias[None, :, None, None], 0.2)
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    x = (x - mean) * torch.rsqrt(var + 1e-8)
    style = self.affine(ws[:, self.w_index])
    C = x.shape[1]
    return x * (style[:, :C, None, None] + 1) + style[:, C:, None, None]


@contextlib.contextmanager
def plain_path():
    saved = (sg.StyleGANLayer.forward, sg._to_preferred_format, scale2d.upscale2d)
    sg.StyleGANLayer.forward = plain_layer_forward
    sg._to_preferred_format = lambda x, weight: x
    scale2d.upscale2d = sg.upscale2d = lambda x, factor=2: x if factor == 1 else F.interpolate(
        x, scale_factor=factor, mode="nearest")
    try:
        yield
    finally:
        sg.StyleGANLayer.forward, sg._to_preferred_format, scale2d.upscale2d = saved
        sg.upscale2d = saved[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    G = build_generator(stylegan_preset("stylegan-ffhq", args.resolution)).eval().requires_grad_(False)
    z = torch.randn(args.batch, G.z_dim)

    def ours():
        return G(z, truncation_psi=0.7)

    def plain():
        with plain_path():
            return G(z, truncation_psi=0.7)

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return G(z, truncation_psi=0.7)

    sides = {"ours": ours, "plain": plain, "ours_bf16_autocast": bf16}
    with torch.no_grad():
        same = (ours() - plain()).abs().max().item()
        times: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(args.rounds + 1):  # the first round warms up and is dropped
            for name, fn in sides.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    times = {k: v[1:] for k, v in times.items()}
    result = {
        "benchmark": "stylegan1_cpu_generator",
        "config": f"stylegan-ffhq at {args.resolution}x{args.resolution}",
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "max_abs_difference_ours_vs_plain": same,
        "seconds_per_batch_median": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "images_per_second_ours": round(args.batch / statistics.median(times["ours"]), 2),
        "speedup_ours_vs_plain_median": round(statistics.median(
            p / o for p, o in zip(times["plain"], times["ours"])), 3),
        "speedup_bf16_vs_ours_median": round(statistics.median(
            o / b for o, b in zip(times["ours"], times["ours_bf16_autocast"])), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
