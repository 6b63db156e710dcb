"""Low-pass FIR filter design for StyleGAN3 (Karras et al. 2021, "Alias-Free GAN", appendix C).

- `firwin`: the windowed-sinc design of scipy.signal.firwin with a Kaiser window whose beta comes from
  the transition width (Kaiser's empirical formulas), for a single low-pass band, normalised to unit
  DC gain. Same maths as scipy (checked in tests/test_stylegan3_filters.py where scipy is installed),
  written in NumPy so that building a network never needs scipy.
- `jinc_filter`: the radial ("jinc") 2-D low-pass of the -R configuration: J1(2 pi f_c r) / (pi r)
  on the sample grid, times the separable Kaiser window, normalised to sum 1.
- `design_lowpass_filter`: the per-layer choice of StyleGAN3 (1 tap -> no filter).

Frequencies are in the same units as `fs` (StyleGAN3: pixels per unit length of the image).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def kaiser_atten(numtaps: int, width: float) -> float:
    """Attenuation (dB) of a Kaiser FIR filter with `numtaps` taps and transition `width` (as a
    fraction of the Nyquist rate)."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(atten: float) -> float:
    """Kaiser's window parameter beta for a stopband attenuation of `atten` dB."""
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def kaiser_window(numtaps: int, beta: float) -> np.ndarray:
    """I0(beta sqrt(1 - (2n/(M-1) - 1)^2)) / I0(beta), n = 0..M-1 (float64)."""
    if numtaps == 1:
        return np.ones(1)
    n = np.arange(numtaps, dtype=np.float64)
    ratio = 2 * n / (numtaps - 1) - 1
    return np.i0(beta * np.sqrt(np.clip(1 - ratio ** 2, 0, None))) / np.i0(beta)


def firwin(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Low-pass windowed-sinc FIR: `cutoff` and transition `width` in the units of `fs` (float64)."""
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    nyq = fs / 2
    c = cutoff / nyq
    if not 0 < c < 1:
        raise ValueError(f"cutoff must be between 0 and fs/2, got {cutoff} (fs {fs})")
    beta = kaiser_beta(kaiser_atten(numtaps, width / nyq))
    m = np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2
    h = c * np.sinc(c * m) * kaiser_window(numtaps, beta)
    return h / h.sum()


def jinc_filter(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Radial 2-D low-pass [numtaps, numtaps] (float64): jinc times the separable Kaiser window."""
    x = (np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2) / fs
    r = np.hypot(x[None, :], x[:, None])
    arg = torch.from_numpy(2 * cutoff * math.pi * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = torch.special.bessel_j1(arg).numpy() / (math.pi * r)
    f = np.where(r == 0, cutoff, f)  # the limit J1(2 pi c r) / (pi r) -> c at r = 0 (odd tap counts only)
    w = kaiser_window(numtaps, kaiser_beta(kaiser_atten(numtaps, width / (fs / 2))))
    f = f * np.outer(w, w)
    return f / f.sum()


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """A StyleGAN3 layer's up/down filter: None for 1 tap, else a float32 1-D (separable) or 2-D (radial) filter."""
    if numtaps == 1:
        return None
    f = jinc_filter(numtaps, cutoff, width, fs) if radial else firwin(numtaps, cutoff, width, fs)
    return torch.as_tensor(f, dtype=torch.float32)
