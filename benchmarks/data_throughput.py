"""Training-loader throughput: images/second of facegan.data.ImageDataset through a DataLoader.

    PYTHONPATH=src python benchmarks/data_throughput.py [--images 512] [--rounds 5]

Prints JSON with images/second at 64², 128² and 256² for 0 and 2 workers, and the measurement
behind serving lower resolutions on the fly: reading a 256² archive at 64² (decode + box filter)
against reading an archive stored at 64² (what a stored mip level would cost), alternated over
several rounds in one process; the median ratio is reported.

The archives are synthetic RGB photos-like images (smooth gradients plus noise, so PNG decoding
costs about what it costs on photos), written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from facegan.data import ArchiveWriter, ImageDataset


def synthetic_archive(path: Path, resolution: int, count: int) -> Path:
    rng = np.random.RandomState(0)
    yy, xx = np.mgrid[0:resolution, 0:resolution] / resolution
    with ArchiveWriter(path) as w:
        for _ in range(count):
            base = np.stack([np.sin(6 * xx + rng.rand() * 6), np.cos(5 * yy + rng.rand() * 6), xx * yy], -1)
            img = np.clip((base * 0.5 + 0.5) * 255 + rng.randn(resolution, resolution, 3) * 8, 0, 255)
            w.add(img.astype(np.uint8))
    return path


def images_per_second(ds: ImageDataset, workers: int, batch: int = 32) -> float:
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False,
                                         persistent_workers=False)
    start = time.perf_counter()
    n = 0
    for images, _ in loader:
        n += len(images)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out: dict = {"images": args.images, "rounds": args.rounds, "throughput": []}
    with tempfile.TemporaryDirectory() as tmp:
        archives = {r: synthetic_archive(Path(tmp) / f"a{r}.zip", r, args.images) for r in (64, 128, 256)}
        for r, path in archives.items():
            for workers in (0, 2):
                rates = [images_per_second(ImageDataset(path), workers) for _ in range(args.rounds)]
                out["throughput"].append({"resolution": r, "workers": workers,
                                          "images_per_second": round(statistics.median(rates), 1)})
        # On-the-fly 256 -> 64 against a stored 64x64 archive (a stored mip level), alternated.
        ratios, fly_rates, mip_rates = [], [], []
        for _ in range(args.rounds):
            fly = images_per_second(ImageDataset(archives[256], resolution=64), 0)
            mip = images_per_second(ImageDataset(archives[64]), 0)
            fly_rates.append(fly)
            mip_rates.append(mip)
            ratios.append(mip / fly)
        cached = ImageDataset(archives[256], resolution=64, cache_bytes=1 << 30)
        images_per_second(cached, 0)  # fill the cache
        cached_rate = statistics.median(images_per_second(cached, 0) for _ in range(args.rounds))
        out["mip_study"] = {
            "on_the_fly_256_to_64_images_per_second": round(statistics.median(fly_rates), 1),
            "stored_64_images_per_second": round(statistics.median(mip_rates), 1),
            "stored_over_on_the_fly_median_ratio": round(statistics.median(ratios), 2),
            "on_the_fly_with_memory_cache_images_per_second": round(cached_rate, 1),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
