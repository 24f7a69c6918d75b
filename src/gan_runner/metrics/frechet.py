"""The Fréchet distance between Gaussians fitted to features (Heusel et al. 2017's FID):
d² = ‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2 tr((Σ1^½ Σ2 Σ1^½)^½).

tr((Σ1 Σ2)^½) is computed from symmetric eigendecompositions: Σ1^½ from eigh(Σ1), then the
eigenvalues of the symmetric PSD matrix Σ1^½ Σ2 Σ1^½, clamped at 0, square-rooted and summed.
It needs no scipy.linalg.sqrtm (whose disp argument SciPy 1.18 removed, breaking pytorch-fid
0.3.0), never turns complex, and stays exact for rank-deficient covariances (features that are
constant, or fewer samples than dimensions).
"""

import numpy as np


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of [N, d] features, in float64."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    root1 = _sqrt_psd(np.atleast_2d(sigma1))
    inner = root1 @ np.atleast_2d(sigma2) @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = np.atleast_1d(mu1) - np.atleast_1d(mu2)
    d2 = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean
    return max(float(d2), 0.0)  # rounding can take identical statistics a hair below 0
