"""StyleGAN3 against NVIDIA's own code (NVlabs/stylegan3, run as a peer from a checkout outside this
repo): the same official-format pickle drawn by both, the cost of a 1024² image, and training steps
(the same steps, compared; and their speed).

The official code builds the -T or -R networks as its train.py configures them (its own
constructors, seeded random weights, made non-trivial: random input affine, biases, w_avg and
per-layer magnitude EMAs set from the layer inputs) and pickles them as its training loop saves a
snapshot ({'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}, pickle.dump). facegan reads
that file with its restricted unpickler (facegan.load). Both then draw images as gen_images.py
does: z = RandomState(seed).randn(1, z_dim), psi, noise_mode const, --translate/--rotate through
make_transform and its inverse copied into G.synthesis.input.transform, (img*127.5+128).clamp(0,255)
as uint8.

    # every case: -T and -R, seeds, psi 1 and 0.5, with and without translate/rotate; plus the CLIs
    PYTHONPATH=src python benchmarks/stylegan3_peer.py check --peer /path/to/stylegan3
    # a 1024² StyleGAN3-T image, batch 1: seconds and peak memory, each side in its own process
    PYTHONPATH=src python benchmarks/stylegan3_peer.py bench --peer /path/to/stylegan3 --rounds 2
    # images/s of a 64² training step (batch 4): facegan's TrainingRun.step against NVIDIA's loss
    PYTHONPATH=src python benchmarks/stylegan3_peer.py train --peer /path/to/stylegan3 --rounds 3 --steps 1

`check` prints the largest grey-level difference of every case (and of the CLI files: NVIDIA's
gen_images.py against `facegan generate`); `bench` prints seconds per image and peak resident
memory of each side (median over rounds that alternate the sides), their ratios, and the MACs;
`train` prints images/s of each side and the median of the per-round speed ratios. The exactness
of training steps (`compare_training`: NVIDIA's StyleGAN2Loss driven as its training_loop.py drives
it, against TrainingRun.step, on the same snapshot, reals and latents) is run by
tests/test_stylegan3_peer.py.

The peer runs unmodified. Only its environment is adapted, in this process: `pkg_resources`
(gone from recent setuptools; the peer uses only its parse_version) and `requests` (only its URL
downloader needs it) are stubbed when missing, and gen_images.py, which hard-codes
torch.device('cuda'), is run with that one string replaced by 'cpu'. On the CPU the peer's custom
ops take their reference paths by themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

BENCH_DIR = Path(__file__).resolve().parent

# The networks of `check` and `train`: the official layer schedule (14 layers, 2 critical), fewer channels.
CHECK_NETWORK = dict(z_dim=64, w_dim=64, cbase=2048, cmax=64)

# The cases of `check`: (translate, rotate) as gen_images.py's flags.
TRANSFORMS = (((0.0, 0.0), 0.0), ((0.3, -0.15), 0.0), ((0.0, 0.0), 25.0), ((-0.2, 0.1), -40.0))


# ----------------------------------------------------------------------------------------------
# The peer.

class PeerError(Exception):
    """The peer checkout is not one this script can run."""


def import_peer(path: str | os.PathLike) -> types.SimpleNamespace:
    """NVlabs/stylegan3's modules from a checkout, with the environment stubs it needs here."""
    path = str(Path(path).resolve())
    if not (Path(path) / "training" / "networks_stylegan3.py").is_file():
        raise PeerError(f"{path} is not a checkout of NVlabs/stylegan3 (no training/networks_stylegan3.py)")
    stubs = []
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)  # type: ignore[assignment]
        stubs.append("pkg_resources")
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
        stubs.append("requests")
    if path not in sys.path:
        sys.path.insert(0, path)
    try:  # every peer module a snapshot needs, now, so that the stubs can go again
        import dnnlib  # noqa: PLC0415 (the peer, at run time)
        import gen_images  # noqa: PLC0415
        import legacy  # noqa: PLC0415
        import training.augment  # noqa: F401, PLC0415
        import training.loss  # noqa: F401, PLC0415
        import training.networks_stylegan2  # noqa: F401, PLC0415
        import training.networks_stylegan3  # noqa: F401, PLC0415
    finally:
        for name in stubs:  # the peer's modules keep what they took; nothing else sees the stubs
            del sys.modules[name]
    from torch_utils import training_stats  # noqa: PLC0415

    return types.SimpleNamespace(path=path, dnnlib=dnnlib, legacy=legacy, gen_images=gen_images, loss=training.loss,
                                 training_stats=training_stats)


