"""The training loop: build, resume, then step after step until the target number of images.

    result = train(resolve_options("faces.zip", arch="stylegan2", cfg="paper256"))

One step = one global minibatch, run through the phases of the architecture (StyleGAN2: G main,
G path-length every 4 steps, D main, D R1 every 16; StyleGAN v1: D with R1, then G; DCGAN: D, then
G on the same latents), each phase accumulated over rounds of `batch_gpu` samples per process,
with gradients summed across processes, then the optimiser steps, the EMA generator, w_avg, the
path-length mean and ADA's p are updated. Every random draw of a round is seeded from (seed, step,
phase, round), which makes runs reproducible, independent of the number of processes, and
resumable exactly from the step counter. A tick prints and logs statistics; every `snap` ticks the
control grid, a checkpoint and the metrics are written.
"""

from __future__ import annotations

import copy
import logging
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facegan.data import ImageDataset
from facegan.errors import ConfigError, TrainingError
from facegan.networks import build_discriminator, build_generator, load_state_strict
from facegan.training import checkpoint as ckpt
from facegan.training import distributed as dist
from facegan.training.ema import ema_beta, update_ema
from facegan.training.losses import GANLoss, LossContext, PhaseStats
from facegan.training.options import TrainingOptions
from facegan.training.rundir import (
    RunLog,
    StatsWriter,
    control_latents,
    next_run_dir,
    run_description,
    save_grid,
    write_progress_gif,
)
from facegan.training.sampler import GlobalStream, RankBatchSampler
from facegan.training.schedule import lod_changed, progressive_schedule
from facegan.utils.device import warn_if_bf16_is_emulated
from facegan.utils.images import to_uint8

log = logging.getLogger("facegan.training")


@dataclass
class RunResult:
    run_dir: Path
    nimg: int
    checkpoint: Path | None
    interrupted: bool = False


@dataclass
class Phase:
    name: str                      # Gmain, Greg, Gboth, Dmain, Dreg, Dboth
    net: str                       # 'G' or 'D'
    interval: int = 1              # Runs every `interval` steps (lazy regularisation), with gain = interval.


@dataclass
class State:
    """Everything that changes during training (saved in checkpoints)."""

    nimg: int = 0
    step: int = 0
    tick: int = 0
    tick_start_nimg: int = 0
    data_pos: int = 0
    pl_mean: float = 0.0
    ada_sign_sum: float = 0.0
    ada_sign_count: int = 0
    nonfinite: int = 0
    prev_lod: float | None = None
    elapsed: float = 0.0
    snapshots: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["prev_lod"] = -1.0 if self.prev_lod is None else self.prev_lod
        return d

    @staticmethod
    def from_dict(d: dict) -> State:
        s = State(**{k: d[k] for k in State.__dataclass_fields__ if k in d})
        if s.prev_lod is not None and s.prev_lod < 0:
            s.prev_lod = None
        return s


# ----------------------------------------------------------------------------------------------
# Set-up.

def make_phases(opts: TrainingOptions) -> list[Phase]:
    if opts.arch == "dcgan":
        return [Phase("Dmain", "D"), Phase("Gmain", "G")]
    if opts.arch == "stylegan":  # the official order: D (with R1 every step) then G
        return [Phase("Dboth", "D"), Phase("Gmain", "G")]
    phases = []
    for net, reg, interval in (("G", "Greg", opts.g_reg_interval), ("D", "Dreg", opts.d_reg_interval)):
        regularised = (net == "G" and opts.pl_weight > 0) or \
            (net == "D" and (opts.r1_gamma > 0 or opts.loss == "wgan-gp"))
        if interval is None or not regularised:
            phases.append(Phase(f"{net}both", net))
        else:
            phases += [Phase(f"{net}main", net), Phase(reg, net, interval)]
    return phases


def make_optimizer(params, opts: TrainingOptions, lr: float, interval: int | None) -> torch.optim.Adam:
    """Adam, with the official correction for lazy regularisation: lr and betas scaled by N/(N+1)."""
    ratio = interval / (interval + 1) if interval else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(opts.betas[0] ** ratio, opts.betas[1] ** ratio),
                            eps=opts.eps)


def round_seed(seed: int, step: int, phase: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, step, phase, chunk]).generate_state(1)[0])


