"""Face alignment throughput: `facegan dataset create --align ffhq` photos/second, and the share of
the time spent detecting (dlib's detector and its 68 landmarks) against everything else (decoding,
the FFHQ quad, yaw and alignment, PNG encoding).

    PYTHONPATH=src python benchmarks/align_throughput.py [--photos 64] [--rounds 5]

Prints JSON with
- `phases`: milliseconds per photo for each step, in one process (median of `--rounds`), for the
  astronaut as scikit-image ships it (512²) aligned to 256², and three times larger (1536²) aligned
  to 1024² and to 256²; `detect_share` is the detector's part of the total; `encode_pillow` (not in
  the total) is Pillow's PNG encoder at the official dataset_tool's settings (`compress_level=0`),
  timed in the same rounds, against `encode` (facegan's `encode_png`: the same pixels, no row filters);
- `create`: photos/second of `create_dataset` on a folder of `--photos` JPEGs (the astronaut,
  mirrored, rotated and scaled) with 1 and 2 worker processes (pool start-up included; 64 photos
  are enough for two workers to reach their steady state on 2 cores, 16 are not).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from facegan.data import CreateOptions, create_dataset
from facegan.data.archive import encode_png
from facegan.data.decode import decode_image
from facegan.data.faces import AlignOptions, align_ffhq, detect_faces, estimate_yaw, ffhq_quad
from facegan.data.faces.align import QUAD_PER_BOX


def jpeg(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def pillow_png(a: np.ndarray) -> bytes:
    """The official dataset_tool's encoder: Pillow, compress_level=0 (Pillow still filters every row)."""
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="png", compress_level=0, optimize=False)
    return buf.getvalue()


def phases(data: bytes, opts: AlignOptions, rounds: int) -> dict:
    times: dict[str, list[float]] = {"decode": [], "detect": [], "align": [], "encode": [], "encode_pillow": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        photo, _ = decode_image(data)
        t1 = time.perf_counter()
        face = detect_faces(photo, opts.detector, min_face=opts.smallest_quad / QUAD_PER_BOX)[0]
        t2 = time.perf_counter()
        quad = ffhq_quad(face.landmarks)
        estimate_yaw(face.landmarks)
        image = align_ffhq(photo, quad, opts.resolution)
        t3 = time.perf_counter()
        encode_png(image)
        t4 = time.perf_counter()
        pillow_png(image)
        t5 = time.perf_counter()
        for name, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            times[name].append(dt * 1000)
    ms = {name: round(statistics.median(v), 2) for name, v in times.items()}
    ms["total"] = round(sum(v for name, v in ms.items() if name != "encode_pillow"), 2)
    ms["detect_share"] = round(ms["detect"] / ms["total"], 3)
    return ms


def variants(astronaut: np.ndarray, count: int) -> list[np.ndarray]:
    img = Image.fromarray(astronaut)
    pool = [astronaut, astronaut[:, ::-1], np.asarray(img.rotate(10, Image.Resampling.BICUBIC, expand=True)),
            np.asarray(img.resize((640, 640), Image.Resampling.LANCZOS))]
    return [np.ascontiguousarray(pool[i % len(pool)]) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from skimage import data

    # Imported here, not at the top: spawned workers re-import this script, and _machine imports torch.
    sys.path.insert(0, str(Path(__file__).parent))
    from _machine import machine

    astronaut = data.astronaut()
    large = np.asarray(Image.fromarray(astronaut).resize((1536, 1536), Image.Resampling.LANCZOS))
    detect_faces(astronaut)  # load the models once, outside the timings
    result: dict = {"machine": machine(), "phases": {
        "512² -> 256²": phases(jpeg(astronaut), AlignOptions(resolution=256), args.rounds),
        "1536² -> 1024²": phases(jpeg(large), AlignOptions(resolution=1024), args.rounds),
        "1536² -> 256²": phases(jpeg(large), AlignOptions(resolution=256), args.rounds),
    }, "create": {}}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        for i, photo in enumerate(variants(astronaut, args.photos)):
            (src / f"{i:03d}.jpg").write_bytes(jpeg(photo))
        for workers in (1, 2):
            start = time.perf_counter()
            report = create_dataset(CreateOptions(source=str(src), dest=str(Path(tmp) / f"w{workers}.zip"),
                                                  resolution=256, align="ffhq", workers=workers, progress=False))
            elapsed = time.perf_counter() - start
            result["create"][f"workers={workers}"] = {"photos_per_s": round(args.photos / elapsed, 2),
                                                      "faces": report.written, "seconds": round(elapsed, 2)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
