"""Evaluation figures: pure plotting functions ``plot_x(data, *, ax=None) -> Axes`` and the
report figures built from them. Uses matplotlib's object API on the Agg canvas (no pyplot
state, no display)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from neurotwin.train.checkpoint import temp_path

MAX_ROC_POINTS = 4000


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def save_figure(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Write a PNG atomically (temporary name, then rename)."""
    tmp = temp_path(path)
    try:
        FigureCanvasAgg(fig)
        with open(tmp, "xb") as fh:
            fig.savefig(fh, dpi=dpi, format="png")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def plot_roc(
    fpr: np.ndarray,
    tpr: np.ndarray,
    thresholds: np.ndarray,
    *,
    log_x: bool = False,
    marks: dict[str, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """ROC curve coloured by the decision threshold (spike probability, log colour scale);
    ``marks`` (label → FPR) draws vertical guides, e.g. the FPRs of the TPR@FPR metrics."""
    ax = _axes(ax)
    keep = np.isfinite(thresholds)
    fpr, tpr, thr = fpr[keep], tpr[keep], thresholds[keep]
    if fpr.size > MAX_ROC_POINTS:  # thin evenly along the curve, keeping its ends
        idx = np.unique(np.linspace(0, fpr.size - 1, MAX_ROC_POINTS).round().astype(int))
        fpr, tpr, thr = fpr[idx], tpr[idx], thr[idx]
    lo = max(float(thr[thr > 0].min(initial=1e-6)), 1e-6)
    hi = max(float(thr.max(initial=1.0)), lo * 10)
    pts = np.column_stack([fpr, tpr])
    segs = np.stack([pts[:-1], pts[1:]], axis=1)  # (n-1, 2, 2)
    lc = LineCollection(segs, cmap="viridis", norm=LogNorm(lo, hi), linewidths=2)
    lc.set_array(np.clip(thr[:-1], lo, hi))
    ax.add_collection(lc)
    ax.figure.colorbar(lc, ax=ax, label="threshold (spike probability)")
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(max(float(fpr[fpr > 0].min(initial=1e-5)), 1e-5), 1.0)
    else:
        ax.set_xlim(0, 1)
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    for label, f in (marks or {}).items():
        ax.axvline(f, color="tab:red", lw=0.8, ls=":")
        ax.text(f, 0.02, label, rotation=90, fontsize="x-small", color="tab:red", va="bottom")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate" + (" (log)" if log_x else ""))
    ax.set_ylabel("true-positive rate")
    return ax


def plot_auc_hist(aucs: np.ndarray, *, ax: Axes | None = None) -> Axes:
    """Histogram of per-simulation AUCs (nan — simulations without spikes — left out)."""
    ax = _axes(ax)
    a = np.asarray(aucs, dtype=float)
    a = a[np.isfinite(a)]
    if a.size:
        lo = min(float(a.min()), 0.9)
        ax.hist(a, bins=np.linspace(lo, 1.0, 21), color="tab:blue", edgecolor="white")
        ax.axvline(
            float(np.median(a)), color="k", lw=1, ls="--", label=f"median {np.median(a):.4f}"
        )
        ax.legend(fontsize="small")
    ax.set_xlabel("spike ROC AUC per simulation")
    ax.set_ylabel("simulations")
    ax.set_title(f"{a.size} simulations with spikes", fontsize="small")
    return ax


def plot_prediction(
    spikes: np.ndarray,
    prob: np.ndarray,
    soma_true: np.ndarray | None = None,
    soma_pred: np.ndarray | None = None,
    *,
    t0_ms: int = 0,
    axes: Sequence[Axes] | None = None,
) -> Sequence[Axes]:
    """True spikes vs predicted spike probability, and true vs predicted soma voltage (mV)."""
    n = 2 if soma_true is not None and soma_pred is not None else 1
    if axes is None:
        fig = Figure(figsize=(10, 1.8 * n + 0.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    t = t0_ms + np.arange(len(prob))
    ax = axes[0]
    ax.plot(t, prob, color="tab:orange", lw=0.8, label="predicted p(spike)")
    st = t[np.asarray(spikes, dtype=bool)]
    ax.vlines(st, 0, 1, color="k", lw=0.8, label="true spikes")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("spike")
    ax.legend(loc="upper right", fontsize="x-small", ncols=2)
    if n == 2:
        assert soma_true is not None and soma_pred is not None
        ax = axes[1]
        ax.plot(t, soma_true, color="k", lw=0.8, label="true (capped)")
        ax.plot(t, soma_pred, color="tab:orange", lw=0.8, label="predicted")
        ax.set_ylabel("soma (mV)")
        ax.legend(loc="upper right", fontsize="x-small", ncols=2)
    axes[-1].set_xlabel("time (ms)")
    return axes