def load_initial_networks(path: str, G, D, G_ema) -> None:
    """Fine-tuning: copy a pretrained network's tensors into ours, demanding an exact match."""
    from facegan.interop import load_any

    loaded = load_any(path)
    sources = {"G": loaded.networks.get("G") or loaded.networks.get("G_ema"), "D": loaded.networks.get("D"),
               "G_ema": loaded.networks.get("G_ema") or loaded.networks.get("G")}
    if sources["D"] is None:
        raise ConfigError(f"{path}: fine-tuning needs the discriminator too, and this file has none")
    for name, net in (("G", G), ("D", D), ("G_ema", G_ema)):
        load_state_strict(net, sources[name].state_dict(), context=f"--resume {path} [{name}]")


# ----------------------------------------------------------------------------------------------
# The loop.

def train(opts: TrainingOptions, progress: bool = True) -> RunResult:
    d = dist.setup(opts.device)
    try:
        return _train(opts, d, progress)
    finally:
        dist.teardown()


def _train(opts: TrainingOptions, d: dist.Dist, progress: bool) -> RunResult:
    device = d.device
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = opts.allow_tf32
        torch.backends.cudnn.allow_tf32 = opts.allow_tf32
        torch.backends.cudnn.benchmark = True

    # Resume: continue a run (its options and state) or fine-tune from a network file.
    resume_ckpt = None
    if opts.resume:
        resume_path = Path(opts.resume)
        if resume_path.is_dir() or resume_path.name.endswith((".state.pt",)) or \
                (resume_path.suffix == ".safetensors" and resume_path.with_name(
                    resume_path.name.replace(".safetensors", ".state.pt")).exists()):
            resume_ckpt = ckpt.find_checkpoint(resume_path)
    run_dir = _prepare_run_dir(opts, resume_ckpt, d)
    runlog = RunLog(run_dir) if d.is_main else None
    stats_writer = StatsWriter(run_dir) if d.is_main else None

    # Data.
    dataset = ImageDataset(opts.data, xflip=opts.mirror, use_labels=opts.cond, max_size=opts.max_images,
                           random_seed=opts.seed, cache_bytes=1 << 30)
    stream = GlobalStream(len(dataset), opts.seed)

    # Networks, optimisers, loss.
    torch.manual_seed(opts.seed)
    cfg = opts.network_config
    if cfg.resolution != dataset.stored_resolution or cfg.img_channels != dataset.num_channels:
        raise ConfigError(f"the network is {cfg.resolution}x{cfg.resolution}x{cfg.img_channels}, the dataset "
                          f"{dataset.stored_resolution}x{dataset.stored_resolution}x{dataset.num_channels}")
    G = build_generator(cfg).train().to(device)
    D = build_discriminator(cfg).train().to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    if opts.resume and resume_ckpt is None:
        load_initial_networks(opts.resume, G, D, G_ema)
    phases = make_phases(opts)
    intervals = {"G": opts.g_reg_interval, "D": opts.d_reg_interval}
    lazy = {net: intervals[net] if any(p.name == f"{net}reg" for p in phases) else None for net in ("G", "D")}
    opt_G = make_optimizer(G.parameters(), opts, opts.lr_g, lazy["G"])
    opt_D = make_optimizer(D.parameters(), opts, opts.lr_d, lazy["D"])
    optimizers = {"G": opt_G, "D": opt_D}
    nets = {"G": G, "D": D}
    augment_pipe, ada = _make_augment(opts, device)
    autocast = torch.bfloat16 if opts.precision == "bf16" else None
    warn_if_bf16_is_emulated(opts.precision, device)
    loss = GANLoss(G, D, opts.loss, augment_pipe, opts.r1_gamma, opts.style_mixing_prob, opts.pl_weight,
                   opts.pl_batch_shrink, opts.wgan_lambda, opts.wgan_epsilon, opts.wgan_target, autocast)

    state = State()
    if resume_ckpt is not None:
        state = _restore(resume_ckpt, G, D, G_ema, optimizers, augment_pipe, device)
        if runlog:
            runlog.write(f"resumed from {resume_ckpt.networks.name} at kimg {state.nimg / 1000:.3f}")
    for net in (G, D, G_ema):
        dist.broadcast_module(net, d)

    # The control grid and the reals.
    grid_z = torch.from_numpy(control_latents(G.z_dim, opts.seed)).to(device)
    grid_c = _grid_labels(dataset, len(grid_z), opts.seed, device) if cfg.c_dim else None
    if d.is_main and resume_ckpt is None:
        _save_reals(run_dir, dataset)
        save_grid(run_dir / "fakes_init.png", _render(G_ema, grid_z, grid_c))

    total_nimg = int(opts.kimg * 1000)
    stop = _SignalFlag()
    tick_stats = PhaseStats()
    loader, loader_key = None, None
    tick_start_time = time.time()
    start_time = time.time() - state.elapsed
    bar = _progress_bar(progress and d.is_main, total_nimg, state.nimg)
    last_ckpt: Path | None = resume_ckpt.networks if resume_ckpt else None
    sched = None
    interrupted = False
    try:
        while state.nimg < total_nimg:
            # Schedule (progressive growing: re-evaluated every minibatch_repeats steps).
            if opts.progressive is not None:
                if sched is None or state.step % opts.progressive.minibatch_repeats == 0:
                    sched = progressive_schedule(state.nimg, cfg.resolution, opts.progressive, opts.tick_kimg)
                    if opts.progressive.reset_optimizer_on_lod_change and lod_changed(state.prev_lod, sched.lod) \
                            and state.prev_lod is not None:
                        for o in optimizers.values():
                            o.state.clear()
                    state.prev_lod = sched.lod
                    for o in optimizers.values():
                        for group in o.param_groups:
                            group["lr"] = sched.lr
                    G.synthesis.lod.fill_(sched.lod)
                    D.lod.fill_(sched.lod)
                resolution, batch, tick_kimg = sched.resolution, sched.minibatch, sched.tick_kimg
            else:
                resolution, batch, tick_kimg = cfg.resolution, opts.batch, opts.tick_kimg
            share, bgpu = _split_batch(batch, opts.batch_gpu, d.world)

            # Data for this step (the loader is rebuilt when resolution or batch changes).
            if loader_key != (resolution, batch):
                dataset.set_resolution(resolution)
                loader = iter(_loader(dataset, stream, state.data_pos, batch, d, opts.workers))
                loader_key = (resolution, batch)
            real, real_c = next(loader)
            real = real.to(device, torch.float32).div_(127.5).sub_(1)
            if sched is not None and sched.lod % 1:
                real = _fade_reals(real, sched.lod)
            real_c = real_c.to(device) if cfg.c_dim else None

            ctx = LossContext(global_batch=batch, pl_mean=state.pl_mean,
                              synthesis_kwargs={"max_resolution": resolution} if opts.arch == "stylegan" else {},
                              active_ws=(2 * int(math.log2(resolution)) - 2) if opts.arch == "stylegan" else None)
            step_stats = PhaseStats()
            finite = _run_phases(opts, phases, nets, optimizers, loss, ctx, real, real_c, dataset, state, d, bgpu,
                                 share, step_stats, device)
            if not finite:
                state.nonfinite += 1
                if runlog:
                    runlog.write(f"non-finite loss at kimg {state.nimg / 1000:.3f}: step skipped "
                                 f"({state.nonfinite} in a row)")
                if state.nonfinite >= opts.max_nonfinite_steps:
                    raise TrainingError(f"the loss was non-finite (NaN or inf) for {state.nonfinite} steps in a row "
                                        f"at kimg {state.nimg / 1000:.3f}; training diverged. Lower the learning "
                                        "rate or raise R1 gamma, and resume from the last checkpoint.")
            else:
                state.nonfinite = 0

            # Running averages: w_avg, path-length mean, G_ema, ADA's p.
            _update_w_avg(G, step_stats, d)
            state.pl_mean = _update_pl_mean(state.pl_mean, step_stats, opts.pl_decay, d)
            update_ema(G_ema, G, ema_beta(batch, opts.ema_kimg, state.nimg, opts.ema_rampup))
            state.nimg += batch
            state.data_pos += batch
            state.step += 1
            if ada is not None:
                _ada_step(ada, augment_pipe, step_stats, state, batch, d)
            _merge(tick_stats, step_stats)
            if bar is not None:
                bar.update(batch)
                bar.set_postfix(_bar_fields(step_stats, augment_pipe), refresh=False)

            # Tick, snapshot, signals.
            done = state.nimg >= total_nimg
            stopping = stop.is_set(d)
            if done or stopping or state.nimg >= state.tick_start_nimg + tick_kimg * 1000:
                state.tick += 1
                now = time.time()
                state.elapsed = now - start_time
                if d.is_main:
                    _report_tick(runlog, stats_writer, tick_stats, state, now - tick_start_time, sched,
                                 augment_pipe, batch)
                tick_stats = PhaseStats()
                state.tick_start_nimg, tick_start_time = state.nimg, now
                if done or stopping or state.tick % opts.snap == 0:
                    last_ckpt = _snapshot(run_dir, opts, cfg, G, D, G_ema, optimizers, augment_pipe, state,
                                          grid_z, grid_c, d, runlog)
                if stopping:
                    interrupted = True
                    if runlog:
                        runlog.write(f"stopped by a signal at kimg {state.nimg / 1000:.3f}; resume with "
                                     f"facegan train --resume {run_dir}")
                    break
    finally:
        stop.restore()
        if bar is not None:
            bar.close()
        if stats_writer is not None:
            stats_writer.close()
    if d.is_main and not interrupted:
        from facegan.networks import save_networks

        save_networks(run_dir / "network-final.safetensors", {"G": G, "D": D, "G_ema": G_ema}, cfg,
                      metadata={"kimg": f"{state.nimg / 1000:g}", "run": run_dir.name})
        write_progress_gif(run_dir)
        runlog.write(f"done: {state.nimg / 1000:.3f} kimg; network-final.safetensors written")
    return RunResult(run_dir, state.nimg, last_ckpt, interrupted)


