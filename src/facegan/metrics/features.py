"""Feeding images to a feature network in batches, from a generator or from a dataset, without
ever holding all the images: each batch is generated (or read), turned into features and dropped.

Generated images are drawn as the official metrics draw them: z ~ N(0, I), labels from the
dataset's own label distribution (conditional networks), no truncation, random noise, uint8
conversion; grayscale images are replicated to three channels for the RGB feature networks.
The noise maps, which the networks draw from torch's global generator, are drawn under a forked
state seeded from `seed` (`seeded_global_rng`): the same seed gives the same images, and the
caller's random state is left as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from facegan.metrics.stats import FeatureStats
from facegan.utils.images import to_uint8


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", dynamic_ncols=True, leave=False)


@contextlib.contextmanager
def seeded_global_rng(seed: int, device) -> Iterator[None]:
    """torch's global generators (CPU, and `device` if it is a GPU) seeded with `seed` inside the
    block, and restored to their previous state after it."""
    device = torch.device(device)
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def generated_batches(G, num: int, batch: int, device, labels=None, seed: int = 0) -> Iterator[torch.Tensor]:
    """uint8-range float images [B, 3, H, W] on `device`, `num` in all."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    rng = np.random.RandomState(seed)
    done = 0
    while done < num:
        n = min(batch, num - done)
        z = torch.randn([n, G.z_dim], generator=gen).to(device)
        c = None
        if G.c_dim:
            c = torch.from_numpy(np.stack([labels(int(i)) for i in rng.randint(1 << 31, size=n)])).to(device)
        noise_seed = int(torch.randint(1 << 31, [], generator=gen))
        with torch.inference_mode(), seeded_global_rng(noise_seed, device):
            img = G(z, c, truncation_psi=1.0, noise_mode="random")
            img = torch.from_numpy(to_uint8(img)).permute(0, 3, 1, 2).to(device).float()
        yield img.repeat(1, 3, 1, 1) if img.shape[1] == 1 else img
        done += n


def dataset_batches(dataset, num: int, batch: int, device) -> Iterator[torch.Tensor]:
    """The first `num` images of an ImageDataset as uint8-range float batches [B, 3, H, W]."""
    for start in range(0, num, batch):
        imgs = np.stack([dataset[i][0] for i in range(start, min(start + batch, num))])
        x = torch.from_numpy(imgs).to(device).float()
        yield x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


@torch.inference_mode()
def accumulate(batches: Iterator[torch.Tensor], detector, total: int, capture_all: bool = False,
               desc: str = "features", progress: bool = False) -> FeatureStats:
    stats = FeatureStats(detector.feature_dim, capture_all=capture_all, capacity=total)
    bar = _progress(total, desc, progress)
    for images in batches:
        stats.append(detector(images).double().cpu().numpy())
        if bar is not None:
            bar.update(len(images))
    if bar is not None:
        bar.close()
    return stats
