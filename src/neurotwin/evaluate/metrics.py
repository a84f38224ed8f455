"""Metric functions: pure, on NumPy arrays, built on scikit-learn.

Spike prediction is scored per 1 ms bin, pooled over every bin given: ROC AUC, true-positive
rate at a fixed false-positive rate (linear interpolation on the ROC curve), partial AUC up to
a false-positive rate (both the raw area and scikit-learn's McClish-standardised value), and the
ideal thresholds by Youden's J and by the G-mean with precision, recall and F1 there.
Voltages and rates are scored by explained variance, RMSE and MAE; calibration compares the
predicted and true firing rates in equal time bins of every simulation.

Functions return ``nan`` where a metric is undefined (one class only, constant arrays).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import (
    explained_variance_score,
    mean_absolute_error,
    roc_auc_score,
    roc_curve,
)

NAN = math.nan


def _binary(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).ravel().astype(bool)
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and y_score differ in size: {y.size} vs {s.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("y_score holds non-finite values")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < y.size


def roc(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) of scikit-learn's ``roc_curve`` (all points kept); a bin is
    predicted positive when ``score >= threshold``."""
    y, s = _binary(y_true, y_score)
    if not _both_classes(y):
        raise ValueError("the ROC curve needs both spike and non-spike bins")
    return roc_curve(y, s, drop_intermediate=False)


def spike_auc(y_true: Any, y_score: Any) -> float:
    """ROC AUC over all bins pooled; nan when one class is absent."""
    y, s = _binary(y_true, y_score)
    return float(roc_auc_score(y, s)) if _both_classes(y) else NAN


def tpr_at_fpr_curve(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """TPR at false-positive rate ``target`` on a ROC curve (fpr non-decreasing): the best TPR
    reached at exactly ``target``, else linear interpolation between the last point below it and
    the first point above it."""
    if not 0 <= target <= 1:
        raise ValueError(f"target FPR must be in [0, 1], got {target}")
    i = int(np.searchsorted(fpr, target, side="right"))  # fpr[:i] <= target < fpr[i:]
    if i == 0:
        return 0.0
    if fpr[i - 1] == target or i == len(fpr):
        return float(tpr[i - 1])
    x0, y0, x1, y1 = fpr[i - 1], tpr[i - 1], fpr[i], tpr[i]
    return float(y0 + (y1 - y0) * (target - x0) / (x1 - x0))


def tpr_at_fpr(y_true: Any, y_score: Any, target: float) -> float:
    y, s = _binary(y_true, y_score)
    if not _both_classes(y):
        return NAN
    fpr, tpr, _ = roc_curve(y, s)
    return tpr_at_fpr_curve(fpr, tpr, target)


def partial_auc_raw(y_true: Any, y_score: Any, max_fpr: float) -> float:
    """Area under the ROC curve for FPR in [0, ``max_fpr``] (between 0 and ``max_fpr``; divide
    by ``max_fpr`` for a [0, 1] scale), by the trapezoidal rule with the curve interpolated at
    ``max_fpr``."""
    if not 0 < max_fpr <= 1:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr}")
    y, s = _binary(y_true, y_score)
    if not _both_classes(y):
        return NAN
    fpr, tpr, _ = roc_curve(y, s)
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))
    xs = np.append(fpr[:stop], max_fpr)
    ys = np.append(tpr[:stop], tpr_at_fpr_curve(fpr, tpr, max_fpr))
    return float(np.trapezoid(ys, xs))


def partial_auc_mcclish(y_true: Any, y_score: Any, max_fpr: float) -> float:
    """scikit-learn's ``roc_auc_score(max_fpr=...)``: the McClish-standardised partial AUC
    (0.5 for a random classifier, 1 for a perfect one)."""
    y, s = _binary(y_true, y_score)
    if not _both_classes(y):
        return NAN
    return float(roc_auc_score(y, s, max_fpr=max_fpr))


