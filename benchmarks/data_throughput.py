"""Dataset throughput: the training loader (facegan.data.ImageDataset through a DataLoader) and the
dataset tool (facegan.data.create_dataset).

    PYTHONPATH=src python benchmarks/data_throughput.py [--images 512] [--photos 1000] [--rounds 5]

Prints JSON with
- `throughput`: loader images/second at 64², 128² and 256² with 0 and 2 workers;
- `mip_study`: the measurement behind serving lower resolutions on the fly: reading a 256² archive
  at 64² (decode + box filter) against reading an archive stored at 64² (what a stored mip level
  would cost), alternated over several rounds in one process (the median ratio is reported), and
  the same with the decoded images kept in memory;
- `create`: `facegan dataset create` images/second and CPU milliseconds per image (all processes),
  CelebA-like 178x218 JPEGs to a 64² archive, with 1 and 2 conversion processes, alternated.

The images are synthetic photo-like RGB pictures (smooth gradients plus noise, so decoding costs
about what it costs on photos), written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facegan.data import ArchiveWriter, ImageDataset


def photo_like(rng: np.random.RandomState, height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * xx + rng.rand() * 6), np.cos(5 * yy + rng.rand() * 6), xx * yy], -1)
    return np.clip((base * 0.5 + 0.5) * 255 + rng.randn(height, width, 3) * 8, 0, 255).astype(np.uint8)


def synthetic_archive(path: Path, resolution: int, count: int) -> Path:
    rng = np.random.RandomState(0)
    with ArchiveWriter(path) as w:
        for _ in range(count):
            w.add(photo_like(rng, resolution, resolution))
    return path


def images_per_second(ds: ImageDataset, workers: int, batch: int = 32) -> float:
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False,
                                         persistent_workers=False)
    start = time.perf_counter()
    n = 0
    for images, _ in loader:
        n += len(images)
    return n / (time.perf_counter() - start)


def loader_figures(tmp: Path, count: int, rounds: int) -> dict:
    out: dict = {"throughput": []}
    archives = {r: synthetic_archive(tmp / f"a{r}.zip", r, count) for r in (64, 128, 256)}
    for r, path in archives.items():
        for workers in (0, 2):
            rates = [images_per_second(ImageDataset(path), workers) for _ in range(rounds)]
            out["throughput"].append({"resolution": r, "workers": workers,
                                      "images_per_second": round(statistics.median(rates), 1)})
    # On-the-fly 256 -> 64 against a stored 64x64 archive (a stored mip level), alternated.
    ratios, fly_rates, mip_rates = [], [], []
    for _ in range(rounds):
        fly = images_per_second(ImageDataset(archives[256], resolution=64), 0)
        mip = images_per_second(ImageDataset(archives[64]), 0)
        fly_rates.append(fly)
        mip_rates.append(mip)
        ratios.append(mip / fly)
    cached = ImageDataset(archives[256], resolution=64, cache_bytes=1 << 30)
    images_per_second(cached, 0)  # fill the cache
    cached_rate = statistics.median(images_per_second(cached, 0) for _ in range(rounds))
    out["mip_study"] = {
        "on_the_fly_256_to_64_images_per_second": round(statistics.median(fly_rates), 1),
        "stored_64_images_per_second": round(statistics.median(mip_rates), 1),
        "stored_over_on_the_fly_median_ratio": round(statistics.median(ratios), 2),
        "on_the_fly_with_memory_cache_images_per_second": round(cached_rate, 1),
    }
    return out


def create_figures(tmp: Path, count: int, rounds: int) -> dict:
    """`facegan dataset create` as a user runs it (a fresh process), 1 and 2 conversion processes
    alternated; wall-clock rate and CPU time per image (all processes), medians over the rounds."""
    photos = tmp / "celeba" / "img_align_celeba"
    photos.mkdir(parents=True)
    rng = np.random.RandomState(1)
    for i in range(count):
        Image.fromarray(photo_like(rng, 218, 178)).save(photos / f"{i + 1:06d}.jpg", quality=95)
    wall: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    for r in range(rounds):
        for workers in (1, 2) if r % 2 == 0 else (2, 1):
            dest = tmp / f"c{workers}.zip"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "facegan", "dataset", "create", "--source", str(tmp / "celeba"),
                            "--dest", str(dest), "--resolution", "64", "--workers", str(workers), "--quiet"],
                           check=True, capture_output=True)
            wall[workers].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[workers].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            dest.unlink()
    med = {w: (statistics.median(wall[w]), statistics.median(cpu[w])) for w in (1, 2)}
    return {"create": {
        "source": f"{count} CelebA-like 178x218 JPEGs -> 64x64 (celeba crop, lanczos), CLI in a fresh process",
        "workers_1_images_per_second": round(count / med[1][0], 1),
        "workers_2_images_per_second": round(count / med[2][0], 1),
        "workers_1_cpu_ms_per_image": round(1000 * med[1][1] / count, 3),
        "workers_2_cpu_ms_per_image": round(1000 * med[2][1] / count, 3),
    }}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="images per loader archive")
    parser.add_argument("--photos", type=int, default=2000, help="photos for the dataset tool")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["loader", "create"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out: dict = {"images": args.images, "photos": args.photos, "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "loader"):
            out.update(loader_figures(Path(tmp), args.images, args.rounds))
        if args.only in (None, "create"):
            out.update(create_figures(Path(tmp), args.photos, args.rounds))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
