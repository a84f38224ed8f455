"""Figures of the LIF study: the linear twin's learned filter against the cell's own kernel, and
an example test simulation with every twin's prediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["lif_traces_figure", "plot_filter_vs_kernel", "plot_lif_example"]

TWIN_COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:purple")


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_filter_vs_kernel(
    fit: Mapping[str, Any], *, ax: Axes | None = None, title: str = ""
) -> Axes:
    """The learned filter (mean over excitatory and over inhibitory inputs, ± 1 s.d. over the
    inputs, times the least-squares factor ``scale``) against the true kernel per event in mV
    (excitatory positive, inhibitory negative), against the time before the output.

    ``fit`` holds ``lags_ms``, ``true_exc_mV``, ``true_inh_mV``, ``learned_exc``,
    ``learned_inh``, ``learned_exc_sd``, ``learned_inh_sd`` (learned units), ``scale``,
    ``r_exc`` and ``r_inh`` (as :func:`neurotwin.experiments.lif.compare_kernels` returns)."""
    if ax is None:
        ax = _figure((6.0, 3.8)).add_subplot()
    lags = np.asarray(fit["lags_ms"], dtype=float)
    k = float(fit["scale"])
    for kind, colour, sign in (("exc", "tab:red", "+"), ("inh", "tab:blue", "−")):
        true = np.asarray(fit[f"true_{kind}_mV"], dtype=float)
        mean = k * np.asarray(fit[f"learned_{kind}"], dtype=float)
        sd = abs(k) * np.asarray(fit[f"learned_{kind}_sd"], dtype=float)
        ax.plot(lags, true, color="k", lw=1.2, ls="--" if kind == "inh" else "-")
        ax.fill_between(lags, mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)
        r = fit.get(f"r_{kind}")
        label = f"learned {kind} (r = {r:+.3f})" if r is not None else f"learned {kind}"
        ax.plot(lags, mean, color=colour, lw=1.4, label=label)
        ax.plot([], [], color="k", ls="--" if kind == "inh" else "-", label=f"true {kind} ({sign})")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel("time before the output (ms)")
    ax.set_ylabel("kernel per input event (mV)")
    ax.set_title(title or f"learned filter × {k:.3g} vs the LIF kernel", fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    return ax


def plot_lif_example(
    example: Mapping[str, Any], *, axes: Sequence[Axes] | None = None
) -> list[Axes]:
    """Three stacked panels of one simulation: input events per ms (excitatory up, inhibitory
    down), the soma voltage (true and each twin's prediction, mV), and the true spikes with each
    twin's spike probability.

    ``example`` holds ``exc_events`` and ``inh_events`` (T,), ``soma_mV`` (T,), ``spikes`` (T,)
    bool, ``soma_pred`` and ``p_spike`` (mappings twin → (T,)), optionally ``t0_ms``."""
    if axes is None:
        axes = list(_figure((11.0, 6.0)).subplots(3, 1, sharex=True))
    exc = np.asarray(example["exc_events"], dtype=float)
    t = float(example.get("t0_ms", 0)) + np.arange(exc.size)
    ax = axes[0]
    ax.fill_between(t, 0, exc, color="tab:red", lw=0, step="mid", label="excitatory")
    ax.fill_between(
        t, 0, -np.asarray(example["inh_events"], dtype=float), color="tab:blue", lw=0, step="mid"
    )
    ax.plot([], [], color="tab:blue", label="inhibitory")
    ax.set_ylabel("events / ms")
    ax.legend(loc="upper right", fontsize="x-small", ncols=2, frameon=False)
    ax = axes[1]
    ax.plot(t, example["soma_mV"], color="k", lw=0.9, label="true (capped)")
    for i, (name, v) in enumerate(example["soma_pred"].items()):
        ax.plot(t, v, color=TWIN_COLOURS[i % len(TWIN_COLOURS)], lw=0.8, label=name)
    ax.set_ylabel("soma (mV)")
    ax.legend(loc="upper right", fontsize="x-small", ncols=3, frameon=False)
    ax = axes[2]
    st = t[np.asarray(example["spikes"], dtype=bool)]
    ax.vlines(st, 0, 1, color="k", lw=0.8, label="true spikes")
    for i, (name, p) in enumerate(example["p_spike"].items()):
        ax.plot(t, p, color=TWIN_COLOURS[i % len(TWIN_COLOURS)], lw=0.8, label=f"{name} p(spike)")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("spike")
    ax.set_xlabel("time (ms)")
    ax.legend(loc="upper right", fontsize="x-small", ncols=3, frameon=False)
    return list(axes)


def lif_traces_figure(example: Mapping[str, Any], title: str = "") -> Figure:
    """:func:`plot_lif_example` in its own figure."""
    fig = _figure((11.0, 6.0))
    plot_lif_example(example, axes=list(fig.subplots(3, 1, sharex=True)))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
