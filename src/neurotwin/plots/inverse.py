"""Plots of inverse estimators: predicted vs true with R², distributions of predictions,
residual correlations, calibration curves, learning curves, observed vs re-simulated trace.

Pure ``plot_x(data, *, ax=None) -> Axes`` functions plus :func:`estimator_figures`, which writes
the standard set of PNGs into a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # noqa: E402, I001
import numpy as np
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from neurotwin.plots import traces  # noqa: F401  (selects the headless backend)


def plot_pred_vs_true(
    true: np.ndarray, pred: np.ndarray, std: np.ndarray | None = None, *, name: str = "",
    ax: Axes | None = None,
) -> Axes:  # fmt: skip
    """Scatter of one parameter's estimates (N,) against the truth (N,), with R² in the title
    and optional ±1σ error bars."""
    ax = ax or plt.gca()
    sst = float(((true - true.mean()) ** 2).sum()) or 1e-12
    r2 = 1.0 - float(((true - pred) ** 2).sum()) / sst
    if std is not None and len(true) <= 400:
        ax.errorbar(true, pred, yerr=std, fmt="none", ecolor="0.7", lw=0.5, zorder=1)
    ax.scatter(true, pred, s=3, alpha=0.5, zorder=2)
    lo, hi = min(true.min(), pred.min()), max(true.max(), pred.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_title(f"{name}  R²={r2:.3f}", fontsize="small")
    ax.set_xlabel("true (scaled)")
    ax.set_ylabel("estimate (scaled)")
    return ax


def plot_residual_corr(corr: np.ndarray, names: list[str], *, ax: Axes | None = None) -> Axes:
    """Correlation matrix (K, K) of residuals as a heat map."""
    ax = ax or plt.gca()
    im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize="x-small")
    ax.set_yticks(range(len(names)), names, fontsize="x-small")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=6)
    ax.figure.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("residual correlation")
    return ax


def plot_calibration(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], *, ax: Axes | None = None
) -> Axes:
    """Observed vs nominal coverage, one line per method (``{label: (nominal, observed)}``)."""
    ax = ax or plt.gca()
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="ideal")
    for label, (nominal, observed) in curves.items():
        ax.plot(nominal, observed, "o-", label=label)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("observed coverage")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    ax.set_title("calibration")
    return ax


def plot_learning_curve(
    sizes: np.ndarray, r2: np.ndarray, *, label: str = "", ax: Axes | None = None
) -> Axes:
    """Mean test R² against the number of training traces (log x)."""
    ax = ax or plt.gca()
    ax.plot(sizes, r2, "o-", label=label or None)
    ax.set_xscale("log")
    ax.set_xlabel("training traces")
    ax.set_ylabel("mean test R²")
    ax.grid(alpha=0.3)
    if label:
        ax.legend(fontsize="small")
    return ax


def plot_trace_overlay(
    observed: np.ndarray,
    simulated: np.ndarray,
    dt_ms: float,
    *,
    refined: np.ndarray | None = None,
    ax: Axes | None = None,
) -> Axes:
    """An observed trace and the trace re-simulated at the estimate (and at the refined fit)
    (mV)."""
    ax = ax or plt.gca()
    t = np.arange(len(observed)) * dt_ms
    ax.plot(t, observed, lw=0.8, label="observed")
    ax.plot(np.arange(len(simulated)) * dt_ms, simulated, lw=0.8, alpha=0.8,
            label="re-simulated at estimate")  # fmt: skip
    if refined is not None:
        ax.plot(np.arange(len(refined)) * dt_ms, refined, lw=0.8, alpha=0.8,
                label="refined fit")  # fmt: skip
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("V (mV)")
    ax.legend(fontsize="small")
    return ax


def plot_ood_scores(
    scores: dict[str, np.ndarray], threshold: float, *, ax: Axes | None = None
) -> Axes:
    """Histograms of out-of-range scores per source (symmetric-log x, clipped to [-3, 1e3]:
    estimates at the output limit score 1e6 and are drawn at 1e3), with the flag threshold."""
    ax = ax or plt.gca()
    bins = np.concatenate([np.linspace(-3, 1, 17)[:-1], np.geomspace(1, 1e3, 31)])
    for label, s in scores.items():
        v = np.clip(np.where(np.isfinite(s), s, 1e3), -3, 1e3)
        ax.hist(v, bins=bins, histtype="step", weights=np.full(len(v), 1 / max(len(v), 1)),
                label=label)  # fmt: skip
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(-3, 1.2e3)
    ax.set_xlabel("out-of-range score")
    ax.set_ylabel("fraction of traces")
    ax.legend(fontsize="x-small", loc="upper right")
    return ax


def corner_figure(z: np.ndarray, names: list[str], max_k: int = 10) -> Figure:
    """1D histograms (diagonal) and pairwise 2D histograms of predictions (N, K)."""
    k = min(z.shape[1], max_k)
    fig, axes = plt.subplots(k, k, figsize=(1.6 * k + 1, 1.6 * k + 1), squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(z[:, i], bins=30, color="tab:blue")
            else:
                ax.hist2d(z[:, j], z[:, i], bins=30, cmap="Blues")
            ax.tick_params(labelsize=5)
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize="x-small")
            if j == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize="x-small")
    fig.suptitle("distribution of estimates (scaled)")
    fig.tight_layout()
    return fig


def refinement_figure(summary: dict[str, Any], far: float) -> Figure:
    """Per parameter: each refined fit's trace RMS (x, log) against its distance from the truth
    (y, scaled units); fits inside the tolerance and ``far`` or more away (equivalent fits)
    in red, the estimates' distances as grey ticks on the left."""
    names = list(summary["params"])
    tr = summary["traces"]
    rms = np.array([t["rms_mV"] for t in tr])
    err = np.abs(np.array([t["z"] for t in tr]) - np.array([t["z_true"] for t in tr]))
    err_est = np.abs(np.array([t["z_estimate"] for t in tr]) - np.array([t["z_true"] for t in tr]))
    tol = float(summary["tol_mV"])
    cols = min(5, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.4 * rows), squeeze=False,
                             sharex=True, sharey=True)  # fmt: skip
    x = np.maximum(rms, 1e-3)
    for j, ax in enumerate(axes.flat):
        if j >= len(names):
            ax.axis("off")
            continue
        eq = (rms <= tol) & (err[:, j] >= far)
        ax.scatter(x[~eq], err[~eq, j], s=8, color="tab:blue", alpha=0.6)
        ax.scatter(x[eq], err[eq, j], s=14, color="tab:red")
        ax.plot(np.full(len(err_est), x.min() * 0.7), err_est[:, j], "_", color="grey", ms=6)
        ax.axvline(tol, color="k", lw=0.6, ls=":")
        ax.axhline(far, color="k", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_title(names[j], fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("refined trace RMS (mV)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("|z − z_true|", fontsize=8)
    fig.suptitle(f"Refined fits of {summary['n']} traces: red = within {tol:g} mV but a "
                 f"parameter ≥ {far / 2:.0%} of its range off (grey: the estimates)",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def compensation_figure(summary: dict[str, dict[str, float]], tol_mV: float, shift: float,
                        title: str = "") -> Figure:  # fmt: skip
    """Per parameter: the trace change when it moves by ``shift`` with the others held, and
    what is left once they re-fit (medians, log scale), with the tolerance."""
    names = list(summary)
    alone = np.array([summary[n]["alone_mV"] for n in names])
    refit = np.array([summary[n]["refit_mV"] for n in names])
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.4))
    ax.barh(y + 0.2, alone, height=0.4, color="tab:grey", label="others held")
    ax.barh(y - 0.2, np.maximum(refit, 1e-3), height=0.4, color="tab:red",
            label="after the others re-fit")  # fmt: skip
    ax.axvline(tol_mV, color="k", lw=0.8, ls=":", label=f"{tol_mV:g} mV")
    ax.set_xscale("log")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel(f"trace RMS change (mV, median) when the parameter moves by ±{shift:g}")
    ax.set_title(title or "What the other parameters make up for", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` atomically as PNG and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def estimator_figures(
    z_true: np.ndarray, pred: Any, names: list[str], metrics: dict[str, Any], out: Path,
    extra_curves: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[Path]:  # fmt: skip
    """Write scatter.png, corner.png, residual_corr.png, calibration.png into ``out``."""
    k = len(names)
    cols = min(k, 5)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for j in range(k):
        plot_pred_vs_true(z_true[:, j], pred.mean[:, j], pred.std[:, j], name=names[j],
                          ax=axes.flat[j])  # fmt: skip
    for ax in axes.flat[k:]:
        ax.axis("off")
    fig.tight_layout()
    paths = [save_figure(fig, out / "scatter.png")]
    paths.append(save_figure(corner_figure(pred.mean, names), out / "corner.png"))
    fig, ax = plt.subplots(figsize=(0.5 * k + 3, 0.5 * k + 2.5))
    plot_residual_corr(np.asarray(metrics["residual_correlation"]), names, ax=ax)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "residual_corr.png"))
    cal = metrics["calibration"]
    curves = {
        "ensemble (calibrated σ)": (np.asarray(cal["nominal"]), np.asarray(cal["observed"])),
        "ensemble (raw spread)": (
            np.asarray(cal["nominal"]),
            np.asarray(cal["observed_uncalibrated"]),
        ),  # fmt: skip
        **(extra_curves or {}),
    }
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    plot_calibration(curves, ax=ax)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "calibration.png"))
    return paths
