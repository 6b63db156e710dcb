"""`facegan metrics`: thin layer over facegan.metrics.compute_metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from facegan.cli._common import device_option, global_quiet
from facegan.cli._network import NETWORK
from facegan.cli.types import Int, MetricNames, OutputDir


@click.command(context_settings={"show_default": True})
@click.option("--network", "network_path", required=True, type=NETWORK,
              help="A network: our .safetensors, a checkpoint, an official NVIDIA pickle, a URL or a pretrained name.")
@click.option("--data", required=True, type=click.Path(exists=True), help="The real images (archive).")
@click.option("--metrics", type=MetricNames(), default="fid50k_full",
              help="Comma-separated metric names (see docs/metrics.md).")
@click.option("--num-gen", type=Int(1, 10_000_000), default=None, help="Generated images (override, for quick runs).")
@click.option("--num-real", type=Int(1, 10_000_000), default=None, help="Cap on real images (override).")
@click.option("--mirror", is_flag=True, help="Include x-flipped reals (if the network trained with --mirror).")
@click.option("--inception", type=click.Path(exists=True, dir_okay=False), default=None,
              help="pt_inception-2015-12-05-6726825d.pth (or NVIDIA's .pt with --allow-torchscript).")
@click.option("--vgg", type=click.Path(exists=True, dir_okay=False), default=None, help="vgg16-397923af.pth")
@click.option("--lpips", type=click.Path(exists=True, dir_okay=False), default=None, help="LPIPS v0.1 vgg.pth")
@click.option("--allow-torchscript", is_flag=True, help="Accept NVIDIA's TorchScript detectors (runs their code).")
@click.option("--ppl-distance", type=click.Choice(["lpips", "pixel"]), default="lpips",
              help="pixel: the documented fallback, not comparable to published PPL.")
@click.option("--cache-dir", type=OutputDir(), default=None, help="Weights and real statistics.")
@click.option("--no-download", is_flag=True, help="Never download weight files.")
@click.option("--run-dir", type=OutputDir(), default=None,
              help="Append metric-<name>.jsonl here (default: the network's folder if it is a run directory).")
@device_option
@click.option("--batch", type=Int(1, 4096), default=32, help="Images per forward pass.")
@click.option("--seed", type=Int(0), default=0, help="Seed of every random draw of the metrics.")
def metrics(network_path, data, metrics, num_gen, num_real, mirror, inception, vgg, lpips, allow_torchscript,
            ppl_distance, cache_dir, no_download, run_dir, device, batch, seed) -> None:
    """FID, KID, precision/recall, PPL and SWD of a network (as NVIDIA's calc_metrics.py).

    \b
    Examples:
    facegan metrics --network ffhq.pkl --data ffhq.zip --metrics fid50k_full,kid50k_full --mirror
    facegan metrics --network runs/00000-faces/network-final.safetensors --data faces.zip --metrics swd1k
    """
    import facegan
    from facegan.errors import ConfigError
    from facegan.metrics import compute_metrics
    from facegan.utils.device import pick_device

    if cache_dir:
        os.environ["FACEGAN_CACHE"] = str(cache_dir)
    network_path = Path(network_path)
    if run_dir is None:
        for folder in (network_path.parent, network_path.parent.parent):
            if (folder / "options.json").is_file():
                run_dir = folder
                break
    dev = pick_device(device)
    G = facegan.load(network_path, device=dev)
    check_channels(G, data)
    names = [m for m in metrics.split(",") if m]
    if not names:
        raise ConfigError("--metrics names no metric (see docs/metrics.md for the names)")
    results = compute_metrics(G, data, names, run_dir=run_dir, snapshot=network_path, device=dev, batch=batch,
                              num_gen=num_gen, num_real=num_real, mirror=mirror, inception=inception, vgg=vgg,
                              lpips=lpips, allow_torchscript=allow_torchscript, ppl_distance=ppl_distance,
                              download=not no_download, progress=not global_quiet(), seed=seed)
    width = max(len(k) for k in results)
    for key, value in results.items():
        click.echo(f"{key:<{width}}  {value:.6g}")
    if run_dir:
        click.echo("appended to " + ", ".join(str(Path(run_dir) / f"metric-{name}.jsonl") for name in names))
    click.echo(json.dumps(results))


def check_channels(G, data) -> None:
    """The reals must have the network's channels (an RGB archive cannot be compared with a grey network)."""
    from facegan.data.archive import Archive
    from facegan.errors import DatasetError

    with Archive(data) as archive:
        if len(archive) == 0:
            raise DatasetError(f"{data} holds no images")
        image = archive.read_image(0)
    channels = image.shape[2] if image.ndim == 3 else 1
    if channels != G.img_channels:
        raise DatasetError(f"{data} holds {channels}-channel images, the network draws {G.img_channels}-channel "
                           "images; measure it against an archive made like its training data")
