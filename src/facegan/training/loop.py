"""The training loop: a `TrainingRun` set up, resumed, then stepped until the target number of images.

    result = train(resolve_options("faces.zip", arch="stylegan2", cfg="paper256"))

One step = one global minibatch, run through the run's phases (each a record: name, module,
optimiser, interval, as stylegan2-ada-pytorch's). The architecture's training traits (the
registry, facegan.networks.config) decide the phases: StyleGAN2 G main, G path-length every 4
steps, D main, D R1 every 16 (lazy regularisation); StyleGAN v1 D with R1, then G; DCGAN D, then G
on the same latents (keras-dcgan, the Keras face tutorial: on new ones). Each phase is accumulated
over rounds of `batch_gpu` samples per process, with gradients summed across processes; then the
optimiser steps, and G_ema, w_avg (and the layers' running averages), the path-length mean and ADA's
p are updated. A run may blur the images D sees (`blur_sigma`, fading out over `blur_fade_kimg`).
Every random draw of a round is seeded from (seed, step, phase, round), which makes runs
reproducible, independent of the number of processes, and resumable exactly from the step counter. A tick
prints and logs statistics; every `image_snap` ticks (default: `snap`) the control grid is drawn;
every `snap` ticks a checkpoint is written and the `on_snapshot` callback (the CLI's metrics) runs.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facegan.data import ImageDataset
from facegan.errors import ConfigError, TrainingError
from facegan.networks import build_discriminator, build_generator, load_state_strict, save_networks
from facegan.training import checkpoint as ckpt
from facegan.training import distributed as dist
from facegan.training.ema import ema_beta, update_ema, update_w_avg
from facegan.training.losses import GANLoss, LossContext, PhaseStats, blur_sigma_at
from facegan.training.optim import KerasRMSprop
from facegan.training.options import TrainingOptions
from facegan.training.progress import bar_fields, merge, progress_bar, report_tick
from facegan.training.resume import ResumePlan, resume_plan
from facegan.training.rundir import (
    RunLog,
    StatsWriter,
    control_latents,
    grid_labels,
    next_run_dir,
    render_grid,
    run_description,
    save_grid,
    save_reals,
    write_progress_gif,
)
from facegan.training.sampler import GlobalStream, RankBatchSampler
from facegan.training.schedule import ScheduleState, lod_changed, progressive_schedule
from facegan.utils.device import warn_if_bf16_is_emulated

# Called at each snapshot with (G_ema, run_dir, checkpoint file); returns results to log by name.
SnapshotCallback = Callable[[torch.nn.Module, Path, Path], "dict[str, float] | None"]


@dataclass
class RunResult:
    run_dir: Path
    nimg: int
    checkpoint: Path | None
    interrupted: bool = False


@dataclass
class Phase:
    """One phase of a step: stylegan2-ada-pytorch's record."""

    name: str                              # Gmain, Greg, Gboth, Dmain, Dreg, Dboth
    module: torch.nn.Module                # The network it trains.
    opt: torch.optim.Optimizer             # That network's optimiser.
    interval: int = 1                      # Runs every `interval` steps (lazy regularisation), gain = interval.
    index: int = 0                         # Position in the step (seeds its random draws).
    latent_index: int = 0                  # Whose latents it draws (DCGAN: G reuses D's).
    params: list = field(default_factory=list)  # The parameters it trains (Freeze-D leaves some out).


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
# Building blocks.

def make_optimizer(params, opts: TrainingOptions, lr: float, interval: int | None) -> torch.optim.Optimizer:
    """Adam, with the official correction for lazy regularisation: lr and betas scaled by N/(N+1).
    As NVIDIA's code, a net with a regularisation interval gets it even when its regulariser is
    off (a zero γ or PL weight): the interval, not the penalty, decides. Or Keras' RMSprop
    (optimizer 'rmsprop', the Keras face tutorial), which no architecture regularises lazily."""
    if opts.optimizer == "rmsprop":
        return KerasRMSprop(params, lr=lr, rho=opts.rho, eps=opts.eps, clipvalue=opts.clip_value,
                            decay=opts.lr_decay)
    ratio = interval / (interval + 1) if interval else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(opts.betas[0] ** ratio, opts.betas[1] ** ratio),
                            eps=opts.eps)


