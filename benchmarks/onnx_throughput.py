"""ONNX generator throughput: onnxruntime on the CPU against PyTorch, same weights, same graph.

    PYTHONPATH=src python benchmarks/onnx_throughput.py
        [--archs stylegan2,stylegan,dcgan,stylegan3-t,stylegan3-r] [--resolution 64] [--batch 4] [--rounds 5]

Per architecture (official widths: StyleGAN2 config F, StyleGAN `stylegan-ffhq`, the DCGAN tutorial's,
StyleGAN3-T and -R as stylegan3's train.py builds them; random weights) the generator is exported
with `facegan.export(G, path, format="onnx")` (z, psi -> uint8 images, const noise; StyleGAN3's
translate and rotate left at their defaults) and both sides generate the same batch, alternating
round by round with the same number of threads; one JSON line each with the medians, the speed
ratio (> 1: onnxruntime is faster), the export time, the file size, the largest difference in
grey levels, and how far each side's first batch raised the peak resident memory (VmHWM), each side
in a fresh process with only its network loaded (Linux; else null).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _machine import machine  # benchmarks/_machine.py
from generate_throughput import rss_peak_mib, rss_peak_reset

from facegan.interop.export import export
from facegan.networks import build_generator


def config_for(arch: str, resolution: int):
    if arch == "stylegan2":
        from facegan.networks import StyleGAN2Config

        return StyleGAN2Config(resolution=resolution)
    if arch == "stylegan":
        from facegan.networks.stylegan import stylegan_preset

        return stylegan_preset("stylegan-ffhq", resolution)
    if arch.startswith("stylegan3"):
        from facegan.networks import stylegan3_preset

        return stylegan3_preset(arch, resolution)
    from facegan.networks.dcgan import DCGANConfig

    return DCGANConfig(resolution=resolution)


def generator(arch: str, resolution: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator(config_for(arch, resolution)).eval()


def sides_for(side_names, G: torch.nn.Module, path: Path, batch: int) -> dict:
    """name -> a function drawing the batch (the same z and psi on every side)."""
    z = np.random.RandomState(0).randn(batch, G.z_dim).astype(np.float32)
    sides = {}
    if "pytorch" in side_names:
        sides["pytorch"] = lambda: G.run(z, truncation_psi=0.7, batch_size=batch)
    if "onnxruntime" in side_names:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3  # no warnings about the CastLike nodes it cannot constant-fold
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feeds = {"z": z, "psi": np.array(0.7, np.float32)}
        sides["onnxruntime"] = lambda: session.run(None, feeds)[0]
    return sides


def first_batch_growth(side: str, arch: str, resolution: int, batch: int, path: Path) -> dict:
    """In this (fresh) process: how far one side's first batch raises the peak resident memory."""
    draw = sides_for([side], generator(arch, resolution), path, batch)[side]
    rss_peak_reset()
    before = rss_peak_mib()
    draw()
    peak = rss_peak_mib()
    return {"peak_growth_mib": None if before is None or peak is None else round(peak - before)}


def bench(arch: str, resolution: int, batch: int, rounds: int, folder: Path) -> dict:
    import onnxruntime as ort

    G = generator(arch, resolution)
    path = folder / f"{arch}.onnx"
    t0 = time.perf_counter()
    export(G, path, format="onnx")
    export_s = time.perf_counter() - t0
    growth = {}
    for side in ("pytorch", "onnxruntime"):  # each in a fresh process: what the exporter freed would hide it here
        out = subprocess.run([sys.executable, __file__, "--memory-of", side, "--archs", arch, "--resolution",
                              str(resolution), "--batch", str(batch), "--onnx", str(path)],
                             capture_output=True, text=True, check=True).stdout
        growth[side] = json.loads(out)["peak_growth_mib"]
    sides = sides_for(("pytorch", "onnxruntime"), G, path, batch)
    images = {name: fn() for name, fn in sides.items()}  # warm-up, and the images to compare
    times: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            t = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t)
    ratios = [p / o for p, o in zip(times["pytorch"], times["onnxruntime"])]
    return {"arch": arch, "resolution": resolution, "batch": batch, "rounds": rounds,
            "pytorch_s": round(statistics.median(times["pytorch"]), 4),
            "onnxruntime_s": round(statistics.median(times["onnxruntime"]), 4),
            "onnxruntime_speedup": round(statistics.median(ratios), 3),
            "max_grey_level_diff": int(np.abs(images["pytorch"].astype(int) - images["onnxruntime"].astype(int)).max()),
            "pytorch_peak_growth_mib": growth["pytorch"], "onnxruntime_peak_growth_mib": growth["onnxruntime"],
            "export_s": round(export_s, 1), "onnx_mb": round(path.stat().st_size / 2 ** 20, 1),
            "onnxruntime": ort.__version__, "machine": machine()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="stylegan2,stylegan,dcgan")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory-of", choices=("pytorch", "onnxruntime"), help=argparse.SUPPRESS)  # a child
    parser.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))
    if args.memory_of:
        print(json.dumps(first_batch_growth(args.memory_of, args.archs, args.resolution, args.batch, args.onnx)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            print(json.dumps(bench(arch, args.resolution, args.batch, args.rounds, Path(tmp))), flush=True)


if __name__ == "__main__":
    sys.exit(main())
