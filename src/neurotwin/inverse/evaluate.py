"""Metrics of an inverse estimator: R² and RMSE per parameter, interval coverage, calibration.

All functions take scaled parameters ``z`` (N, K) (the [-1, 1] scale of the prior box), so the
numbers do not depend on units.
"""

from __future__ import annotations

import math

import numpy as np

GAUSS_LEVELS = (0.5, 0.6827, 0.8, 0.9, 0.9545, 0.99)


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two (N, K) arrays of one shape, got {a.shape} and {b.shape}")


def r2_per_param(z_true: np.ndarray, z_pred: np.ndarray) -> np.ndarray:
    """Coefficient of determination per parameter, (K,): 1 − SSE / SST."""
    _check(z_true, z_pred)
    sse = ((z_true - z_pred) ** 2).sum(0)
    sst = ((z_true - z_true.mean(0)) ** 2).sum(0)
    return 1.0 - sse / np.maximum(sst, 1e-12)


def rmse_per_param(z_true: np.ndarray, z_pred: np.ndarray) -> np.ndarray:
    _check(z_true, z_pred)
    return np.sqrt(((z_true - z_pred) ** 2).mean(0))


def coverage(z_true: np.ndarray, mean: np.ndarray, std: np.ndarray, k: float) -> np.ndarray:
    """Fraction of samples whose truth lies within ``mean ± k·std``, per parameter (K,)."""
    _check(z_true, mean)
    _check(z_true, std)
    return (np.abs(z_true - mean) <= k * std).mean(0)


def gaussian_k(level: float) -> float:
    """Half-width in σ of the central interval holding ``level`` of a normal distribution."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def calibration_curve(
    z_true: np.ndarray, mean: np.ndarray, std: np.ndarray, levels: tuple[float, ...] = GAUSS_LEVELS
) -> tuple[np.ndarray, np.ndarray]:
    """Observed coverage of Gaussian central intervals at each nominal level, averaged over
    parameters: (nominal (L,), observed (L,))."""
    obs = [float(coverage(z_true, mean, std, gaussian_k(lv)).mean()) for lv in levels]
    return np.asarray(levels), np.asarray(obs)


def sample_coverage(
    z_true: np.ndarray, samples: np.ndarray, levels: tuple[float, ...] = GAUSS_LEVELS
) -> tuple[np.ndarray, np.ndarray]:
    """Expected coverage from posterior samples ``(S, N, K)``: at each level, the fraction of
    (sample, parameter) pairs whose truth lies in the central ``level`` interval of the
    marginal samples. Returns (nominal (L,), observed (L,))."""
    if samples.ndim != 3 or samples.shape[1:] != z_true.shape:
        raise ValueError(
            f"samples must be (S, N, K) with (N, K)={z_true.shape}, got {samples.shape}"
        )
    obs = []
    for lv in levels:
        lo = np.quantile(samples, 0.5 - lv / 2, axis=0)  # (N, K)
        hi = np.quantile(samples, 0.5 + lv / 2, axis=0)
        obs.append(float(((z_true >= lo) & (z_true <= hi)).mean()))
    return np.asarray(levels), np.asarray(obs)


def uncertainty_summary(z_true: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """Coverage of ±1σ and ±2σ (averaged over parameters) and the mean σ."""
    return {
        "coverage_1sigma": float(coverage(z_true, mean, std, 1.0).mean()),
        "coverage_2sigma": float(coverage(z_true, mean, std, 2.0).mean()),
        "mean_std": float(std.mean()),
    }


def regression_summary(
    z_true: np.ndarray, z_pred: np.ndarray, names: list[str] | None = None
) -> dict[str, object]:
    """R² and RMSE per parameter (by name) and their means."""
    r2 = r2_per_param(z_true, z_pred)
    rmse = rmse_per_param(z_true, z_pred)
    names = names or [f"p{i}" for i in range(len(r2))]
    return {
        "r2": {n: float(v) for n, v in zip(names, r2, strict=True)},
        "rmse_scaled": {n: float(v) for n, v in zip(names, rmse, strict=True)},
        "mean_r2": float(r2.mean()),
        "mean_rmse_scaled": float(rmse.mean()),
    }


def residual_correlation(z_true: np.ndarray, z_pred: np.ndarray) -> np.ndarray:
    """Correlation matrix (K, K) of the residuals z_pred − z_true."""
    _check(z_true, z_pred)
    res = z_pred - z_true
    if len(res) < 2:
        return np.full((res.shape[1], res.shape[1]), math.nan)
    c = np.corrcoef(res, rowvar=False)
    return np.atleast_2d(c)


def traded_pairs(
    corr: np.ndarray, names: list[str], threshold: float = 0.3
) -> list[tuple[str, str, float]]:
    """Parameter pairs whose residuals correlate with ``|r| >= threshold``, strongest first:
    the pairs the trace cannot tell apart well (a negative r: one is overestimated when the
    other is underestimated, as when the trace fixes their product or sum)."""
    corr = np.asarray(corr, dtype=float)
    k = len(names)
    if corr.shape != (k, k):
        raise ValueError(f"expected a ({k}, {k}) correlation matrix, got {corr.shape}")
    pairs = [
        (names[i], names[j], float(corr[i, j]))
        for i in range(k)
        for j in range(i + 1, k)
        if math.isfinite(corr[i, j]) and abs(corr[i, j]) >= threshold
    ]
    return sorted(pairs, key=lambda p: -abs(p[2]))