def make_phases(opts: TrainingOptions, loss: GANLoss, nets: dict, optimizers: dict, frozen: set) -> list[Phase]:
    """The phases of a step, in the architecture's order: a regularised net gets a main and a lazy
    regularisation phase where its architecture regularises lazily, else one phase doing both."""
    traits = opts.traits
    intervals = {"G": opts.g_reg_interval, "D": opts.d_reg_interval}
    phases: list[Phase] = []
    for net in traits.phase_order:
        params = [p for p in nets[net].parameters() if id(p) not in frozen]
        if not loss.regularises(net):
            kinds = [("main", 1)]
        elif traits.lazy_regularisation and intervals[net] is not None:
            kinds = [("main", 1), ("reg", intervals[net])]
        else:
            kinds = [("both", 1)]
        for kind, interval in kinds:
            index = len(phases)
            phases.append(Phase(f"{net}{kind}", nets[net], optimizers[net], interval, index,
                                0 if traits.shared_latents else index, params))
    return phases


def frozen_layers(D: torch.nn.Module, n: int) -> set[int]:
    """Freeze-D (Mo et al. 2020, stylegan2-ada-pytorch's --freezed): ids of the parameters of D's
    first `n` layers (modules holding parameters, in D's order, from the image inwards)."""
    layers = [m for m in D.modules() if any(True for _ in m.parameters(recurse=False))]
    if n >= len(layers):  # all frozen: D would have nothing to train (and its loss no gradient)
        raise ConfigError(f"--freezed {n}: the discriminator has only {len(layers)} layers, and at least one "
                          f"must stay trainable")
    return {id(p) for m in layers[:n] for p in m.parameters(recurse=False)}


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


def _split_batch(batch: int, batch_gpu: int, world: int) -> tuple[int, int]:
    if batch % world:
        raise ConfigError(f"the batch ({batch}) must be divisible by the number of processes ({world})")
    share = batch // world
    bgpu = min(batch_gpu, share)
    if share % bgpu:
        raise ConfigError(f"the per-process batch ({share}) must be a multiple of --batch-gpu ({bgpu})")
    return share, bgpu


def _fade_reals(x: torch.Tensor, lod: float) -> torch.Tensor:
    """The official process_reals fade: blend with the 2x2-box-down, nearest-up image by frac(lod)."""
    y = torch.nn.functional.avg_pool2d(x, 2)
    y = y.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    return torch.lerp(x, y, lod - math.floor(lod))


def _set_lod(net: torch.nn.Module, lod: float) -> None:
    """Progressive growing: every `lod` buffer of a network (its level of detail)."""
    for name, buf in net.named_buffers():
        if name.rsplit(".", 1)[-1] == "lod":
            buf.fill_(lod)


# ----------------------------------------------------------------------------------------------
# The run.

def train(opts: TrainingOptions, progress: bool = True, on_snapshot: SnapshotCallback | None = None) -> RunResult:
    dist_ctx = dist.setup(opts.device)
    try:
        run = TrainingRun(opts, dist_ctx, progress, on_snapshot)
        run.setup()
        return run.run()
    finally:
        dist.teardown()