def official_kwargs(peer, cfg: str, resolution: int, *, z_dim: int = 512, w_dim: int = 512, cbase: int = 32768,
                    cmax: int = 512, batch: int = 32, synthesis_layers: int | None = None,
                    magnitude_ema_beta: float | None = None):
    """G_kwargs, D_kwargs and augment_kwargs as the peer's train.py builds them for --cfg, --cbase,
    --cmax, --batch (plus the image shape the training loop adds); `magnitude_ema_beta` replaces
    train.py's 0.5 ** (batch / 20000) (a faster EMA makes a wrong EMA step visible in a few steps)."""
    E = peer.dnnlib.EasyDict
    if magnitude_ema_beta is None:
        magnitude_ema_beta = 0.5 ** (batch / (20 * 1e3))
    G = E(class_name="training.networks_stylegan3.Generator", z_dim=z_dim, w_dim=w_dim, mapping_kwargs=E(num_layers=2),
          channel_base=cbase, channel_max=cmax, magnitude_ema_beta=magnitude_ema_beta)
    if cfg == "stylegan3-r":
        G.update(conv_kernel=1, channel_base=cbase * 2, channel_max=cmax * 2, use_radial_filters=True)
    if synthesis_layers is not None:
        G.num_layers = synthesis_layers
    D = E(class_name="training.networks_stylegan2.Discriminator", block_kwargs=E(freeze_layers=0),
          mapping_kwargs=E(), epilogue_kwargs=E(mbstd_group_size=4), channel_base=cbase, channel_max=cmax)
    augment = E(class_name="training.augment.AugmentPipe", xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1,
                xfrac=1, brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
    common = dict(c_dim=0, img_resolution=resolution, img_channels=3)
    return {**G, **common}, {**D, **common}, augment


@torch.no_grad()
def make_nontrivial(G, seed: int) -> None:
    """Give an official generator the buffers of a trained one, in place: a random input affine (so
    that w rotates and translates the Fourier features), random biases and style biases, a random
    w_avg, each layer's magnitude EMA near the mean square of its input (times 0.5-2), and a ToRGB
    gain that spreads the image over the grey range (past it at the extremes, to exercise the clamp)."""
    gen = torch.Generator().manual_seed(seed)
    synthesis = G.synthesis

    def rand(shape, scale):
        return torch.randn(shape, generator=gen) * scale

    synthesis.input.affine.weight.copy_(rand(synthesis.input.affine.weight.shape, 0.3))
    synthesis.input.affine.bias.copy_(torch.tensor([1.0, 0.3, 0.05, -0.04]))
    G.mapping.w_avg.copy_(rand(G.mapping.w_avg.shape, 0.3))
    ws = G.mapping(rand([4, G.z_dim], 1), None)
    x = synthesis.input(ws[:, 0])
    for i, name in enumerate(synthesis.layer_names):
        layer = getattr(synthesis, name)
        layer.bias.copy_(rand(layer.bias.shape, 0.1))
        layer.affine.bias.add_(rand(layer.affine.bias.shape, 0.2))
        layer.magnitude_ema.fill_(float(x.square().mean()) * 2 ** float(torch.rand([], generator=gen) * 2 - 1))
        x = layer(x, ws[:, i + 1])
    torgb = getattr(synthesis, synthesis.layer_names[-1])
    torgb.weight.mul_(0.5 / max(float((x * synthesis.output_scale).std()), 1e-8))


def official_snapshot(peer, cfg: str, resolution: int, seed: int = 0, nontrivial: bool = True, **kwargs) -> dict:
    """A snapshot dict as the peer's training loop saves it, with the peer's own networks."""
    G_kwargs, D_kwargs, augment_kwargs = official_kwargs(peer, cfg, resolution, **kwargs)
    construct = peer.dnnlib.util.construct_class_by_name
    torch.manual_seed(seed)
    G = construct(**G_kwargs).train().requires_grad_(False)
    D = construct(**D_kwargs).train().requires_grad_(False)
    if nontrivial:
        make_nontrivial(G, seed)
    G_ema = copy.deepcopy(G).eval()
    augment_pipe = construct(**augment_kwargs).train().requires_grad_(False)
    augment_pipe.p.copy_(torch.as_tensor(0.25))
    data = dict(G=G, D=D, G_ema=G_ema, augment_pipe=augment_pipe,
                training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="faces.zip",
                                         use_labels=False, max_size=None, xflip=False, resolution=resolution))
    for key, value in data.items():
        if isinstance(value, torch.nn.Module):
            data[key] = copy.deepcopy(value).eval().requires_grad_(False).cpu()
    return data


