"""Training throughput: images/second of facegan's training step, and of stylegan2-ada-pytorch's.

    PYTHONPATH=src python benchmarks/train_throughput.py [--configs tiny,sg2-64,sg2-128] [--rounds 3]
        [--precision fp32,bf16] [--device cpu] [--peer PATH]

Configs (RGB, batch 8 unless said):
- `tiny`: the `tiny` StyleGAN2 preset at 32² (batch 16), as `make demo` trains it;
- `sg2-64`: StyleGAN2 at 64², channel_base 16384, channel_max 512, 2 mapping layers (what
  stylegan2-ada-pytorch's `--cfg auto` picks at 64²), R1 γ and path-length regularisation,
  style mixing 0.9, mbstd group 4;
- `sg2-128`: the same at 128².

What is timed is one training step as `facegan train` runs it: the loop's own `_run_phases` (the
phases Gmain, Greg, Dmain, Dreg with their optimiser steps, the Adam correction for lazy
regularisation, the per-round seeding), plus the EMA update. Lazy regularisation runs Greg every 4
and Dreg every 16 steps, so each round times 16 consecutive steps from step 0 and reports
images/second over them. Random images stand in for the data (loading is not what is measured;
see data_throughput.py).

With `--peer PATH` (a local checkout of NVlabs/stylegan2-ada-pytorch, kept outside this repo),
the peer's own Generator, Discriminator and StyleGAN2Loss are built with the same config, loaded
with the same initial weights, and run through the same 16 steps (its training loop's phase
logic: accumulate_gradients, then Adam with the same lazy-regularisation correction) on the same
CPU in the same process, alternating with ours round by round. The peer's own loop needs CUDA;
its networks and loss run on the CPU through their reference ops. The JSON gives the median of
the per-round ratios. The peer runs the `sg2-64` config (the issue's target) unless
`--peer-configs` says otherwise: at 128² it needs minutes per round.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from _machine import machine  # benchmarks/_machine.py

CONFIGS = {
    "tiny": dict(resolution=32, cfg="tiny", batch=16, overrides={}),
    "sg2-64": dict(resolution=64, cfg="auto", batch=8,
                   overrides=dict(channel_base=16384, channel_max=512, mapping_layers=2, mbstd_group_size=4,
                                  num_fp16_res=0, conv_clamp=None)),
    "sg2-128": dict(resolution=128, cfg="auto", batch=8,
                    overrides=dict(channel_base=16384, channel_max=512, mapping_layers=2, mbstd_group_size=4,
                                   num_fp16_res=0, conv_clamp=None)),
}
STEPS = 16  # one full cycle of lazy regularisation (Greg every 4, Dreg every 16)


def make_archive(folder: Path, resolution: int) -> str:
    from facegan.data import ArchiveWriter

    path = folder / f"noise{resolution}.zip"
    rng = np.random.RandomState(0)
    with ArchiveWriter(path) as w:
        for _ in range(8):
            w.add(rng.randint(0, 256, size=(resolution, resolution, 3), dtype=np.uint8))
    return str(path)


class Ours:
    """facegan's training step, through the training loop's own functions."""

    def __init__(self, data: str, spec: dict, precision: str, device: torch.device):
        from facegan.data import ImageDataset
        from facegan.training import distributed as dist
        from facegan.training import resolve_options
        from facegan.training.loop import TrainingRun

        overrides = {k: v for k, v in spec["overrides"].items() if k not in ("num_fp16_res", "conv_clamp")}
        self.opts = resolve_options(data, arch="stylegan2", cfg=spec["cfg"], batch=spec["batch"],
                                    batch_gpu=spec["batch"], precision=precision, network_overrides=overrides)
        self.run = TrainingRun(self.opts, dist.Dist(device=device), progress=False)
        self.run.dataset = ImageDataset(data)
        self.run._build_networks()   # networks (seeded), optimisers, loss, phases: no run folder
        self.cfg = self.opts.network_config
        self.G, self.D = self.run.G, self.run.D

    def steps(self, real: torch.Tensor, n: int) -> None:
        from facegan.training.losses import LossContext, PhaseStats

        run = self.run
        run.batch = batch = real.shape[0]
        for _ in range(n):
            stats = PhaseStats()
            ctx = LossContext(global_batch=batch, pl_mean=run.state.pl_mean)
            for phase in run.phases:
                if run.state.step % phase.interval == 0:
                    run._run_phase(phase, real, None, ctx, batch, batch, stats)
            run._update_averages(stats)


class Peer:
    """stylegan2-ada-pytorch's networks and StyleGAN2Loss, stepped as its training loop does."""

    def __init__(self, path: str, ours: Ours, device: torch.device):
        sys.modules.setdefault("requests", types.ModuleType("requests"))  # only its URL helper needs it
        sys.path.insert(0, os.path.abspath(path))
        from training.loss import StyleGAN2Loss  # noqa: PLC0415 (the peer, at run time)
        from training.networks import Discriminator, Generator  # noqa: PLC0415

        cfg, o = ours.cfg, ours.opts
        syn = dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=0, conv_clamp=None)
        self.G = Generator(cfg.z_dim, cfg.c_dim, cfg.w_dim, cfg.resolution, cfg.img_channels,
                           mapping_kwargs=dict(num_layers=cfg.mapping_layers), synthesis_kwargs=syn).train().to(device)
        self.D = Discriminator(cfg.c_dim, cfg.resolution, cfg.img_channels, channel_base=cfg.channel_base,
                               channel_max=cfg.channel_max, num_fp16_res=0, conv_clamp=None,
                               epilogue_kwargs=dict(mbstd_group_size=cfg.mbstd_group_size)).train().to(device)
        self.G.load_state_dict(ours.G.state_dict())
        self.D.load_state_dict(ours.D.state_dict())
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.loss = StyleGAN2Loss(device, self.G.mapping, self.G.synthesis, self.D, None, o.style_mixing_prob,
                                  o.r1_gamma, o.pl_batch_shrink, o.pl_decay, o.pl_weight)
        self.phases = []
        for name, module, lr, interval in (("G", self.G, o.lr_g, o.g_reg_interval),
                                           ("D", self.D, o.lr_d, o.d_reg_interval)):
            ratio = interval / (interval + 1)
            opt = torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=[b ** ratio for b in o.betas], eps=o.eps)
            self.phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
        self.ema_kimg, self.ema_rampup = o.ema_kimg, o.ema_rampup
        self.z_dim, self.device = cfg.z_dim, device

    def steps(self, real: torch.Tensor, n: int) -> None:
        batch = real.shape[0]
        for step in range(n):
            for name, module, opt, interval in self.phases:
                if step % interval:
                    continue
                opt.zero_grad(set_to_none=True)
                module.requires_grad_(True)
                z = torch.randn([batch, self.z_dim], device=self.device)
                c = torch.zeros([batch, 0], device=self.device)
                self.loss.accumulate_gradients(phase=name, real_img=real, real_c=c, gen_z=z, gen_c=c, sync=True,
                                               gain=interval)
                module.requires_grad_(False)
                for p in module.parameters():
                    if p.grad is not None:
                        torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
                opt.step()
            # The peer loop's EMA: half-life ema_kimg with ramp-up, over parameters and buffers.
            nimg = step * batch
            ema_nimg = self.ema_kimg * 1000
            if self.ema_rampup is not None:
                ema_nimg = min(ema_nimg, nimg * self.ema_rampup)
            beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
            with torch.no_grad():
                for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                    p_ema.copy_(p.lerp(p_ema, beta))
                for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                    b_ema.copy_(b)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_config(name: str, args, workdir: Path, device: torch.device) -> dict:
    spec = CONFIGS[name]
    data = make_archive(workdir, spec["resolution"])
    precisions = args.precision.split(",")
    sides = {p: Ours(data, spec, p, device) for p in precisions}
    peer = Peer(args.peer, sides[precisions[0]], device) if args.peer and name in args.peer_configs.split(",") \
        else None
    batch = spec["batch"]
    real = torch.rand([batch, sides[precisions[0]].cfg.img_channels, spec["resolution"], spec["resolution"]],
                      device=device) * 2 - 1
    # Warm-up: one step of every phase on every side (allocations, oneDNN kernel selection).
    for side in [*sides.values(), *([peer] if peer else [])]:
        side.steps(real, 1)
    times: dict[str, list[float]] = {k: [] for k in [*sides, *(["peer"] if peer else [])]}
    for _ in range(args.rounds):
        for p, side in sides.items():
            times[p].append(timed(lambda side=side: side.steps(real, args.steps)))
        if peer:
            times["peer"].append(timed(lambda: peer.steps(real, args.steps)))
    nimg = args.steps * batch
    result = {"config": name, "resolution": spec["resolution"], "batch": batch, "steps_per_round": args.steps,
              "rounds": args.rounds, "device": str(device),
              "network": {k: getattr(sides[precisions[0]].cfg, k) for k in
                          ("channel_base", "channel_max", "mapping_layers", "z_dim", "w_dim")},
              "img_per_s": {k: round(nimg / statistics.median(v), 3) for k, v in times.items()}}
    ratios = {}
    for p in precisions:
        if peer:
            ratios[f"{p}_vs_peer"] = round(statistics.median(t / o for o, t in zip(times[p], times["peer"])), 3)
    if "fp32" in times and "bf16" in times:
        ratios["bf16_vs_fp32"] = round(statistics.median(f / b for f, b in zip(times["fp32"], times["bf16"])), 3)
    result["speedup"] = ratios
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,sg2-64,sg2-128")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="fp32,bf16", help="fp32, bf16 or both (comma-separated)")
    parser.add_argument("--device", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peer", default=None, help="local checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--peer-configs", default="sg2-64", help="configs the peer runs too (it is slow)")
    parser.add_argument("--steps", type=int, default=STEPS, help="steps per round (16 = one lazy-regularisation cycle)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for device in args.device.split(","):
            for name in args.configs.split(","):
                results.append(bench_config(name, args, Path(tmp), torch.device(device)))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({**machine(), "results": results},
                     indent=1))


if __name__ == "__main__":
    main()