class TrainingRun:
    """One training run: networks, optimisers, phases, EMA, schedule, data, counters."""

    def __init__(self, opts: TrainingOptions, dist_ctx: dist.Dist, progress: bool = True,
                 on_snapshot: SnapshotCallback | None = None):
        self.opts, self.dist, self.progress, self.on_snapshot = opts, dist_ctx, progress, on_snapshot
        self.device = dist_ctx.device
        self.traits = opts.traits
        self.net_config = opts.network_config
        self.plan: ResumePlan | None = resume_plan(opts.resume) if opts.resume else None
        self.state = State()
        self.sched: ScheduleState | None = None
        self.loader, self.loader_key = None, None
        self.run_dir: Path | None = None
        self.runlog: RunLog | None = None
        self.stats_writer: StatsWriter | None = None
        self.last_ckpt: Path | None = None

    # -- set-up -----------------------------------------------------------------------------------
    def setup(self) -> None:
        """Everything that can fail is checked before the run directory is made, so a failed start
        leaves no folder behind."""
        opts = self.opts
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = opts.allow_tf32
            torch.backends.cudnn.allow_tf32 = opts.allow_tf32
            torch.backends.cudnn.benchmark = True
        self.dataset = ImageDataset(opts.data, xflip=opts.mirror, use_labels=opts.cond, max_size=opts.max_images,
                                    random_seed=opts.seed, cache_bytes=1 << 30)
        self.stream = GlobalStream(len(self.dataset), opts.seed)
        for batch in self._batches():
            _split_batch(batch, opts.batch_gpu, self.dist.world)
        self._build_networks()
        if self.plan is not None and self.plan.continues:
            self.resume()
        for net in (self.G, self.D, self.G_ema):
            dist.broadcast_module(net, self.dist)
        self.grid_z = torch.from_numpy(control_latents(self.G.z_dim, opts.seed, opts.grid_z_std)).to(self.device)
        self.grid_c = grid_labels(self.dataset, len(self.grid_z), opts.seed, self.device) \
            if self.net_config.c_dim else None
        self._open_run_dir()

    def _batches(self) -> set[int]:
        """Every global batch the run will use (progressive growing: one per resolution)."""
        prog = self.opts.progressive
        if prog is None:
            return {self.opts.batch}
        first = int(math.log2(prog.initial_resolution))
        last = int(math.log2(self.net_config.resolution))
        return {prog.minibatch_dict.get(2 ** k, prog.minibatch_base) for k in range(min(first, last), last + 1)}

    def _build_networks(self) -> None:
        opts, net, ds = self.opts, self.net_config, self.dataset
        if net.resolution != ds.stored_resolution or net.img_channels != ds.num_channels:
            raise ConfigError(f"the network is {net.resolution}x{net.resolution}x{net.img_channels}, the dataset "
                              f"{ds.stored_resolution}x{ds.stored_resolution}x{ds.num_channels}")
        torch.manual_seed(opts.seed)
        self.G = build_generator(net).train().to(self.device)
        self.D = build_discriminator(net).train().to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        if self.plan is not None and not self.plan.continues:
            load_initial_networks(self.plan.source, self.G, self.D, self.G_ema)
        lazy = self.traits.lazy_regularisation
        self.optimizers = {
            "G": make_optimizer(self.G.parameters(), opts, opts.lr_g, opts.g_reg_interval if lazy else None),
            "D": make_optimizer(self.D.parameters(), opts, opts.lr_d, opts.d_reg_interval if lazy else None)}
        self.augment_pipe, self.ada = self._make_augment()
        autocast = torch.bfloat16 if opts.precision == "bf16" else None
        warn_if_bf16_is_emulated(opts.precision, self.device)
        self.loss = GANLoss(self.G, self.D, opts.loss, self.augment_pipe, opts.r1_gamma, opts.style_mixing_prob,
                            opts.pl_weight, opts.pl_batch_shrink, opts.wgan_lambda, opts.wgan_epsilon,
                            opts.wgan_target, autocast, resolution=net.resolution, label_flip=opts.label_flip,
                            label_noise=opts.label_noise, averages_phase=self.traits.averages_phase)
        frozen = frozen_layers(self.D, opts.freezed) if opts.freezed else set()
        self.phases = make_phases(opts, self.loss, {"G": self.G, "D": self.D}, self.optimizers, frozen)

    def _make_augment(self):
        opts = self.opts
        if opts.aug == "noaug":
            return None, None
        from facegan.training.augment import AdaController, AugmentPipe

        pipe = AugmentPipe.from_preset(opts.augpipe).train().requires_grad_(False).to(self.device)
        pipe.p.fill_(opts.aug_p)
        ada = AdaController(target=opts.ada_target, interval=opts.ada_interval, kimg=opts.ada_kimg) \
            if opts.aug == "ada" else None
        return pipe, ada

    def resume(self) -> None:
        """Continue exactly: weights, optimisers, ADA p and the counters of the plan's checkpoint."""
        paths = self.plan.checkpoint
        nets, _, st = ckpt.load_checkpoint(paths, self.device)
        for name, net in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            load_state_strict(net, nets[name].state_dict(), context=f"{paths.networks} [{name}]")
        self.optimizers["G"].load_state_dict(st["opt_G"])
        self.optimizers["D"].load_state_dict(st["opt_D"])
        if self.augment_pipe is not None and "augment_p" in st:
            self.augment_pipe.p.copy_(st["augment_p"])
        self.state = State.from_dict(st["state"])
        self.last_ckpt = paths.networks

    def _open_run_dir(self) -> None:
        opts, ctx = self.opts, self.dist
        continuing = self.plan is not None and self.plan.continues
        if continuing:
            run_dir = self.plan.run_dir
        elif ctx.is_main:
            name = Path(opts.data).stem if Path(opts.data).suffix else Path(opts.data).name
            run_dir = next_run_dir(opts.outdir, run_description(name, opts.arch, opts.cfg, opts.description))
        else:
            run_dir = Path(opts.outdir)
        if ctx.world > 1 and not continuing:
            holder = [str(run_dir)]
            torch.distributed.broadcast_object_list(holder, src=0)
            run_dir = Path(holder[0])
        self.run_dir = run_dir
        if not ctx.is_main:
            return
        try:
            (run_dir / "options.json").write_text(opts.to_json())
            self.runlog, self.stats_writer = RunLog(run_dir), StatsWriter(run_dir)
            if continuing:
                self.runlog.write(f"resumed from {self.plan.checkpoint.networks.name} at kimg "
                                  f"{self.state.nimg / 1000:.3f}")
            else:
                save_reals(run_dir, self.dataset)
                save_grid(run_dir / "fakes_init.png", render_grid(self.G_ema, self.grid_z, self.grid_c))
        except BaseException:
            if not continuing:  # a failed start leaves no run folder
                shutil.rmtree(run_dir, ignore_errors=True)
            raise

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> RunResult:
        total_nimg = int(self.opts.kimg * 1000)
        stop = dist.StopFlag()
        self.tick_stats = PhaseStats()
        self.tick_start_time = time.time()
        self.start_time = time.time() - self.state.elapsed
        bar = progress_bar(self.progress and self.dist.is_main, total_nimg, self.state.nimg)
        interrupted = False
        try:
            while self.state.nimg < total_nimg:
                step_stats = self.step()
                merge(self.tick_stats, step_stats)
                if bar is not None:
                    bar.update(self.batch)
                    bar.set_postfix(bar_fields(step_stats, self.augment_pipe), refresh=False)
                done = self.state.nimg >= total_nimg
                stopping = stop.is_set(self.dist)
                if done or stopping or self.state.nimg >= self.state.tick_start_nimg + self.tick_kimg * 1000:
                    self.tick()
                    image_snap = self.opts.image_snap or self.opts.snap
                    if done or stopping or self.state.tick % image_snap == 0:
                        self.save_control_grid()
                    if done or stopping or self.state.tick % self.opts.snap == 0:
                        self.snapshot()
                    if stopping:
                        interrupted = True
                        self._log(f"stopped by a signal at kimg {self.state.nimg / 1000:.3f}; resume with "
                                  f"facegan train --resume {self.run_dir}")
                        break
        finally:
            stop.restore()
            if bar is not None:
                bar.close()
            if self.stats_writer is not None:
                self.stats_writer.close()
        if not interrupted:
            self.finish()
        return RunResult(self.run_dir, self.state.nimg, self.last_ckpt, interrupted)

    def step(self) -> PhaseStats:
        """One global minibatch through every phase due, then the running averages."""
        resolution, self.batch, self.tick_kimg = self._schedule()
        real, real_c = self._next_reals(resolution, self.batch)
        progressive = self.traits.progressive
        ctx = LossContext(global_batch=self.batch, pl_mean=self.state.pl_mean,
                          synthesis_kwargs={"max_resolution": resolution} if progressive else {},
                          active_ws=(2 * int(math.log2(resolution)) - 2) if progressive else None,
                          blur_sigma=blur_sigma_at(self.state.nimg, self.opts.blur_sigma, self.opts.blur_fade_kimg))
        stats = PhaseStats()
        share, bgpu = _split_batch(self.batch, self.opts.batch_gpu, self.dist.world)
        finite = True
        for phase in self.phases:
            if self.state.step % phase.interval == 0:
                finite &= self._run_phase(phase, real, real_c, ctx, share, bgpu, stats)
        for net in (self.G, self.D):
            net.requires_grad_(False)
        self._count_nonfinite(finite)
        self._update_averages(stats)
        return stats

    def _schedule(self) -> tuple[int, int, float]:
        """(resolution, global batch, tick length) of this step; progressive growing re-evaluates
        its schedule every minibatch_repeats steps."""
        opts, state, prog = self.opts, self.state, self.opts.progressive
        if prog is None:
            return self.net_config.resolution, opts.batch, opts.tick_kimg
        if self.sched is None or state.step % prog.minibatch_repeats == 0:
            self.sched = progressive_schedule(state.nimg, self.net_config.resolution, prog, opts.tick_kimg)
            if prog.reset_optimizer_on_lod_change and state.prev_lod is not None and \
                    lod_changed(state.prev_lod, self.sched.lod):
                for o in self.optimizers.values():
                    o.state.clear()
            state.prev_lod = self.sched.lod
            for o in self.optimizers.values():
                for group in o.param_groups:
                    group["lr"] = self.sched.lr
            for net in (self.G, self.D):
                _set_lod(net, self.sched.lod)
        return self.sched.resolution, self.sched.minibatch, self.sched.tick_kimg

    def _next_reals(self, resolution: int, batch: int):
        """This step's reals in [-1, 1] (faded during a progressive transition) and labels; the
        loader is rebuilt when the resolution or the batch changes."""
        if self.loader_key != (resolution, batch):
            self.dataset.set_resolution(resolution)
            sampler = RankBatchSampler(self.stream, self.state.data_pos, batch, self.dist.rank, self.dist.world)
            workers = self.opts.workers
            self.loader = iter(torch.utils.data.DataLoader(
                self.dataset, batch_sampler=sampler, num_workers=workers, pin_memory=self.device.type == "cuda",
                persistent_workers=False, prefetch_factor=2 if workers else None))
            self.loader_key = (resolution, batch)
        real, real_c = next(self.loader)
        real = real.to(self.device, torch.float32).div_(127.5).sub_(1)
        if self.sched is not None and self.sched.lod % 1:
            real = _fade_reals(real, self.sched.lod)
        return real, (real_c.to(self.device) if self.net_config.c_dim else None)

    def _run_phase(self, phase: Phase, real, real_c, ctx: LossContext, share: int, bgpu: int,
                   stats: PhaseStats) -> bool:
        """Accumulate the phase over this process's rounds, sum gradients across processes, step
        its optimiser; False (and no step) when the loss or a gradient is not finite."""
        rounds = share // bgpu
        phase.opt.zero_grad(set_to_none=True)
        for net in (self.G, self.D):
            net.requires_grad_(net is phase.module)
        trainable = {id(p) for p in phase.params}
        for p in phase.module.parameters():
            p.requires_grad_(id(p) in trainable)
        total = torch.zeros((), device=self.device)
        for r in range(rounds):
            chunk = self.dist.rank * rounds + r
            sl = slice(r * bgpu, (r + 1) * bgpu)
            gen_z, gen_c = self._latents(phase, chunk, bgpu, None if real_c is None else real_c[sl])
            torch.manual_seed(round_seed(self.opts.seed, self.state.step, phase.index, chunk) + 1)
            total = total + self.loss.accumulate(phase.name, real[sl], None if real_c is None else real_c[sl],
                                                 gen_z, gen_c, phase.interval, ctx, stats)
        phase.module.requires_grad_(False)
        if self.traits.steps_unreached_params:
            for p in phase.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
        reached = [p for p in phase.params if p.grad is not None]  # the others: no optimiser step (Adam skips them)
        dist.all_reduce_grads(reached, self.dist)
        ok = torch.tensor([float(torch.isfinite(total)) *
                           float(all(torch.isfinite(p.grad).all() for p in reached))], device=self.device)
        dist.all_reduce_sum(ok, self.dist)
        if float(ok) < self.dist.world:
            return False  # skip this phase's update
        phase.opt.step()
        return True

    def _latents(self, phase: Phase, chunk: int, bgpu: int, real_c):
        """A round's latents and labels, seeded from (seed, step, phase, round). D's fakes take the
        reals' labels where the architecture says so (v1 TF), else labels drawn from the dataset."""
        torch.manual_seed(round_seed(self.opts.seed, self.state.step, phase.latent_index, chunk))
        gen_z = torch.randn([bgpu, self.G.z_dim], device=self.device)
        if real_c is None:
            return gen_z, None
        if phase.module is self.D and self.traits.fakes_use_real_labels:
            return gen_z, real_c
        idx = torch.randint(len(self.dataset), (bgpu,)).tolist()
        return gen_z, torch.from_numpy(np.stack([self.dataset.get_label(i) for i in idx])).to(self.device)

    def _count_nonfinite(self, finite: bool) -> None:
        state = self.state
        if finite:
            state.nonfinite = 0
            return
        state.nonfinite += 1
        self._log(f"non-finite loss at kimg {state.nimg / 1000:.3f}: step skipped ({state.nonfinite} in a row)")
        if state.nonfinite >= self.opts.max_nonfinite_steps:
            raise TrainingError(f"the loss was non-finite (NaN or inf) for {state.nonfinite} steps in a row "
                                f"at kimg {state.nimg / 1000:.3f}; training diverged. Lower the learning "
                                "rate or raise R1 gamma, and resume from the last checkpoint.")

    def _update_averages(self, stats: PhaseStats) -> None:
        """w_avg and the layers' running averages, the path-length mean, G_ema, the counters and
        ADA's p, after a step."""
        opts, state, batch = self.opts, self.state, self.batch
        if self.traits.tracks_w_avg:
            update_w_avg(self.G, stats.w_sum, stats.w_count, self.dist)
        stats.averages.apply(lambda packed: dist.all_reduce_sum(packed, self.dist))
        if stats.counts.get("Loss/pl_length"):
            packed = torch.tensor([stats.sums["Loss/pl_length"], float(stats.counts["Loss/pl_length"])])
            dist.all_reduce_sum(packed, self.dist)
            state.pl_mean = state.pl_mean + opts.pl_decay * (float(packed[0] / packed[1]) - state.pl_mean)
        update_ema(self.G_ema, self.G, ema_beta(batch, opts.ema_kimg, state.nimg, opts.ema_rampup))
        state.nimg += batch
        state.data_pos += batch
        state.step += 1
        if self.ada is not None:
            packed = torch.tensor([stats.sums.get("Loss/signs/real", 0.0),
                                   float(stats.counts.get("Loss/signs/real", 0))])
            dist.all_reduce_sum(packed, self.dist)
            state.ada_sign_sum += float(packed[0])
            state.ada_sign_count += int(packed[1])
            if state.step % self.ada.interval == 0 and state.ada_sign_count:
                new_p = self.ada.update(float(self.augment_pipe.p), state.ada_sign_sum / state.ada_sign_count, batch)
                self.augment_pipe.p.fill_(new_p)
                state.ada_sign_sum, state.ada_sign_count = 0.0, 0

    # -- ticks, snapshots, the end ----------------------------------------------------------------
    def tick(self) -> None:
        state = self.state
        state.tick += 1
        now = time.time()
        state.elapsed = now - self.start_time
        if self.dist.is_main:
            report_tick(self.runlog, self.stats_writer, self.tick_stats, state, now - self.tick_start_time,
                        self.sched, self.augment_pipe, self.batch)
        self.tick_stats = PhaseStats()
        state.tick_start_nimg, self.tick_start_time = state.nimg, now

    def save_control_grid(self) -> None:
        """fakesNNNNNN.png (kimg); with a grid cadence finer than the snapshots' (image_snap), a
        grid between whole kimg is fakesNNNNNN_MMM.png (MMM images more), which sorts in order."""
        if not self.dist.is_main:
            return
        kimg, rest = divmod(self.state.nimg, 1000)
        name = f"fakes{kimg:06d}_{rest:03d}.png" if rest and self.opts.image_snap else f"fakes{kimg:06d}.png"
        save_grid(self.run_dir / name, render_grid(self.G_ema, self.grid_z, self.grid_c))

    def snapshot(self) -> None:
        """A checkpoint, then the on_snapshot callback (metrics); the control grid is saved first."""
        state, run_dir = self.state, self.run_dir
        if self.dist.is_main:
            st = {"state": state.to_dict(), "opt_G": self.optimizers["G"].state_dict(),
                  "opt_D": self.optimizers["D"].state_dict()}
            if self.augment_pipe is not None:
                st["augment_p"] = self.augment_pipe.p.detach().cpu().clone()
            paths = ckpt.save_checkpoint(run_dir, state.nimg, {"G": self.G, "D": self.D, "G_ema": self.G_ema},
                                         self.net_config, st, keep=self.opts.keep_checkpoints,
                                         metadata={"run": run_dir.name})
            self.last_ckpt = paths.networks
            self.runlog.write(f"snapshot: {paths.networks.name}")
            if self.on_snapshot is not None:
                for name, value in (self.on_snapshot(self.G_ema, run_dir, paths.networks) or {}).items():
                    self.runlog.write(f"metric {name}: {value}")
        dist.barrier(self.dist)

    def finish(self) -> None:
        if not self.dist.is_main:
            return
        save_networks(self.run_dir / "network-final.safetensors", {"G": self.G, "D": self.D, "G_ema": self.G_ema},
                      self.net_config, metadata={"kimg": f"{self.state.nimg / 1000:g}", "run": self.run_dir.name})
        write_progress_gif(self.run_dir)
        self.runlog.write(f"done: {self.state.nimg / 1000:.3f} kimg; network-final.safetensors written")

    def _log(self, line: str) -> None:
        if self.runlog is not None:
            self.runlog.write(line)