def write_official_snapshot(peer, path: str | os.PathLike, cfg: str, resolution: int, **kwargs) -> Path:
    with open(path, "wb") as f:
        pickle.dump(official_snapshot(peer, cfg, resolution, **kwargs), f)
    return Path(path)


def load_official(peer, path: str | os.PathLike):
    """G_ema as gen_images.py loads it (legacy.load_network_pkl), on the CPU."""
    with peer.dnnlib.util.open_url(str(path)) as f:
        return peer.legacy.load_network_pkl(f)["G_ema"]


# ----------------------------------------------------------------------------------------------
# Drawing, both sides.

@torch.no_grad()
def official_image(peer, G, seed: int, psi: float = 1.0, translate=(0.0, 0.0), rotate: float = 0.0) -> np.ndarray:
    """One image [H, W, 3] uint8 as gen_images.py draws it (on the CPU), with its own make_transform."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim))
    label = torch.zeros([1, G.c_dim])
    if hasattr(G.synthesis, "input"):
        m = peer.gen_images.make_transform(translate, rotate)
        G.synthesis.input.transform.copy_(torch.from_numpy(np.linalg.inv(m)))
    img = G(z, label, truncation_psi=psi, noise_mode="const")
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].numpy()


def our_image(G, seed: int, psi: float = 1.0, translate=(0.0, 0.0), rotate: float = 0.0) -> np.ndarray:
    """One image [H, W, 3] uint8 through facegan's API: set_transform, then G.run."""
    from facegan.generation.latents import seed_to_z
    from facegan.networks.stylegan3 import set_transform

    set_transform(G, translate, rotate)
    return G.run(seed_to_z(seed, G.z_dim), truncation_psi=psi)[0]


def grey_levels(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"max": int(d.max()), "mean": round(float(d.mean()), 4), "fraction_over_0": round(float((d > 0).mean()), 5)}


def compare(peer, pkl: str | os.PathLike, seeds=(0, 1, 2), psis=(1.0, 0.5), transforms=TRANSFORMS) -> list[dict]:
    """Every (seed, psi, transform) drawn by the peer's G_ema and by facegan.load(pkl)."""
    import facegan

    theirs, ours = load_official(peer, pkl), facegan.load(pkl)
    rows = []
    for translate, rotate in transforms:
        for psi in psis:
            for seed in seeds:
                a = official_image(peer, theirs, seed, psi, translate, rotate)
                b = our_image(ours, seed, psi, translate, rotate)
                assert a.shape == b.shape, (a.shape, b.shape)
                rows.append({"seed": seed, "psi": psi, "translate": list(translate), "rotate": rotate,
                             "grey_std": round(float(a.std()), 1), **grey_levels(a, b)})
    return rows


def run_gen_images(peer_path: str | os.PathLike, argv: list[str]) -> None:
    """NVIDIA's gen_images.py with `argv`, on the CPU (its torch.device('cuda') read as 'cpu'); the
    peer must have been imported (import_peer) in this process."""
    script = Path(peer_path) / "gen_images.py"
    source = script.read_text()
    if source.count("torch.device('cuda')") != 1:
        raise PeerError(f"{script}: not the gen_images.py this script knows how to run on the CPU")
    code = compile(source.replace("torch.device('cuda')", "torch.device('cpu')"), str(script), "exec")
    old_argv = sys.argv
    sys.argv = [str(script), *argv]
    try:
        with contextlib.redirect_stdout(sys.stderr):  # its progress lines; our stdout is the JSON
            exec(code, {"__name__": "__main__", "__file__": str(script)})
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        sys.argv = old_argv


