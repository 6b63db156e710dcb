"""StyleGAN3's filtered leaky ReLU on this CPU: ours (polyphase upsampling, strided downsampling,
channel chunks) against the composition of NVIDIA's reference path (zero insertion, every pixel
filtered, lrelu, every pixel filtered again, then sliced), written out in
facegan.nn.filtered_lrelu.filtered_lrelu_reference.

For one generator image (batch 1, fp32, no autograd) of StyleGAN3-T (or -R) it reports:
- seconds per image for each side (median of `--rounds`, the sides alternating, each side in its
  own subprocess so that its peak memory is its own), and the seconds spent inside filtered lrelu;
- peak memory: the growth of the process's peak resident set during the image;
- multiply-accumulates of the filtering (counted from the layer shapes) and of the modulated convs
  (the same for both sides).

    PYTHONPATH=src python benchmarks/filtered_lrelu.py --cfg stylegan3-t --resolution 256 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import torch


def filter_macs(layer, reference: bool) -> int:
    """Multiply-accumulates of one layer's filtering for one image."""
    C = layer.out_channels
    n_in = layer.in_size + layer.conv_kernel - 1            # the conv's output ("full" padding)
    lo, hi = layer.padding[0], layer.padding[1]
    up, down = layer.up_factor, layer.down_factor
    Lu = layer.up_taps
    Ld = layer.down_taps
    n_pad = n_in * up + lo + hi                               # zero-inserted, padded
    n_tmp = n_pad - Lu + 1                                    # the activation's size
    n_out = (n_tmp - Ld) // down + 1
    radial = layer.down_filter is not None and layer.down_filter.ndim == 2
    if reference:
        macs = n_pad * (n_pad - Lu + 1) * Lu + n_tmp * n_tmp * Lu if Lu > 1 else 0
        if Ld > 1:
            n_f = n_tmp - Ld + 1
            macs += n_f * n_f * Ld * Ld if radial else n_tmp * n_f * Ld + n_f * n_f * Ld
        return C * macs
    J = math.ceil(Lu / up) + (1 if Lu > 1 and up > 1 else 0)  # the phase taps (one zero for alignment)
    macs = n_in * n_tmp * J + n_tmp * n_tmp * J if Lu > 1 else 0
    if Ld > 1:
        macs += n_out * n_out * Ld * Ld if radial else n_out * n_tmp * Ld + n_out * n_out * Ld
    return C * macs


def conv_macs(layer) -> int:
    n = layer.in_size + layer.conv_kernel - 1
    return layer.out_channels * layer.in_channels * layer.conv_kernel ** 2 * n * n


def build(cfg: str, resolution: int):
    from facegan.networks.stylegan3 import StyleGAN3Generator, stylegan3_preset

    torch.manual_seed(0)
    return StyleGAN3Generator(stylegan3_preset(cfg, resolution)).eval().requires_grad_(False)


def run_side(side: str, cfg: str, resolution: int) -> dict:
    """One image on one side, in this process: seconds and peak-memory growth (MiB)."""
    import facegan.networks.stylegan3 as n3
    from facegan.nn.filtered_lrelu import filtered_lrelu_reference

    G = build(cfg, resolution)
    op = filtered_lrelu_reference if side == "reference" else n3.filtered_lrelu
    in_filter = [0.0]

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return op(*args, **kwargs)
        finally:
            in_filter[0] += time.perf_counter() - start
    n3.filtered_lrelu = timed
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)), None)
    with torch.no_grad():
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start, cpu = time.perf_counter(), time.process_time()
        img = G.synthesis(ws)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "filter_seconds": in_filter[0],
            "peak_growth_mib": (peak - base) / 1024,
            "checksum": float(img.double().sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cfg", default="stylegan3-t", choices=["stylegan3-t", "stylegan3-r"])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared machine, multi-threaded timings are noise)")
    ap.add_argument("--side", choices=["ours", "reference"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.side:
        print(json.dumps(run_side(args.side, args.cfg, args.resolution)))
        return
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _machine import machine

    with torch.device("meta"):
        G = build(args.cfg, args.resolution)
    layers = [getattr(G.synthesis, name) for name in G.synthesis.layer_names]
    runs: dict[str, list[dict]] = {"ours": [], "reference": []}
    for _ in range(args.rounds):
        for side in runs:
            out = subprocess.run([sys.executable, __file__, "--side", side, "--cfg", args.cfg, "--threads",
                                  str(args.threads),
                                  "--resolution", str(args.resolution)], capture_output=True, text=True, check=True)
            runs[side].append(json.loads(out.stdout))
    result = {"benchmark": "filtered_lrelu", "cfg": args.cfg, "resolution": args.resolution, "batch": 1,
              "machine": machine(), "rounds": args.rounds}
    for side, rs in runs.items():
        result[side] = {"seconds": statistics.median(r["seconds"] for r in rs),
                        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in rs),
                        "filter_seconds": statistics.median(r["filter_seconds"] for r in rs),
                        "peak_growth_mib": statistics.median(r["peak_growth_mib"] for r in rs),
                        "filter_gmac": sum(filter_macs(m, side == "reference") for m in layers) / 1e9}
    result["conv_gmac"] = sum(conv_macs(m) for m in layers) / 1e9
    result["same_image"] = abs(runs["ours"][0]["checksum"] - runs["reference"][0]["checksum"]) < 1e-3 * max(
        1.0, abs(runs["reference"][0]["checksum"]))
    result["speedup"] = result["reference"]["seconds"] / result["ours"]["seconds"]
    result["filter_speedup"] = result["reference"]["filter_seconds"] / result["ours"]["filter_seconds"]
    result["memory_ratio"] = result["reference"]["peak_growth_mib"] / max(result["ours"]["peak_growth_mib"], 1e-9)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
