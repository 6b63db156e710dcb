"""Does bf16 autocast train as well as fp32 on the CPU? Two short runs side by side.

    PYTHONPATH=src python benchmarks/bf16_training_study.py [--kimg 20] [--snap-kimg 5] [--resolution 32]

Trains the `tiny` StyleGAN2 preset on the 100 LFW faces scikit-image ships (as `make demo`), once
with `--precision fp32` and once with `--precision bf16`, from the same seed, with SWD (`swd1k`)
at every snapshot. Prints JSON: per snapshot, each run's mean losses over the preceding ticks
(G loss, D loss on reals and fakes, R1 and path-length penalties), its SWD, and its wall-clock
images/second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

LOSSES = ("Loss/G/loss", "Loss/D/loss_real", "Loss/D/loss_fake", "Loss/r1_penalty", "Loss/pl_penalty")


def run(data: str, outdir: Path, precision: str, args) -> dict:
    from facegan.training import resolve_options, train

    opts = resolve_options(data, arch="stylegan2", cfg="tiny", kimg=args.kimg, tick_kimg=1,
                           snap=int(args.snap_kimg), mirror=True, precision=precision, outdir=str(outdir),
                           metrics=("swd1k",), seed=args.seed, workers=0)
    result = train(opts, progress=False)
    ticks = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    swd = [json.loads(line) for line in (result.run_dir / "metric-swd1k.jsonl").read_text().splitlines()]
    rows = []
    for i, record in enumerate(swd):
        lo, hi = i * int(args.snap_kimg), (i + 1) * int(args.snap_kimg)
        window = ticks[lo:hi]
        rows.append({"kimg": round(window[-1]["Progress/kimg"], 3) if window else None,
                     "swd1k": round(record["results"]["swd1k"], 2),
                     **{k.split("/", 1)[1]: round(statistics.mean(t[k] for t in window if k in t), 4)
                        for k in LOSSES if any(k in t for t in window)}})
    img_s = [t["Timing/img_per_sec"] for t in ticks[1:] if "Timing/img_per_sec" in t]
    return {"precision": precision, "img_per_s_median": round(statistics.median(img_s), 1) if img_s else None,
            "snapshots": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kimg", type=float, default=20)
    parser.add_argument("--snap-kimg", type=float, default=5)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from facegan.data import CreateOptions, create_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "lfw.zip")
        create_dataset(CreateOptions(source="builtin:lfw-subset", dest=data, resolution=args.resolution))
        results = []
        for precision in ("fp32", "bf16"):
            results.append(run(data, Path(tmp) / "runs", precision, args))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"kimg": args.kimg, "resolution": args.resolution, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
