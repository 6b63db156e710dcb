"""`facegan train`: thin layer over facegan.training."""

from __future__ import annotations

import json
from pathlib import Path

import click

from facegan.cli._network import RESUME
from facegan.training.options import AUGMENTS, PRECISIONS


@click.command(context_settings={"show_default": True})
@click.option("--data", required=True, type=click.Path(exists=True), help="Dataset archive (zip or folder).")
@click.option("--outdir", default="runs", type=click.Path(file_okay=False), help="Where run directories go.")
@click.option("--arch", type=click.Choice(["stylegan", "stylegan2", "dcgan"]), default="stylegan2")
@click.option("--cfg", default=None, help="Preset (default: stylegan-ffhq, auto, dcgan); see docs/training.md.")
@click.option("--kimg", type=float, default=None, help="Training length in thousands of images.")
@click.option("--batch", type=int, default=None, help="Global batch size (all processes).")
@click.option("--batch-gpu", type=int, default=None, help="Samples per process per round (accumulation).")
@click.option("--snap", type=int, default=None, help="Snapshot every N ticks.")
@click.option("--tick", "tick_kimg", type=float, default=None, help="Progress line every N kimg.")
@click.option("--seed", type=int, default=None)
@click.option("--resume", type=RESUME, help="A run dir or checkpoint to continue, or a network to fine-tune.")
@click.option("--mirror/--no-mirror", default=None, help="Add x-flips of the dataset.")
@click.option("--cond/--no-cond", default=None, help="Condition on the dataset's labels.")
@click.option("--aug", type=click.Choice(AUGMENTS), default=None, help="Augmentation (default: noaug).")
@click.option("--augpipe", default=None, help="Augmentation pipeline (bgc, bg, blit, ...).")
@click.option("--p", "aug_p", type=float, default=None, help="Probability for --aug fixed (start p for ada).")
@click.option("--target", "ada_target", type=float, default=None, help="ADA target.")
@click.option("--gamma", "r1_gamma", type=float, default=None, help="R1 weight.")
@click.option("--glr", "lr_g", type=float, default=None, help="G learning rate.")
@click.option("--dlr", "lr_d", type=float, default=None, help="D learning rate.")
@click.option("--metrics", default=None, help="Metrics at each snapshot, e.g. swd or swd,fid50k_full ('none').")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="fp32; mixed = the official fp16 layers on CUDA; bf16 = autocast.")
@click.option("--allow-tf32", is_flag=True, default=None)
@click.option("--workers", type=int, default=None, help="DataLoader worker processes.")
@click.option("--max-images", type=int, default=None, help="Train on a seeded subset.")
@click.option("--keep", "keep_checkpoints", type=int, default=None, help="Checkpoints to keep.")
@click.option("--device", default=None, help="auto, cpu, cuda.")
@click.option("--desc", "description", default=None, help="Suffix of the run directory name.")
@click.option("-n", "--dry-run", is_flag=True, help="Print the resolved options and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(data, arch, cfg, resume, dry_run, quiet, metrics, **overrides) -> None:
    """Train StyleGAN, StyleGAN2 or DCGAN. Run under torchrun for several GPUs or machines."""
    from facegan.training import resolve_options
    from facegan.training import train as run_training
    from facegan.training.checkpoint import find_checkpoint
    from facegan.training.presets import resume_options

    if metrics is not None:
        overrides["metrics"] = tuple(m for m in metrics.split(",") if m and m != "none")
    gpus = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    continuing = False
    if resume:
        try:
            find_checkpoint(resume)
            continuing = True
        except Exception:
            continuing = False
    if continuing:
        opts = resume_options(resume, **overrides)
    else:
        opts = resolve_options(data, arch=arch, cfg=cfg, gpus=gpus, resume=resume, **overrides)
    if dry_run:
        click.echo(json.dumps(json.loads(opts.to_json()), indent=2))
        return
    result = run_training(opts, progress=not quiet)
    state = "stopped" if result.interrupted else "finished"
    click.echo(f"{state} at {result.nimg / 1000:.3f} kimg: {Path(result.run_dir)}")
    if result.interrupted:
        click.echo(f"continue with: facegan train --data {data} --resume {result.run_dir}")