# ----------------------------------------------------------------------------------------------
# One step.

def _run_phases(opts, phases, nets, optimizers, loss, ctx, real, real_c, dataset, state, d, bgpu, share,
                step_stats, device) -> bool:
    rounds = share // bgpu
    finite = True
    for phase_idx, phase in enumerate(phases):
        if state.step % phase.interval:
            continue
        net, opt = nets[phase.net], optimizers[phase.net]
        opt.zero_grad(set_to_none=True)
        for other in nets.values():
            other.requires_grad_(other is net)
        total = torch.zeros((), device=device)
        for r in range(rounds):
            chunk = d.rank * rounds + r
            seed_phase = 0 if opts.arch == "dcgan" else phase_idx  # DCGAN: G reuses D's latents (tutorial)
            torch.manual_seed(round_seed(opts.seed, state.step, seed_phase, chunk))
            gen_z = torch.randn([bgpu, nets["G"].z_dim], device=device)
            gen_c = None
            if real_c is not None:
                idx = torch.randint(len(dataset), (bgpu,)).tolist()
                gen_c = torch.from_numpy(np.stack([dataset.get_label(i) for i in idx])).to(device)
            torch.manual_seed(round_seed(opts.seed, state.step, phase_idx, chunk) + 1)
            sl = slice(r * bgpu, (r + 1) * bgpu)
            total = total + loss.accumulate(phase.name, real[sl], None if real_c is None else real_c[sl], gen_z,
                                            gen_c, phase.interval, ctx, step_stats)
        net.requires_grad_(False)
        params = [p for p in net.parameters()]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        dist.all_reduce_grads(params, d)
        ok = torch.tensor([float(torch.isfinite(total)) * float(all(torch.isfinite(p.grad).all() for p in params))],
                          device=device)
        dist.all_reduce_sum(ok, d)
        if float(ok) < d.world:
            finite = False
            continue  # skip this phase's update
        opt.step()
    for net in nets.values():
        net.requires_grad_(False)
    return finite