def compare_cli(peer, pkl: str | os.PathLike, workdir: str | os.PathLike, seeds=(0, 1), psi: float = 0.5,
                translate=(0.3, -0.15), rotate: float = 25.0) -> dict:
    """gen_images.py's PNG files against `facegan generate`'s for the same flags."""
    import PIL.Image

    workdir = Path(workdir)
    flags = [f"--seeds={','.join(map(str, seeds))}", f"--trunc={psi}", f"--translate={translate[0]},{translate[1]}",
             f"--rotate={rotate}"]
    run_gen_images(peer.path, [f"--network={pkl}", f"--outdir={workdir / 'official'}", *flags])
    import facegan

    src = str(Path(facegan.__file__).resolve().parents[1])  # this facegan, not an installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "facegan", "generate", "--network", str(pkl), *flags, "--no-latents",
                    "--outdir", str(workdir / "facegan")], check=True, env=env, capture_output=True)
    worst = {}
    for seed in seeds:
        name = f"seed{seed:04d}.png"
        a, b = (np.asarray(PIL.Image.open(workdir / side / name)) for side in ("official", "facegan"))
        worst[name] = grey_levels(a, b)
    return {"flags": " ".join(flags), "files": worst, "max": max(w["max"] for w in worst.values())}


def check(peer, cfgs, resolution: int, seeds, workdir: Path, **kwargs) -> dict:
    out = {}
    for cfg in cfgs:
        pkl = write_official_snapshot(peer, workdir / f"{cfg}-{resolution}.pkl", cfg, resolution, **kwargs)
        rows = compare(peer, pkl, seeds)
        out[cfg] = {"resolution": resolution, "cases": len(rows), "max_grey_levels": max(r["max"] for r in rows),
                    "rows": rows}
        print(json.dumps({cfg: {k: v for k, v in out[cfg].items() if k != "rows"}}), file=sys.stderr)
    cfg = cfgs[0]
    out["cli"] = {"cfg": cfg, **compare_cli(peer, workdir / f"{cfg}-{resolution}.pkl", workdir / "cli")}
    return out


# ----------------------------------------------------------------------------------------------
# Training, both sides: the same snapshot, the same reals and latents, the same steps.

def noise_archive(path: str | os.PathLike, resolution: int, count: int = 8) -> str:
    """A dataset of random RGB images (what the reals are does not matter here, only that both sides
    get the same)."""
    from facegan.data import ArchiveWriter

    rng = np.random.RandomState(0)
    with ArchiveWriter(path) as w:
        for _ in range(count):
            w.add(rng.randint(0, 256, size=(resolution, resolution, 3), dtype=np.uint8))
    return str(path)


