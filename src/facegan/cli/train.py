"""`facegan train`: thin layer over facegan.training."""

from __future__ import annotations

import json
from pathlib import Path

import click

from facegan.cli._common import global_quiet
from facegan.cli._network import RESUME
from facegan.cli.types import Device, Float, Int, MetricNames, OutputDir
from facegan.networks import trainable_architectures
from facegan.training.augment import AUGPIPES
from facegan.training.options import AUGMENTS, PRECISIONS


@click.command(context_settings={"show_default": True})
@click.option("--data", default=None, type=click.Path(exists=True),
              help="Dataset archive (zip or folder); a continued run (--resume RUN) knows its own.")
@click.option("--outdir", default="runs", type=OutputDir(str), help="Where run directories go.")
@click.option("--arch", type=click.Choice(trainable_architectures()), default="stylegan2",
              help="The architecture.")
@click.option("--cfg", default=None,
              help="Preset (default: stylegan-ffhq, auto, stylegan3-t, dcgan, keras-face); see docs/training.md.")
@click.option("--kimg", type=Float(0, 1e7, min_open=True), default=None,
              help="Training length in thousands of images.")
@click.option("--batch", type=Int(1, 65536), default=None, help="Global batch size (all processes).")
@click.option("--batch-gpu", type=Int(1, 65536), default=None, help="Samples per process per round (accumulation).")
@click.option("--snap", type=Int(1, 1_000_000), default=None, help="Snapshot every N ticks.")
@click.option("--tick", "tick_kimg", type=Float(0, 1e6, min_open=True), default=None,
              help="Progress line every N kimg.")
@click.option("--seed", type=Int(0), default=None, help="Global random seed.")
@click.option("--resume", type=RESUME, default=None,
              help="A run dir or checkpoint to continue, or a network to fine-tune.")
@click.option("--freezed", type=Int(0, 1000), default=None,
              help="Freeze-D: keep the first N discriminator layers fixed (fine-tuning).")
@click.option("--mirror/--no-mirror", default=None, help="Add x-flips of the dataset.")
@click.option("--cond/--no-cond", default=None, help="Condition on the dataset's labels.")
@click.option("--aug", type=click.Choice(AUGMENTS), default=None, help="Augmentation (default: noaug).")
@click.option("--augpipe", type=click.Choice(list(AUGPIPES)), default=None,
              help="Augmentation pipeline (bgc, bg, blit, ...).")
@click.option("--p", "aug_p", type=Float(0, 1), default=None, help="Probability for --aug fixed (start p for ada).")
@click.option("--target", "ada_target", type=Float(0, 1), default=None,
              help="ADA target for E[sign(D(real))], 0 to 1.")
@click.option("--gamma", "r1_gamma", type=Float(0, 1e6), default=None, help="R1 weight (>= 0).")
@click.option("--glr", "lr_g", type=Float(0, 10, min_open=True), default=None, help="G learning rate (> 0).")
@click.option("--dlr", "lr_d", type=Float(0, 10, min_open=True), default=None, help="D learning rate (> 0).")
@click.option("--metrics", type=MetricNames(), default=None,
              help="Metrics at each snapshot, e.g. swd or swd,fid50k_full ('none').")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="fp32; mixed = the official fp16 layers on CUDA; bf16 = autocast.")
@click.option("--allow-tf32", is_flag=True, default=None, help="Allow TF32 matrix products on Ampere and newer GPUs.")
@click.option("--workers", type=Int(0, 256), default=None, help="DataLoader worker processes (0: in the main one).")
@click.option("--max-images", type=Int(1), default=None, help="Train on a seeded subset.")
@click.option("--keep", "keep_checkpoints", type=Int(1, 100_000), default=None, help="Checkpoints to keep.")
@click.option("--device", type=Device(), default=None, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--desc", "description", default=None, help="Suffix of the run directory name.")
@click.option("-n", "--dry-run", is_flag=True, help="Print the resolved options and exit.")
@click.option("--quiet", is_flag=True, hidden=True, default=global_quiet, help="No progress bar (facegan -q).")
def train(data, arch, cfg, resume, dry_run, quiet, metrics, **overrides) -> None:
    """Train StyleGAN, StyleGAN2, StyleGAN3, DCGAN or the Keras face tutorial's DCGAN (keras-dcgan).
    Run under torchrun for several GPUs or machines.

    \b
    Examples:
    facegan train --data faces.zip --cfg paper256 --kimg 5000 --mirror
    facegan train --resume runs/00003-faces-stylegan2-paper256          # continue exactly
    facegan train --data faces.zip --resume ffhq.pkl --freezed 10 --aug ada --kimg 200   # fine-tune, Freeze-D
    facegan train --data faces.zip --arch stylegan3 --cfg stylegan3-r --gamma 2 --mirror
    torchrun --nproc_per_node 8 -m facegan train --data ffhq.zip --cfg stylegan2-config-f
    """
    from facegan.training import train as run_training

    if metrics is not None:
        overrides["metrics"] = tuple(m for m in metrics.split(",") if m and m != "none")
    opts = _options(click.get_current_context(), data, arch, cfg, resume, overrides)
    if dry_run:
        click.echo(json.dumps(json.loads(opts.to_json()), indent=2))
        return
    result = run_training(opts, progress=not quiet, on_snapshot=snapshot_metrics(opts))
    state = "stopped" if result.interrupted else "finished"
    click.echo(f"{state} at {result.nimg / 1000:.3f} kimg: {Path(result.run_dir)}")
    if result.interrupted:
        click.echo(f"continue with: facegan train --resume {result.run_dir}")


def _options(ctx: click.Context, data, arch, cfg, resume, overrides: dict):
    """The run's options: a continued run's own (resume_plan decides), or a preset's."""
    from facegan.errors import ConfigError
    from facegan.training import resolve_options, resume_options, resume_plan

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)

    plan = resume_plan(resume) if resume else None
    if plan is not None and plan.continues:
        run = json.loads((plan.run_dir / "options.json").read_text()) \
            if (plan.run_dir / "options.json").is_file() else {}
        for name, value in (("arch", arch), ("cfg", cfg), ("outdir", overrides.get("outdir"))):
            ours = plan.run_dir.parent if name == "outdir" else run.get(name)
            same = Path(value).resolve() == ours.resolve() if name == "outdir" else value == ours
            if given(name) and not same:
                raise ConfigError(f"--resume continues {plan.run_dir} with its own options; --{name} {value} "
                                  f"differs from the run's ({ours})")
        overrides.pop("outdir", None)
        return resume_options(resume, data=data, **overrides)
    if data is None:
        raise click.UsageError("--data is required (only a continued run, --resume RUN, knows its own)")
    gpus = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    return resolve_options(data, arch=arch, cfg=cfg, gpus=gpus, resume=resume, **overrides)


def snapshot_metrics(opts):
    """The metrics callback training runs at each snapshot (None when no metrics were asked for)."""
    if not opts.metrics:
        return None

    def compute(G_ema, run_dir, network_path):
        from facegan.metrics import compute_metrics

        return compute_metrics(G_ema, opts.data, list(opts.metrics), run_dir=run_dir, snapshot=network_path)

    return compute