def _split_batch(batch: int, batch_gpu: int, world: int) -> tuple[int, int]:
    if batch % world:
        raise ConfigError(f"the batch ({batch}) must be divisible by the number of processes ({world})")
    share = batch // world
    bgpu = min(batch_gpu, share)
    if share % bgpu:
        raise ConfigError(f"the per-process batch ({share}) must be a multiple of --batch-gpu ({bgpu})")
    return share, bgpu


def _loader(dataset, stream, pos, batch, d, workers):
    sampler = RankBatchSampler(stream, pos, batch, d.rank, d.world)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                                       pin_memory=d.device.type == "cuda", persistent_workers=False,
                                       prefetch_factor=2 if workers else None)


def _fade_reals(x: torch.Tensor, lod: float) -> torch.Tensor:
    """The official process_reals fade: blend with the 2x2-box-down, nearest-up image by frac(lod)."""
    y = torch.nn.functional.avg_pool2d(x, 2)
    y = y.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    return torch.lerp(x, y, lod - math.floor(lod))


def _update_w_avg(G, stats: PhaseStats, d) -> None:
    beta = getattr(G.config, "w_avg_beta", None)
    if stats.w_sum is None or beta is None or not hasattr(G.mapping, "w_avg") or G.config.arch == "dcgan":
        return
    packed = torch.cat([stats.w_sum, torch.tensor([float(stats.w_count)], device=stats.w_sum.device)])
    dist.all_reduce_sum(packed, d)
    w_mean = packed[:-1] / packed[-1]
    with torch.no_grad():
        G.mapping.w_avg.copy_(w_mean.lerp(G.mapping.w_avg, beta))