class OfficialTraining:
    """NVIDIA's training step on the CPU: its StyleGAN2Loss (stylegan3's training/loss.py) with
    train.py's StyleGAN3 settings (no style mixing, pl_weight 0, R1 `r1_gamma`, the D-input blur),
    driven as its training_loop.py drives it: the phases Gboth (G has no regularisation interval),
    Dmain and Dreg every `d_reg_interval` steps with the lazy-regularisation lr/beta correction,
    Adam, nan_to_num on the gradients, then G_ema (ramp-up, buffers copied) and cur_nimg. One
    process, batch_gpu = batch. No augmentation. The latents of each phase are given (`step`)."""

    def __init__(self, peer, snapshot: dict, *, batch: int, r1_gamma: float, blur_init_sigma: float = 0.0,
                 blur_fade_kimg: float = 0.0, lr_g: float = 0.0025, lr_d: float = 0.002, d_reg_interval: int = 16,
                 ema_kimg: float | None = None, ema_rampup: float | None = 0.05):
        self.G = copy.deepcopy(snapshot["G"]).train().requires_grad_(False)
        self.D = copy.deepcopy(snapshot["D"]).train().requires_grad_(False)
        self.G_ema = copy.deepcopy(snapshot["G_ema"]).eval().requires_grad_(False)
        self.loss = peer.loss.StyleGAN2Loss(torch.device("cpu"), self.G, self.D, augment_pipe=None, r1_gamma=r1_gamma,
                                            style_mixing_prob=0, pl_weight=0, blur_init_sigma=blur_init_sigma,
                                            blur_fade_kimg=blur_fade_kimg)
        self.phases = []
        for name, module, lr, interval in (("G", self.G, lr_g, None), ("D", self.D, lr_d, d_reg_interval)):
            ratio = 1 if interval is None else interval / (interval + 1)
            opt = torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=[b ** ratio for b in (0.0, 0.99)],
                                   eps=1e-8)
            if interval is None:
                self.phases.append((name + "both", module, opt, 1))
            else:
                self.phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
        self.batch, self.ema_rampup = batch, ema_rampup
        self.ema_kimg = batch * 10 / 32 if ema_kimg is None else ema_kimg
        self.cur_nimg = self.batch_idx = 0
        self.stats = peer.training_stats.Collector(regex="Loss/.*", keep_previous=False)

    def step(self, real: torch.Tensor, gen_z: dict[str, torch.Tensor]) -> dict[str, float]:
        """One training step; `gen_z[phase]` is each phase's latents. Returns the losses reported."""
        c = torch.zeros([real.shape[0], 0])
        for name, module, opt, interval in self.phases:
            if self.batch_idx % interval:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            self.loss.accumulate_gradients(phase=name, real_img=real, real_c=c, gen_z=gen_z[name], gen_c=c,
                                           gain=interval, cur_nimg=self.cur_nimg)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        ema_nimg = self.ema_kimg * 1000
        if self.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * self.ema_rampup)
        beta = 0.5 ** (self.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        self.cur_nimg += self.batch
        self.batch_idx += 1
        self.stats.update()
        return {name: self.stats.mean(name) for name in self.stats.names() if self.stats.num(name)}


class OurTraining:
    """facegan's training step, `TrainingRun.step` as `facegan train --arch stylegan3` runs it, on
    the networks of an official snapshot (read through facegan's importer). Its reals and each
    phase's latents are recorded as the loop draws them, for the peer to take the same; `reals`
    (a tensor) replaces the data loader."""

    def __init__(self, pkl: str | os.PathLike, data: str, cfg: str, *, batch: int, r1_gamma: float,
                 blur_sigma: float = 0.0, blur_fade_kimg: float = 0.0, reals: torch.Tensor | None = None):
        import dataclasses

        from facegan.data import ImageDataset
        from facegan.interop import load_any
        from facegan.networks import load_state_strict
        from facegan.training import distributed as dist
        from facegan.training import resolve_options
        from facegan.training.loop import TrainingRun
        from facegan.training.sampler import GlobalStream

        loaded = load_any(pkl)
        config = loaded.networks["G"].config
        net = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        opts = resolve_options(data, arch="stylegan3", cfg=cfg, batch=batch, batch_gpu=batch, aug="noaug",
                               r1_gamma=r1_gamma, blur_sigma=blur_sigma, blur_fade_kimg=blur_fade_kimg,
                               network_overrides=net)
        run = self.run = TrainingRun(opts, dist.Dist(device=torch.device("cpu")), progress=False)
        run.dataset = ImageDataset(data)
        run.stream = GlobalStream(len(run.dataset), opts.seed)
        run._build_networks()   # networks, optimisers, loss, phases: no run folder
        for name in ("G", "D", "G_ema"):
            load_state_strict(getattr(run, name), loaded.networks[name].state_dict(), context=f"{pkl} [{name}]")
        self.opts, self.recorded = opts, {}
        next_reals, latents = run._next_reals, run._latents

        def record_reals(resolution, batch):
            real, c = (reals, None) if reals is not None else next_reals(resolution, batch)
            self.recorded["real"] = real.clone()
            return real, c

        def record_latents(phase, chunk, bgpu, real_c):
            z, c = latents(phase, chunk, bgpu, real_c)
            self.recorded[phase.name] = z.clone()
            return z, c

        run._next_reals, run._latents = record_reals, record_latents

    def step(self) -> dict[str, float]:
        """One training step; returns the mean of every loss statistic."""
        self.recorded.clear()
        stats = self.run.step()
        return {name: stats.mean(name) for name in stats.sums}


def max_differences(ours: torch.nn.Module, theirs: torch.nn.Module, grads: bool = False) -> dict[str, float]:
    """The largest |difference| per tensor (same names on both sides), relative to the tensor's
    largest |value| (an absent gradient counts as zeros)."""
    out = {}
    a = dict(ours.named_parameters()) if grads else ours.state_dict()
    b = dict(theirs.named_parameters()) if grads else theirs.state_dict()
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    for name in a:
        x, y = a[name], b[name]
        if grads:
            x = torch.zeros_like(x) if x.grad is None else x.grad
            y = torch.zeros_like(y) if y.grad is None else y.grad
        scale = max(float(y.abs().max()), 1e-12)
        out[name] = float((x.float() - y.float()).abs().max()) / scale
    return out


def compare_training(peer, cfg: str, resolution: int, workdir: str | os.PathLike, *, steps: int = 3, batch: int = 4,
                     r1_gamma: float = 2.0, blur_init_sigma: float = 10.0, blur_fade_kimg: float | None = None,
                     seed: int = 0, **kwargs) -> dict:
    """`steps` training steps of an official snapshot on both sides (see OfficialTraining,
    OurTraining); per step the losses, then the largest relative difference of every parameter,
    gradient (G's from Gmain, D's from the step's last D phase) and buffer (magnitude EMAs, w_avg,
    ...) of G, D and G_ema. -R blurs D's input, sigma `blur_init_sigma` (train.py: 10) fading over
    `blur_fade_kimg` (train.py: batch * 200 / 32)."""
    workdir = Path(workdir)
    pkl = write_official_snapshot(peer, workdir / f"train-{cfg}-{resolution}.pkl", cfg, resolution, seed=seed,
                                  batch=batch, **kwargs)
    with open(pkl, "rb") as f:
        snapshot = peer.legacy.load_network_pkl(f)
    blur = blur_init_sigma if cfg == "stylegan3-r" else 0.0
    fade = (batch * 200 / 32 if blur_fade_kimg is None else blur_fade_kimg) if blur else 0.0
    theirs = OfficialTraining(peer, snapshot, batch=batch, r1_gamma=r1_gamma, blur_init_sigma=blur, blur_fade_kimg=fade)
    data = noise_archive(workdir / f"noise{resolution}.zip", resolution)
    ours = OurTraining(pkl, data, cfg, batch=batch, r1_gamma=r1_gamma, blur_sigma=blur, blur_fade_kimg=fade)
    from facegan.training.losses import blur_sigma_at

    initial = {k: v.clone() for k, v in ours.run.G.state_dict().items()}
    rows = []
    for step in range(steps):
        sigma = blur_sigma_at(ours.run.state.nimg, blur, fade)
        our_losses = ours.step()
        z = {"Gboth": ours.recorded["Gmain"], **{k: v for k, v in ours.recorded.items() if k.startswith("D")}}
        their_losses = theirs.step(ours.recorded["real"], z)
        their_losses["Loss/D/loss_fake"] = their_losses.pop("Loss/D/loss")  # theirs: the sum of both
        our_losses["Loss/D/loss_fake"] += our_losses.pop("Loss/D/loss_real")
        assert our_losses.keys() == their_losses.keys(), (sorted(our_losses), sorted(their_losses))
        row = {"step": step, "phases": [p.name for p in ours.run.phases if step % p.interval == 0], "blur_sigma": sigma,
               "losses": {k: (our_losses[k], their_losses[k]) for k in sorted(our_losses)}}
        for name in ("G", "D", "G_ema"):
            a, b = getattr(ours.run, name), getattr(theirs, name)
            row[name] = max_differences(a, b)
            if name != "G_ema":
                row[f"{name}.grad"] = max_differences(a, b, grads=True)
        rows.append(row)
    moved = sorted(k for k, v in ours.run.G.state_dict().items() if not torch.equal(v, initial[k]))
    return {"cfg": cfg, "resolution": resolution, "batch": batch, "steps": steps, "r1_gamma": r1_gamma,
            "blur_sigma": blur, "blur_fade_kimg": fade, "rows": rows, "G_moved": moved}


# ----------------------------------------------------------------------------------------------
# The benchmark: one image per side, each in its own process.

def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(field)


def bench_side(side: str, peer_path: str, pkl: str, seed: int) -> dict:
    """One 1024² image of `pkl`'s G_ema on one side, in this process: seconds, peak resident memory
    while drawing it (VmHWM reset before it; the loaded network included), and its growth."""
    if side == "official":
        peer = import_peer(peer_path)
        G = load_official(peer, pkl)

        def draw():
            return official_image(peer, G, seed)
    else:
        import facegan

        G = facegan.load(pkl)

        def draw():
            return our_image(G, seed)
    gc.collect()  # what loading left behind (the snapshot's other networks) is not the image's
    try:
        with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
            f.write("5")
        before = _rss_kib("VmRSS")
    except OSError:
        before = None
    start, cpu = time.perf_counter(), time.process_time()
    img = draw()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    peak = _rss_kib("VmHWM") if before is not None else None
    np.save(Path(pkl).with_suffix(f".{side}.npy"), img)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds,
            "peak_rss_mib": None if peak is None else peak / 1024,
            "peak_growth_mib": None if peak is None else (peak - before) / 1024}


