"""`facegan metrics`: thin layer over facegan.metrics.compute_metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from facegan.cli._network import NETWORK


@click.command(context_settings={"show_default": True})
@click.option("--network", "network_path", required=True, type=NETWORK)
@click.option("--data", required=True, type=click.Path(exists=True), help="The real images (archive).")
@click.option("--metrics", default="fid50k_full", help="Comma-separated metric names (see docs/metrics.md).")
@click.option("--num-gen", type=int, default=None, help="Generated images (override, for quick runs).")
@click.option("--num-real", type=int, default=None, help="Cap on real images (override).")
@click.option("--mirror", is_flag=True, help="Include x-flipped reals (if the network trained with --mirror).")
@click.option("--inception", type=click.Path(exists=True, dir_okay=False), default=None,
              help="pt_inception-2015-12-05-6726825d.pth (or NVIDIA's .pt with --allow-torchscript).")
@click.option("--vgg", type=click.Path(exists=True, dir_okay=False), default=None, help="vgg16-397923af.pth")
@click.option("--lpips", type=click.Path(exists=True, dir_okay=False), default=None, help="LPIPS v0.1 vgg.pth")
@click.option("--allow-torchscript", is_flag=True, help="Accept NVIDIA's TorchScript detectors (runs their code).")
@click.option("--ppl-distance", type=click.Choice(["lpips", "pixel"]), default="lpips",
              help="pixel: the documented fallback, not comparable to published PPL.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Weights and real statistics.")
@click.option("--no-download", is_flag=True, help="Never download weight files.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Append metric-<name>.jsonl here (default: the network's folder if it is a run directory).")
@click.option("--device", default="auto")
@click.option("--batch", type=int, default=32)
@click.option("--seed", type=int, default=0)
def metrics(network_path, data, metrics, num_gen, num_real, mirror, inception, vgg, lpips, allow_torchscript,
            ppl_distance, cache_dir, no_download, run_dir, device, batch, seed) -> None:
    """FID, KID, precision/recall, PPL and SWD of a network."""
    import facegan
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
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    results = compute_metrics(G, data, names, run_dir=run_dir, snapshot=network_path, device=dev, batch=batch,
                              num_gen=num_gen, num_real=num_real, mirror=mirror, inception=inception, vgg=vgg,
                              lpips=lpips, allow_torchscript=allow_torchscript, ppl_distance=ppl_distance,
                              download=not no_download, progress=True, seed=seed)
    width = max(len(k) for k in results)
    for key, value in results.items():
        click.echo(f"{key:<{width}}  {value:.6g}")
    if run_dir:
        click.echo("appended to " + ", ".join(str(Path(run_dir) / f"metric-{name}.jsonl") for name in names))
    click.echo(json.dumps(results))
