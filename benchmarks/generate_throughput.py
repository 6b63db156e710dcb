"""Generator throughput: images/second and peak memory of StyleGAN (v1) and StyleGAN2 (config F)
at 256² and 1024², batch 1 and 8, on CPU and (when present) CUDA, in fp32 and bf16.

    PYTHONPATH=src python benchmarks/generate_throughput.py [--rounds 5] [--resolutions 256,1024]
        [--batches 1,8] [--archs stylegan,stylegan2] [--devices cpu,cuda] [--precisions fp32,bf16]
        [--compile] [--peer PATH]

With `--peer PATH` (a local checkout of NVlabs/stylegan2-ada-pytorch, kept outside this repo) the
peer's own Generator is built with the same config and loaded with the same weights (the state
dict names match), checked to produce the same image, and timed in the same process, alternating
with ours round by round; the JSON gives the median of the per-round ratios. bf16 rows also report
the deviation from our fp32 images (mean and max absolute difference in grey levels, and the
fraction of pixels off by more than one grey level). `--compile` adds `torch.compile(G)` (inductor
with freezing) as a side of its own; every row gives `first_call_s`, which for that side is the
compilation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import types

import numpy as np
import torch
from _machine import machine  # benchmarks/_machine.py

from facegan.networks import build_generator, get_architecture
from facegan.utils.images import to_uint8


def config_for(arch: str, resolution: int):
    if arch == "stylegan2":
        from facegan.networks import StyleGAN2Config

        return StyleGAN2Config(resolution=resolution)  # config F, float32 (the TF release)
    from facegan.networks.stylegan import stylegan_preset

    return stylegan_preset("stylegan-ffhq", resolution)


def load_peer(path: str, cfg, G):
    """stylegan2-ada-pytorch's Generator with our G's config and weights."""
    sys.modules.setdefault("requests", types.ModuleType("requests"))  # only its URL helper needs it
    sys.path.insert(0, os.path.abspath(path))
    from training.networks import Generator as PeerGenerator  # noqa: PLC0415 (the peer, at run time)

    peer = PeerGenerator(cfg.z_dim, cfg.c_dim, cfg.w_dim, cfg.resolution, cfg.img_channels,
                         mapping_kwargs=dict(num_layers=cfg.mapping_layers),
                         synthesis_kwargs=dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                                               num_fp16_res=0, conv_clamp=cfg.conv_clamp)).eval()
    peer.load_state_dict(G.state_dict())
    return peer


def rss_peak_reset() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def rss_peak_mib() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def timed(fn, device: torch.device) -> tuple[float, torch.Tensor]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def bench(arch: str, resolution: int, batch: int, device: torch.device, rounds: int, peer_path: str | None,
          precisions: tuple[str, ...] = ("fp32", "bf16"), compile_: bool = False) -> list:
    torch.manual_seed(0)
    cfg = config_for(arch, resolution)
    G = build_generator(cfg).eval().to(device)
    z = torch.from_numpy(np.random.RandomState(0).randn(batch, cfg.z_dim).astype(np.float32)).to(device)
    peer = load_peer(peer_path, cfg, G).to(device) if (peer_path and arch == "stylegan2") else None

    def ours(precision):
        def run():
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                        enabled=precision == "bf16"):
                return G(z, noise_mode="const").float()
        return run

    def theirs():
        with torch.inference_mode():
            return peer(z, None, noise_mode="const")

    def compiled():
        # Inductor with freezing: weights become constants, so it can pre-pack them for oneDNN and fold
        # the weight-only work (demodulation norms) out of the graph.
        G_c = torch.compile(G, options={"freezing": True})

        def run():
            with torch.inference_mode():
                return G_c(z, noise_mode="const").float()
        return run

    sides = {p: ours(p) for p in dict.fromkeys(("fp32",) + tuple(precisions))}  # fp32: the reference
    if compile_:
        sides["fp32_compiled"] = compiled()
    if peer is not None:
        sides["peer_fp32"] = theirs
    times: dict[str, list[float]] = {k: [] for k in sides}
    outputs: dict[str, torch.Tensor] = {}
    peaks: dict[str, float | None] = {}
    first_call: dict[str, float] = {}
    for name, fn in sides.items():  # warm-up (compilation included), outputs, peak memory
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        rss_peak_reset()
        first_call[name], outputs[name] = timed(fn, device)
        peaks[name] = (torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else rss_peak_mib()
    for _ in range(rounds):  # alternate the sides round by round
        for name, fn in sides.items():
            times[name].append(timed(fn, device)[0])
    ref = to_uint8(outputs["fp32"]).astype(int)
    rows = []
    for name in sides:
        med = statistics.median(times[name])
        row = {"arch": arch, "resolution": resolution, "batch": batch, "device": device.type, "side": name,
               "seconds_per_batch": round(med, 4), "images_per_second": round(batch / med, 3),
               "first_call_s": round(first_call[name], 2),
               "peak_memory_mib": None if peaks[name] is None else round(peaks[name], 1)}
        if name != "fp32":
            row["speedup_vs_ours_fp32_median"] = round(statistics.median(
                a / b for a, b in zip(times["fp32"], times[name])), 3)
            diff = np.abs(to_uint8(outputs[name]).astype(int) - ref)
            row["grey_levels_vs_ours_fp32"] = {"mean": round(float(diff.mean()), 3), "max": int(diff.max()),
                                               "fraction_over_1": round(float((diff > 1).mean()), 4)}
        if peer is not None and name != "peer_fp32":
            row["speedup_vs_peer_median"] = round(statistics.median(
                a / b for a, b in zip(times["peer_fp32"], times[name])), 3)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--resolutions", default="256,1024")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--archs", default="stylegan,stylegan2")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--peer", default=None, help="path to a stylegan2-ada-pytorch checkout")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="our sides (fp32 always runs: it is the reference image); bf16 is slow on CPUs "
                             "without AVX-512 BF16 or AMX")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile(G) (inductor, freezing) in fp32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {**machine(), "rows": [], "skipped": []}
    for device_name in args.devices.split(","):
        if device_name == "cuda" and not torch.cuda.is_available():
            results["skipped"].append("cuda: not available")
            continue
        device = torch.device(device_name)
        for arch in args.archs.split(","):
            try:
                get_architecture(arch)
            except Exception as exc:  # an architecture this checkout does not have
                results["skipped"].append(f"{arch}: {exc}")
                continue
            for res in map(int, args.resolutions.split(",")):
                for batch in map(int, args.batches.split(",")):
                    results["rows"].extend(bench(arch, res, batch, device, args.rounds, args.peer,
                                                       tuple(args.precisions.split(",")), args.compile))
                    print(json.dumps(results["rows"][-1]), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