def macs(cfg: str, resolution: int) -> dict:
    """GMACs of one image: the modulated convs (both sides) and the filtering (ours; the reference
    path's zero insertion and full-rate filtering), counted from the layer shapes."""
    sys.path.insert(0, str(BENCH_DIR))
    from filtered_lrelu import conv_macs, filter_macs

    from facegan.networks.stylegan3 import StyleGAN3Generator, stylegan3_preset

    with torch.device("meta"):
        G = StyleGAN3Generator(stylegan3_preset(cfg, resolution))
    layers = [getattr(G.synthesis, name) for name in G.synthesis.layer_names]
    return {"conv": round(sum(map(conv_macs, layers)) / 1e9, 1),
            "filter_ours": round(sum(filter_macs(m, False) for m in layers) / 1e9, 1),
            "filter_official": round(sum(filter_macs(m, True) for m in layers) / 1e9, 1)}


def bench(peer, cfg: str, resolution: int, rounds: int, threads: int, workdir: Path) -> dict:
    # The official initialisation as it is (make_nontrivial would cost an official 1024² forward pass
    # more): the cost of an image does not depend on the values of the weights.
    pkl = write_official_snapshot(peer, workdir / f"{cfg}-{resolution}.pkl", cfg, resolution, nontrivial=False)
    runs: dict[str, list[dict]] = {"ours": [], "official": []}
    for _ in range(rounds):
        for side in runs:
            out = subprocess.run([sys.executable, __file__, "side", "--side", side, "--peer", peer.path,
                                  "--pkl", str(pkl), "--threads", str(threads)],
                                 capture_output=True, text=True, check=True)
            runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(side, json.dumps(runs[side][-1]), file=sys.stderr)
    images = [np.load(pkl.with_suffix(f".{side}.npy")) for side in runs]
    result = {"cfg": cfg, "resolution": resolution, "batch": 1, "rounds": rounds, "threads": threads,
              "same_image": grey_levels(*images)}
    for side, rs in runs.items():
        result[side] = {key: round(statistics.median(r[key] for r in rs), 2) for key in rs[0] if rs[0][key] is not None}
    result["same_image"]["grey_std"] = round(float(images[0].std()), 1)
    for key, name in (("seconds", "time"), ("cpu_seconds", "cpu_time")):  # CPU time: less moved by other load
        result[f"{name}_ratio_official_over_ours"] = round(statistics.median(
            o[key] / u[key] for o, u in zip(runs["official"], runs["ours"])), 2)
    if runs["ours"][0]["peak_rss_mib"] is not None:
        for key in ("peak_rss_mib", "peak_growth_mib"):
            result[f"{key}_ratio_official_over_ours"] = round(statistics.median(
                o[key] / max(u[key], 1e-9) for o, u in zip(runs["official"], runs["ours"])), 2)
    result["gmac"] = macs(cfg, resolution)
    return result


