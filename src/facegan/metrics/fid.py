"""Fréchet Inception Distance (Heusel et al. 2017):
FID = ||mu_1 - mu_2||² + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^(1/2)), over Inception pool3 features.

The trace of the matrix square root is computed from symmetric eigendecompositions:
Tr((S_1 S_2)^(1/2)) = Σ sqrt(λ_i) with λ_i the eigenvalues of S_1^(1/2) S_2 S_1^(1/2), a symmetric
positive semi-definite matrix similar to S_1 S_2. It equals the scipy.linalg.sqrtm formula of the
reference implementations (tested), is several times faster for 2048x2048 matrices, and stays real
and finite when the covariances are singular (fewer samples than dimensions).
"""

from __future__ import annotations

import numpy as np


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    diff = mu1 - mu2
    root1 = _sqrt_psd((sigma1 + sigma1.T) / 2)
    m = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eig, 0, None)).sum())
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)