def confusion_at(y_true: Any, y_score: Any, threshold: float) -> dict[str, float]:
    """TPR, FPR, precision, recall and F1 with bins ``score >= threshold`` predicted positive."""
    y, s = _binary(y_true, y_score)
    pred = s >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    precision = tp / (tp + fp) if tp + fp else NAN
    recall = tp / (tp + fn) if tp + fn else NAN
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else NAN
    return {
        "threshold": float(threshold),
        "tpr": recall,
        "fpr": fp / (fp + tn) if fp + tn else NAN,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def ideal_thresholds(y_true: Any, y_score: Any) -> dict[str, dict[str, float]]:
    """The ROC thresholds that maximise Youden's J = TPR − FPR and the G-mean
    sqrt(TPR · (1 − FPR)) (first such threshold, i.e. the highest, on ties), each with its
    confusion statistics (:func:`confusion_at`) and the value of its criterion."""
    y, s = _binary(y_true, y_score)
    if not _both_classes(y):
        empty = dict.fromkeys(("threshold", "tpr", "fpr", "precision", "recall", "f1"), NAN)
        return {"youden": {**empty, "j": NAN}, "gmean": {**empty, "gmean": NAN}}
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    finite = np.isfinite(thr)  # the first threshold (inf) predicts nothing positive
    fpr, tpr, thr = fpr[finite], tpr[finite], thr[finite]
    j = tpr - fpr
    g = np.sqrt(tpr * (1 - fpr))
    ij, ig = int(np.argmax(j)), int(np.argmax(g))
    return {
        "youden": {**confusion_at(y, s, thr[ij]), "j": float(j[ij])},
        "gmean": {**confusion_at(y, s, thr[ig]), "gmean": float(g[ig])},
    }


def spike_metrics(
    y_true: Any,
    y_score: Any,
    *,
    fprs: tuple[float, ...] = (0.002, 0.001),
    partial_fpr: float = 0.01,
) -> dict[str, Any]:
    """Every spike metric of one pooled set of bins. Keys: ``auc``, ``tpr_at_fpr_<f>``,
    ``partial_auc_<f>_raw`` (area, at most <f>), ``partial_auc_<f>_normalized`` (raw / <f>),
    ``partial_auc_<f>_mcclish`` (scikit-learn), ``youden``, ``gmean``, and the counts."""
    y, s = _binary(y_true, y_score)
    raw = partial_auc_raw(y, s, partial_fpr)
    out: dict[str, Any] = {
        "num_bins": int(y.size),
        "num_spike_bins": int(y.sum()),
        "auc": spike_auc(y, s),
    }
    for f in fprs:
        out[f"tpr_at_fpr_{f:g}"] = tpr_at_fpr(y, s, f)
    out[f"partial_auc_{partial_fpr:g}_raw"] = raw
    out[f"partial_auc_{partial_fpr:g}_normalized"] = raw / partial_fpr
    out[f"partial_auc_{partial_fpr:g}_mcclish"] = partial_auc_mcclish(y, s, partial_fpr)
    out.update(ideal_thresholds(y, s))
    return out


def regression_metrics(y_true: Any, y_pred: Any, *, scale: float = 1.0) -> dict[str, float]:
    """Explained variance, RMSE and MAE of all values pooled; RMSE and MAE are multiplied by
    ``scale`` (e.g. 1000 for spikes/ms → Hz). EV is nan for a constant target."""
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in size: {t.size} vs {p.size}")
    if t.size == 0:
        return {"explained_variance": NAN, "rmse": NAN, "mae": NAN}
    ev = float(explained_variance_score(t, p)) if np.var(t) > 0 else NAN
    rmse = float(np.sqrt(np.mean((t - p) ** 2)))
    return {
        "explained_variance": ev,
        "rmse": rmse * scale,
        "mae": float(mean_absolute_error(t, p)) * scale,
    }


def binned_means(x: Any, bins: int = 8) -> np.ndarray:
    """Means of a 1-D series in ``bins`` equal consecutive bins → (bins,); the last
    ``len(x) mod bins`` values are dropped."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if bins < 1 or a.size < bins:
        raise ValueError(f"need 1 <= bins <= T, got bins={bins}, T={a.size}")
    w = a.size // bins
    return a[: w * bins].reshape(bins, w).mean(axis=1)


def calibration(spikes: Any, probs: Any, *, bins: int = 8) -> dict[str, Any]:
    """Predicted vs true firing rate (Hz) in ``bins`` equal time bins of every simulation
    (rows of (N, T) arrays, or sequences of 1-D series of any lengths, 1 ms bins): the true rate
    is the spike count per bin, the predicted one the summed spike probability. Pooled over every
    (simulation, bin): Pearson ``r`` and ``explained_variance`` of the true rates by the
    predicted ones, plus the mean rates."""
    if len(spikes) != len(probs):
        raise ValueError(f"spikes and probs differ in length: {len(spikes)} vs {len(probs)}")
    true = np.concatenate([binned_means(s, bins) for s in spikes]) * 1000.0  # Hz
    pred = np.concatenate([binned_means(p, bins) for p in probs]) * 1000.0
    r = float(np.corrcoef(true, pred)[0, 1]) if true.std() > 0 and pred.std() > 0 else NAN
    ev = float(explained_variance_score(true, pred)) if true.var() > 0 else NAN
    return {
        "bins_per_sim": bins,
        "pearson_r": r,
        "explained_variance": ev,
        "true_rate_hz_mean": float(true.mean()),
        "pred_rate_hz_mean": float(pred.mean()),
    }


def per_sim_auc(spikes: Any, probs: Any) -> np.ndarray:
    """ROC AUC of every simulation (rows, or a sequence of 1-D series); nan for a simulation
    without spikes (or with spikes in every bin)."""
    return np.array([spike_auc(y, s) for y, s in zip(spikes, probs, strict=True)])