def _update_pl_mean(pl_mean: float, stats: PhaseStats, decay: float, d) -> float:
    if not stats.counts.get("Loss/pl_length"):
        return pl_mean
    packed = torch.tensor([stats.sums["Loss/pl_length"], float(stats.counts["Loss/pl_length"])])
    dist.all_reduce_sum(packed, d)
    return pl_mean + decay * (float(packed[0] / packed[1]) - pl_mean)


def _merge(into: PhaseStats, other: PhaseStats) -> None:
    for k, v in other.sums.items():
        into.sums[k] = into.sums.get(k, 0.0) + v
        into.counts[k] = into.counts.get(k, 0) + other.counts[k]


# ----------------------------------------------------------------------------------------------
# Augmentation.

def _make_augment(opts: TrainingOptions, device):
    if opts.aug == "noaug":
        return None, None
    from facegan.training.augment import AdaController, AugmentPipe

    pipe = AugmentPipe.from_preset(opts.augpipe).train().requires_grad_(False).to(device)
    pipe.p.fill_(opts.aug_p)
    ada = AdaController(target=opts.ada_target, interval=opts.ada_interval, kimg=opts.ada_kimg) \
        if opts.aug == "ada" else None
    return pipe, ada


def _ada_step(ada, pipe, stats: PhaseStats, state: State, batch: int, d) -> None:
    packed = torch.tensor([stats.sums.get("Loss/signs/real", 0.0), float(stats.counts.get("Loss/signs/real", 0))])
    dist.all_reduce_sum(packed, d)
    state.ada_sign_sum += float(packed[0])
    state.ada_sign_count += int(packed[1])
    if state.step % ada.interval == 0 and state.ada_sign_count:
        new_p = ada.update(float(pipe.p), state.ada_sign_sum / state.ada_sign_count, batch)
        pipe.p.fill_(new_p)
        state.ada_sign_sum, state.ada_sign_count = 0.0, 0


# ----------------------------------------------------------------------------------------------
# Snapshots, checkpoints, resume.

def _prepare_run_dir(opts, resume_ckpt, d) -> Path:
    if resume_ckpt is not None:
        run_dir = resume_ckpt.networks.parent.parent
        if d.is_main:
            (run_dir / "options.json").write_text(opts.to_json())
        return run_dir
    if d.is_main:
        name = Path(opts.data).stem if Path(opts.data).suffix else Path(opts.data).name
        run_dir = next_run_dir(opts.outdir, run_description(name, opts.arch, opts.cfg, opts.description))
        (run_dir / "options.json").write_text(opts.to_json())
    else:
        run_dir = Path(opts.outdir)
    if d.world > 1:
        holder = [str(run_dir)]
        torch.distributed.broadcast_object_list(holder, src=0)
        run_dir = Path(holder[0])
    return run_dir


def _snapshot(run_dir, opts, cfg, G, D, G_ema, optimizers, augment_pipe, state, grid_z, grid_c, d, runlog):
    path = None
    if d.is_main:
        save_grid(run_dir / f"fakes{state.nimg // 1000:06d}.png", _render(G_ema, grid_z, grid_c))
        st = {"state": state.to_dict(), "opt_G": optimizers["G"].state_dict(), "opt_D": optimizers["D"].state_dict()}
        if augment_pipe is not None:
            st["augment_p"] = augment_pipe.p.detach().cpu().clone()
        paths = ckpt.save_checkpoint(run_dir, state.nimg, {"G": G, "D": D, "G_ema": G_ema}, cfg, st,
                                     keep=opts.keep_checkpoints, metadata={"run": run_dir.name})
        path = paths.networks
        runlog.write(f"snapshot: {paths.networks.name}")
        if opts.metrics:
            _run_metrics(opts, G_ema, run_dir, paths.networks, runlog)
    dist.barrier(d)
    return path


