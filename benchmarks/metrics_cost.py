"""The cost of each metric: seconds, images/second and peak memory for a network and image count.

    PYTHONPATH=src python benchmarks/metrics_cost.py [--network NET.safetensors] [--data FACES.zip]
        [--metrics swd,fid,kid,pr,ppl] [--num 500,1000] [--device cpu]

Each (metric, N) runs in a fresh process (so its peak RSS is its own) through
`facegan.metrics.compute_metrics`, with N generated and N real images (`num_gen`, `num_real`)
and no statistics cache, i.e. the full cost of a first run. Measuring at two N shows how time
and memory grow: time linearly, memory not at all for FID (streaming running sums), linearly for
KID, precision/recall and SWD (they keep every feature/descriptor, as the official code does).

FID/KID/PR/PPL need pretrained weights this benchmark does not assume: it builds the same
networks (the FID Inception-v3, VGG-16, LPIPS) with random weights instead. Their cost does not
depend on the weights' values. PPL uses LPIPS this way as well (`--ppl-distance pixel` would be
cheaper and is not what the metric is).

Without --network it builds an untrained StyleGAN2 at --resolution (config F channels capped at
256) and without --data an archive of max(--num) images cycling through the 100 LFW faces
scikit-image ships, at that resolution. Note that real-image counts are capped by the archive.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = {"swd": "swd1k", "fid": "fid50k_full", "kid": "kid50k_full", "pr": "pr50k3_full", "ppl": "ppl2_wend"}


def child(args) -> None:
    """One measurement, in this (fresh) process; prints one JSON line."""
    import torch

    import facegan
    from facegan.metrics import compute_metrics
    from facegan.metrics.inception import FIDInception
    from facegan.metrics.vgg16 import LPIPS, LPIPS_CHANNELS, VGG16, VGGFeatures

    torch.manual_seed(0)
    G = facegan.load(args.network)
    detectors = {"inception": FIDInception().eval(), "vgg16": VGGFeatures(VGG16()).eval()}
    options = dict(num_gen=args.num, num_real=args.num, cache=False, download=False, device=torch.device(args.device),
                   _detectors=detectors)
    if args.metric == "ppl":
        import facegan.metrics.vgg16 as vgg16

        lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(LPIPS_CHANNELS)}
        vgg16.load_lpips = lambda *a, **k: LPIPS(VGG16(), lin).eval()   # random weights, same network
    name = NAMES[args.metric]
    start = time.perf_counter()
    results = compute_metrics(G, args.data, [name], **options)
    seconds = time.perf_counter() - start
    images = args.num * 2   # N generated and N real images; PPL: N paths of two generated images each
    print(json.dumps({"metric": name, "num": args.num, "seconds": round(seconds, 2),
                      "images_per_s": round(images / seconds, 1),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      # Values only where they mean something (the others come from random feature networks).
                      "value": {k: round(v, 3) for k, v in results.items()} if args.metric == "swd" else None}))


def default_inputs(tmp: Path, resolution: int, count: int) -> tuple[str, str]:
    """An untrained network and an archive of `count` images: the 100 LFW faces, cycled (the cost
    of a metric does not depend on the images being distinct)."""
    import numpy as np
    import torch
    from PIL import Image

    from facegan.data import ArchiveWriter
    from facegan.data.sources import lfw_subset
    from facegan.networks import StyleGAN2Config, build_generator, save_networks

    faces = [np.asarray(Image.fromarray(f).resize((resolution, resolution), Image.Resampling.LANCZOS))
             for f in lfw_subset()]
    data = tmp / f"lfw{resolution}x{count}.zip"
    with ArchiveWriter(data) as writer:
        for i in range(count):
            writer.add(faces[i % len(faces)][:, :, None])
    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=resolution, img_channels=1, channel_max=256, mapping_layers=2)
    net = tmp / "untrained.safetensors"
    save_networks(net, {"G_ema": build_generator(cfg).eval()}, cfg)
    return str(net), str(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network")
    parser.add_argument("--data")
    parser.add_argument("--metrics", default="swd,fid,kid,pr,ppl")
    parser.add_argument("--num", default="500,1000")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--metric", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.num = int(args.num)
        child(args)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        network, data = args.network, args.data
        if network is None or data is None:
            default_net, default_data = default_inputs(Path(tmp), args.resolution,
                                                       max(int(n) for n in args.num.split(",")))
            network, data = network or default_net, data or default_data
        for metric in args.metrics.split(","):
            for num in args.num.split(","):
                cmd = [sys.executable, __file__, "--child", "--metric", metric, "--num", num, "--network", network,
                       "--data", data, "--device", args.device]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode:
                    raise SystemExit(f"{metric} at {num} failed:\n{out.stderr[-3000:]}")
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"network": network if args.network else f"untrained StyleGAN2 {args.resolution}x"
                      f"{args.resolution}", "results": rows}, indent=1))


if __name__ == "__main__":
    main()
