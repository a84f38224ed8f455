"""Figures of the ablation study: AUC against size per variant, firing-rate histograms, and the
main effects of the morphology × synapse design."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["panels", "plot_auc_lines", "plot_effects", "plot_rate_hist"]

COLOURS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
)


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    return panels(1, size)[1][0]


def panels(n: int, size: tuple[float, float] = (4.2, 3.4)) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` side-by-side panels, each ``size`` inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(size[0] * n, size[1]), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(np.atleast_1d(fig.subplots(1, n, squeeze=False)[0]))


def _colour(name: str, order: Sequence[str] | None) -> str:
    if order and name in order:
        return COLOURS[list(order).index(name) % len(COLOURS)]
    return COLOURS[sum(map(ord, name)) % len(COLOURS)]


def _size(v: float) -> str:
    return f"{v / 1e6:.2g}M" if v >= 1e6 else f"{v / 1e3:.3g}k" if v >= 1e3 else f"{v:g}"


def plot_auc_lines(
    rows: Sequence[dict[str, Any]],
    *,
    ax: Axes | None = None,
    group: str = "variant",
    x: str = "params",
    y: str = "auc",
    label: str = "config",
    title: str = "",
    order: Sequence[str] | None = None,
) -> Axes:
    """``y`` against ``x`` (log x), one line per ``group`` through its points sorted by ``x``,
    each point annotated with its ``label`` (the TCN config). ``order`` fixes the colours."""
    ax = _axes(ax, (5.0, 3.6))
    groups = list(dict.fromkeys(r[group] for r in rows))
    for g in groups:
        mine = sorted(
            (r for r in rows if r[group] == g and r[y] is not None and r[x] is not None),
            key=lambda r: r[x],
        )
        if not mine:
            continue
        colour = _colour(g, order or groups)
        ax.plot([r[x] for r in mine], [r[y] for r in mine], "o-", color=colour, label=g, ms=4)
        for r in mine:
            ax.annotate(
                str(r[label]),
                (r[x], r[y]),
                fontsize=6,
                xytext=(3, 2),
                textcoords="offset points",
                color=colour,
            )
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ticks = sorted({float(r[x]) for r in rows if r[x] is not None})
    ax.set_xticks(ticks, [_size(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("parameters" if x == "params" else x)
    ax.set_ylabel("spike ROC AUC (test)" if y == "auc" else y)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    return ax


def plot_rate_hist(
    rates: Mapping[str, np.ndarray],
    *,
    ax: Axes | None = None,
    bins: int | np.ndarray = 20,
    title: str = "",
    order: Sequence[str] | None = None,
) -> Axes:
    """Step histograms of the per-simulation firing rate (Hz) of each variant, as fractions of
    its simulations, on shared bins; the mean as a dotted vertical line."""
    ax = _axes(ax, (5.0, 3.4))
    values = [np.asarray(v, dtype=float) for v in rates.values() if np.size(v)]
    if isinstance(bins, int):
        hi = max((float(v.max()) for v in values), default=1.0)
        edges = np.linspace(0.0, max(hi, 1e-3) * 1.02, bins + 1)
    else:
        edges = np.asarray(bins, dtype=float)
    names = list(rates)
    for name, v in rates.items():
        v = np.asarray(v, dtype=float)
        if not v.size:
            continue
        colour = _colour(name, order or names)
        weights = np.full(v.shape, 1.0 / v.size)
        ax.hist(v, bins=edges, weights=weights, histtype="step", lw=1.4, color=colour, label=name)
        ax.axvline(float(v.mean()), color=colour, ls=":", lw=1.0)
    ax.set_xlabel("firing rate per simulation (Hz)")
    ax.set_ylabel("fraction of simulations")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    return ax


EFFECTS = ("morphology", "synapse", "interaction")


def plot_effects(
    effects: Sequence[dict[str, Any]],
    *,
    ax: Axes | None = None,
    ylabel: str = "effect on AUC",
    title: str = "",
) -> Axes:
    """Bars of the 2×2 main effects (long − short, NMDA − AMPA) and the interaction, per TCN
    config (one group of bars per ``effects`` entry, keyed by its ``config``); the point-to-cable
    difference (their sum of main effects) as a black tick."""
    ax = _axes(ax, (5.0, 3.4))
    width = 0.8 / len(EFFECTS)
    xs = np.arange(len(effects))
    for k, name in enumerate(EFFECTS):
        heights = [e[name] for e in effects]
        pos = xs + (k - (len(EFFECTS) - 1) / 2) * width
        ax.bar(pos, heights, width, label=name, color=COLOURS[k])
    ax.scatter(
        xs, [e["total"] for e in effects], marker="_", s=400, color="k", label="cable − point"
    )
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xticks(xs, [str(e["config"]) for e in effects])
    ax.set_xlabel("TCN config")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return ax