def _restore(paths, G, D, G_ema, optimizers, augment_pipe, device) -> State:
    nets, _, st = ckpt.load_checkpoint(paths, device)
    for name, net in (("G", G), ("D", D), ("G_ema", G_ema)):
        load_state_strict(net, nets[name].state_dict(), context=f"{paths.networks} [{name}]")
    optimizers["G"].load_state_dict(st["opt_G"])
    optimizers["D"].load_state_dict(st["opt_D"])
    if augment_pipe is not None and "augment_p" in st:
        augment_pipe.p.copy_(st["augment_p"])
    return State.from_dict(st["state"])


def _run_metrics(opts, G_ema, run_dir, network_path, runlog) -> None:
    from facegan.metrics import compute_metrics

    results = compute_metrics(G_ema, opts.data, list(opts.metrics), run_dir=run_dir, snapshot=network_path)
    for name, value in results.items():
        runlog.write(f"metric {name}: {value}")


# ----------------------------------------------------------------------------------------------
# Images and reporting.

@torch.no_grad()
def _render(G_ema, z, c) -> np.ndarray:
    out = []
    for i in range(0, len(z), 8):
        cb = None if c is None else c[i:i + 8]
        out.append(to_uint8(G_ema(z[i:i + 8], cb, noise_mode="const")))
    return np.concatenate(out)


def _grid_labels(dataset, n, seed, device):
    rng = np.random.RandomState(seed)
    return torch.from_numpy(np.stack([dataset.get_label(int(i)) for i in rng.randint(len(dataset), size=n)])).to(device)


def _save_reals(run_dir: Path, dataset) -> None:
    rng = np.random.RandomState(0)
    idx = rng.choice(len(dataset), size=min(36, len(dataset)), replace=False)
    images = np.stack([dataset[int(i)][0].transpose(1, 2, 0) for i in idx])
    save_grid(run_dir / "reals.png", images)


def _report_tick(runlog, writer, stats: PhaseStats, state: State, tick_sec: float, sched, augment_pipe, batch):
    kimg = state.nimg / 1000
    means = {k: stats.mean(k) for k in stats.sums}
    fields = {"Progress/tick": state.tick, "Progress/kimg": kimg, "Progress/batch": batch,
              "Timing/sec_per_tick": tick_sec, "Timing/total_sec": state.elapsed,
              "Timing/img_per_sec": (stats.counts.get("Loss/scores/real", 0) and
                                     (state.nimg - state.tick_start_nimg) / max(tick_sec, 1e-9)),
              "Progress/augment": float(augment_pipe.p) if augment_pipe is not None else 0.0, **means}
    if sched is not None:
        fields["Progress/lod"] = sched.lod
        fields["Progress/resolution"] = sched.resolution
    writer.write(fields, kimg)
    g, dl = means.get("Loss/G/loss"), means.get("Loss/D/loss_real")
    line = (f"tick {state.tick:<5d} kimg {kimg:<9.3f} time {state.elapsed:<8.1f}s sec/tick {tick_sec:<7.1f} "
            f"img/s {fields['Timing/img_per_sec']:<7.1f}" + (f" lod {sched.lod:<5.2f}" if sched else "") +
            (f" G {g:<7.4f}" if g is not None else "") + (f" D_real {dl:<7.4f}" if dl is not None else "") +
            (f" augment {fields['Progress/augment']:.3f}" if augment_pipe is not None else ""))
    runlog.write(line)


def _bar_fields(stats: PhaseStats, augment_pipe) -> dict[str, str]:
    out = {}
    for key, label in (("Loss/G/loss", "G"), ("Loss/D/loss_real", "D_real"), ("Loss/r1_penalty", "R1")):
        v = stats.mean(key)
        if v is not None:
            out[label] = f"{v:.3f}"
    if augment_pipe is not None:
        out["p"] = f"{float(augment_pipe.p):.3f}"
    return out


def _progress_bar(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="img", unit_scale=True, desc="train", dynamic_ncols=True)


class _SignalFlag:
    """SIGINT/SIGTERM ask training to write a checkpoint and stop after the current step."""

    def __init__(self):
        self.flag = False
        self.previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, frame):
        self.flag = True

    def is_set(self, d) -> bool:
        t = torch.tensor([float(self.flag)])
        dist.all_reduce_sum(t, d)
        return float(t) > 0

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