NETWORK_FIELDS = ("z_dim", "w_dim", "channel_base", "channel_max", "num_layers", "d_channel_base", "d_channel_max")


def bench_train(peer, cfg: str, resolution: int, batch: int, steps: int, rounds: int, threads: int, workdir: Path,
                **kwargs) -> dict:
    """Images/second of a training step on each side, in this process: facegan's TrainingRun.step
    (the reals given, not loaded) and NVIDIA's StyleGAN2Loss driven as its training loop drives it,
    from the same snapshot. One untimed step first (step 0, with Dreg: allocations, oneDNN kernel
    selection); then `rounds` rounds of `steps` steps, each side in turn (the order alternating),
    both at the same step counters, so each round runs the same phases on both sides."""
    pkl = write_official_snapshot(peer, workdir / f"train-{cfg}-{resolution}.pkl", cfg, resolution, nontrivial=False,
                                  batch=batch, **kwargs)
    with open(pkl, "rb") as f:
        snapshot = peer.legacy.load_network_pkl(f)
    blur = 10.0 if cfg == "stylegan3-r" else 0.0
    fade = batch * 200 / 32 if blur else 0.0
    gamma = 32.0 * (resolution / 1024) ** 2
    real = torch.rand([batch, 3, resolution, resolution], generator=torch.Generator().manual_seed(0)) * 2 - 1
    theirs = OfficialTraining(peer, snapshot, batch=batch, r1_gamma=gamma, blur_init_sigma=blur, blur_fade_kimg=fade)
    ours = OurTraining(pkl, noise_archive(workdir / f"noise{resolution}.zip", resolution), cfg, batch=batch,
                       r1_gamma=gamma, blur_sigma=blur, blur_fade_kimg=fade, reals=real)
    z_dim = ours.run.G.z_dim

    def their_step():
        theirs.step(real, {name: torch.randn([batch, z_dim]) for name, *_ in theirs.phases})

    sides = {"ours": ours.step, "official": their_step}
    for step in sides.values():
        step()
    times: dict[str, list[float]] = {side: [] for side in sides}
    cpu: dict[str, list[float]] = {side: [] for side in sides}
    for r in range(rounds):
        for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                sides[side]()
            times[side].append(time.perf_counter() - start)
            cpu[side].append(time.process_time() - start_cpu)
        print(json.dumps({side: [round(t[-1], 3), round(cpu[side][-1], 3)] for side, t in times.items()}),
              file=sys.stderr)
    phases = sorted({p.name for p in ours.run.phases for s in range(1, 1 + steps * rounds) if s % p.interval == 0})
    nimg = steps * batch
    return {"cfg": cfg, "resolution": resolution, "batch": batch, "steps_per_round": steps, "rounds": rounds,
            "threads": threads, "timed_phases": phases, "r1_gamma": gamma,
            "network": {k: getattr(ours.run.net_config, k) for k in NETWORK_FIELDS},
            "img_per_s": {side: round(nimg / statistics.median(t), 2) for side, t in times.items()},
            "cpu_img_per_s": {side: round(nimg / statistics.median(t), 2) for side, t in cpu.items()},
            # per round, official time / ours (> 1: ours faster); CPU time is less moved by other load
            "speed_ratio_ours_over_official": round(statistics.median(
                o / u for o, u in zip(times["official"], times["ours"])), 2),
            "cpu_speed_ratio_ours_over_official": round(statistics.median(
                o / u for o, u in zip(cpu["official"], cpu["ours"])), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["check", "bench", "train", "side"])
    ap.add_argument("--peer", required=True, help="a checkout of NVlabs/stylegan3 (outside this repo)")
    ap.add_argument("--cfgs", default="stylegan3-t,stylegan3-r", help="check: the configurations")
    ap.add_argument("--resolution", type=int, default=None, help="default: 64 for check and train, 1024 for bench")
    ap.add_argument("--seeds", default="0,1,2", help="check: the seeds")
    ap.add_argument("--cfg", default="stylegan3-t", help="bench, train: the configuration")
    ap.add_argument("--rounds", type=int, default=None, help="bench, train: rounds, each side once per round "
                    "(default 2 for bench, 5 for train)")
    ap.add_argument("--batch", type=int, default=4, help="train: the batch")
    ap.add_argument("--steps", type=int, default=2, help="train: training steps per round and side")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared machine, multi-threaded timings are noise)")
    ap.add_argument("--workdir", default=None, help="where the pickles and images go (default: a temporary folder)")
    ap.add_argument("--side", choices=["ours", "official"], help=argparse.SUPPRESS)
    ap.add_argument("--pkl", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.mode == "side":
        print(json.dumps(bench_side(args.side, args.peer, args.pkl, seed=0)))
        return
    try:
        peer = import_peer(args.peer)
    except PeerError as exc:
        raise SystemExit(f"error: {exc}") from None
    sys.path.insert(0, str(BENCH_DIR))
    from _machine import machine

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.mode == "check":
            result = check(peer, args.cfgs.split(","), args.resolution or 64, [int(s) for s in args.seeds.split(",")],
                           workdir, **CHECK_NETWORK)
        elif args.mode == "train":
            result = bench_train(peer, args.cfg, args.resolution or 64, args.batch, args.steps, args.rounds or 5,
                                 args.threads, workdir, **CHECK_NETWORK)
        else:
            result = bench(peer, args.cfg, args.resolution or 1024, args.rounds or 2, args.threads, workdir)
    result["machine"] = machine()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
