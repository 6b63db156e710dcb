"""The images a detector learns from and is tested on: real photos from an archive, split once into
fitting, calibration and held-out parts, and fakes drawn from a network across truncation psi.

The split is a seeded permutation of the archive's indices, so `detect eval` finds the same held-out
photos again from the seed and the archive's size recorded in the detector file. Fakes come from
disjoint seed ranges: training from 0, calibration from 2^30, evaluation from 2^31; the i-th fake of
a range uses psis[i % len(psis)].
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from facegan.data.archive import Archive
from facegan.errors import ConfigError

TRAIN_SEEDS = 0
CALIBRATION_SEEDS = 2**30
EVAL_SEEDS = 2**31


@dataclass(frozen=True)
class RealSplit:
    fit: np.ndarray            # Archive indices the detector is fitted on.
    calibration: np.ndarray    # ... its threshold is chosen on.
    holdout: np.ndarray        # ... it is evaluated on (never seen in training).


def split_reals(count: int, holdout: float, calibration: float, seed: int) -> RealSplit:
    """Split `count` photos: the first `holdout` share of a seeded permutation is held out, the next
    `calibration` share calibrates, the rest fits."""
    if not (0 <= holdout < 1 and 0 <= calibration < 1 and holdout + calibration < 1):
        raise ConfigError(f"held-out and calibration shares must be in [0, 1) and sum below 1, got {holdout}, "
                          f"{calibration}")
    order = np.random.RandomState(seed).permutation(count)
    n_hold = int(round(count * holdout))
    n_cal = int(round(count * calibration))
    split = RealSplit(np.sort(order[n_hold + n_cal:]), np.sort(order[n_hold:n_hold + n_cal]),
                      np.sort(order[:n_hold]))
    if len(split.fit) < 2:
        raise ConfigError(f"the archive holds {count} photos: too few to fit a detector after holding out "
                          f"{n_hold} and calibrating on {n_cal}")
    return split


def file_sha256(path: str | os.PathLike) -> str | None:
    """The SHA-256 of a network file (None when there is no such file), to know it again in `detect eval`."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def read_reals(archive: Archive, indices: Sequence[int]) -> list[np.ndarray]:
    return [archive.read_image(int(i)) for i in indices]


def check_generator(G) -> None:
    if G.c_dim:
        raise ConfigError("detectors are trained on unconditional networks; this one is conditional "
                          f"({G.c_dim} classes)")


def psi_of(index: int, psis: Sequence[float]) -> float:
    return float(psis[index % len(psis)])


def fakes(G, first_seed: int, count: int, psis: Sequence[float], noise_mode: str = "const",
          batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """`count` fakes (uint8 NHWC) from seeds first_seed, first_seed + 1, ..., and the psi of each."""
    from facegan.generation import generate_images, parse_truncation

    check_generator(G)
    images = [None] * count
    psi_per_image = np.array([psi_of(i, psis) for i in range(count)])
    for psi in sorted(set(psis)):
        idx = [i for i in range(count) if psi_per_image[i] == psi]
        if not idx:
            continue
        out = generate_images(G, seeds=[first_seed + i for i in idx], trunc=parse_truncation(psi),
                              noise_mode=noise_mode, batch_size=batch_size)
        for i, image in zip(idx, out.images):
            images[i] = image
    stacked = np.stack(images) if count else np.zeros((0, G.img_resolution, G.img_resolution, G.img_channels),
                                                      np.uint8)
    return stacked, psi_per_image


def fake_batches(G, first_seed: int, batch: int, psis: Sequence[float],
                 noise_mode: str = "const") -> Iterator[np.ndarray]:
    """An endless stream of fresh fakes, `batch` at a time, for training on the fly."""
    seed = first_seed
    while True:
        images, _ = fakes(G, seed, batch, psis, noise_mode, batch_size=batch)
        yield images
        seed += batch
