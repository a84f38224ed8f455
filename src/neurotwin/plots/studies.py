"""Figures of the studies: AUC per config side by side, AUC against size, Pareto fronts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["pareto_front", "plot_auc_bars", "plot_auc_vs_size"]

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def plot_auc_bars(
    rows: Sequence[dict[str, Any]],
    *,
    ax: Axes | None = None,
    group: str = "neuron",
    x: str = "config",
    y: str = "auc",
) -> Axes:
    """Bars of ``y`` per ``x`` (configs on the x axis), one colour per ``group`` (neuron)."""
    ax = _axes(ax, (6.5, 3.8))
    groups = list(dict.fromkeys(r[group] for r in rows))
    xs = list(dict.fromkeys(r[x] for r in rows))
    width = 0.8 / max(len(groups), 1)
    values = [r[y] for r in rows if r[y] is not None]
    for gi, g in enumerate(groups):
        heights = []
        for xv in xs:
            match = [r[y] for r in rows if r[group] == g and r[x] == xv]
            heights.append(match[0] if match and match[0] is not None else np.nan)
        pos = np.arange(len(xs)) + (gi - (len(groups) - 1) / 2) * width
        bars = ax.bar(pos, heights, width, label=g, color=COLOURS[gi % len(COLOURS)])
        ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=1)
    ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
    ax.set_xlabel(x)
    ax.set_ylabel("spike ROC AUC (test)" if y == "auc" else y)
    if values:
        lo = min(values)
        ax.set_ylim(max(0.0, lo - 0.1 * (1 - lo) - 0.02), 1.0)
    ax.legend(frameon=False, fontsize=8, loc="best")
    ax.grid(axis="y", alpha=0.3)
    return ax


def pareto_front(sizes: Sequence[float], scores: Sequence[float]) -> np.ndarray:
    """Indices of the points no other point beats: smaller-or-equal size and higher-or-equal
    score, one of them strictly. Sorted by size."""
    s = np.asarray(sizes, dtype=float)
    v = np.asarray(scores, dtype=float)
    keep = []
    for i in range(len(s)):
        dominated = np.any((s <= s[i]) & (v >= v[i]) & ((s < s[i]) | (v > v[i])))
        if not dominated and np.isfinite(v[i]):
            keep.append(i)
    return np.array(sorted(keep, key=lambda i: s[i]), dtype=int)


def plot_auc_vs_size(
    rows: Sequence[dict[str, Any]],
    size: str,
    *,
    ax: Axes | None = None,
    colour_by: str = "family",
    label: str = "name",
    target: float | None = None,
    size_label: str | None = None,
    pareto: bool = True,
) -> Axes:
    """AUC against a size column (log x), coloured by ``colour_by``; the Pareto front as a step
    line and ``target`` (the AUC to beat) as a dashed line."""
    ax = _axes(ax, (6.0, 4.0))
    fams = list(dict.fromkeys(r[colour_by] for r in rows))
    for fi, f in enumerate(fams):
        mine = [r for r in rows if r[colour_by] == f and r["auc"] is not None]
        ax.scatter(
            [r[size] for r in mine],
            [r["auc"] for r in mine],
            color=COLOURS[fi % len(COLOURS)],
            label=f,
            s=28,
            zorder=3,
        )
        for r in mine:
            ax.annotate(
                str(r[label]),
                (r[size], r["auc"]),
                fontsize=6,
                alpha=0.8,
                xytext=(3, 2),
                textcoords="offset points",
            )
    ok = [r for r in rows if r["auc"] is not None and r[size] is not None]
    if pareto and ok:
        idx = pareto_front([r[size] for r in ok], [r["auc"] for r in ok])
        ax.step(
            [ok[i][size] for i in idx],
            [ok[i]["auc"] for i in idx],
            where="post",
            color="0.3",
            lw=1.0,
            label="Pareto front",
        )
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=0.8, label=f"AUC to beat {target:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel(size_label or size)
    ax.set_ylabel("spike ROC AUC")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    return ax
