"""The spectral feature of Durall et al. ("Unmasking DeepFakes with simple Features", 2019; "Watch
your Up-Convolution", CVPR 2020): the azimuthally averaged power spectrum.

An image becomes grey, its 2-D discrete Fourier transform is centred, the magnitude goes to a log
scale (20 log |F|), and the spectrum is averaged over rings of equal distance from the centre
(rounded to whole frequency steps, out to the corners). That 1-D profile, from the lowest to the
highest frequency, is scaled to [0, 1] per image, as in the authors' code, so the classifier sees
its shape rather than the image's contrast. Up-sampling layers leave their traces in the
high-frequency end of it.
"""

from __future__ import annotations

import torch

LUMA = (0.299, 0.587, 0.114)   # ITU-R 601, as Pillow's 'L' conversion.
EPS = 1e-8


def ring_index(size: int) -> torch.Tensor:
    """[size, size] int: each frequency's distance from the centre of the shifted spectrum, rounded."""
    c = size // 2
    yy, xx = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    return torch.sqrt((yy * yy + xx * xx).double()).round().long()


def spectrum_bins(size: int) -> int:
    """The length of the profile of a size x size image (one bin per ring, centre to corner)."""
    return int(ring_index(size).max()) + 1


def azimuthal_spectrum(images: torch.Tensor) -> torch.Tensor:
    """float NCHW (any range, C = 1 or 3, square) -> [N, spectrum_bins(H)] profiles in [0, 1]."""
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[2] != images.shape[3]:
        raise ValueError(f"expected square NCHW images with 1 or 3 channels, got {tuple(images.shape)}")
    x = images.double()
    if x.shape[1] == 3:
        x = sum(w * x[:, i] for i, w in enumerate(LUMA))
    else:
        x = x[:, 0]
    size = x.shape[-1]
    spectrum = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    magnitude = 20 * torch.log(spectrum.abs() + EPS)
    rings = ring_index(size).flatten().to(x.device)
    bins = int(rings.max()) + 1
    sums = torch.zeros(x.shape[0], bins, dtype=x.dtype, device=x.device)
    sums.index_add_(1, rings, magnitude.flatten(1))
    profile = sums / torch.bincount(rings, minlength=bins).to(x.dtype)
    lo = profile.min(dim=1, keepdim=True).values
    hi = profile.max(dim=1, keepdim=True).values
    return ((profile - lo) / (hi - lo).clamp_min(EPS)).float()
