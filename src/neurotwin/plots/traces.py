"""Plots of one simulation: input raster, soma voltage with spikes, dendritic voltage map."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless by default; importing pyplot after this never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def plot_input_raster(exc: np.ndarray, inh: np.ndarray, *, ax: Axes | None = None) -> Axes:
    """Events of (n_exc, T) and (n_inh, T) weight arrays; marker size follows the weight."""
    ax = ax or plt.gca()
    for arr, offset, color, label in (
        (exc, 0, "tab:red", "excitatory"),
        (inh, exc.shape[0], "tab:blue", "inhibitory"),
    ):
        rows, ts = np.nonzero(arr > 0)
        w = arr[rows, ts].astype(float)
        ax.scatter(
            ts,
            rows + offset,
            s=2 + 4 * w / max(float(w.max(initial=1.0)), 1e-9),
            c=color,
            marker="|",
            linewidths=0.8,
            label=label,
        )
    ax.set_ylim(-0.5, exc.shape[0] + inh.shape[0] - 0.5)
    ax.set_ylabel("input channel")
    ax.legend(loc="upper right", fontsize="small", markerscale=3)
    return ax


def plot_soma(
    soma_v: np.ndarray,
    spike_times_ms: np.ndarray,
    *,
    cap_mV: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Soma voltage (mV) at 1 ms with spike peak times marked."""
    ax = ax or plt.gca()
    t = np.arange(soma_v.shape[-1])
    ax.plot(t, soma_v, color="k", lw=0.7)
    if len(spike_times_ms):
        top = max(float(soma_v.max()), 0.0) + 5
        ax.plot(
            spike_times_ms,
            np.full(len(spike_times_ms), top),
            "v",
            color="tab:orange",
            ms=4,
            label=f"{len(spike_times_ms)} spikes",
        )
        ax.legend(loc="upper right", fontsize="small")
    if cap_mV is not None:
        ax.axhline(cap_mV, color="tab:gray", lw=0.6, ls="--")
    ax.set_ylabel("soma V (mV)")
    return ax


def plot_dend_map(dend_v: np.ndarray, *, ax: Axes | None = None) -> Axes:
    """Dendritic voltage (S, T) as a heat map, proximal segment at the bottom."""
    ax = ax or plt.gca()
    im = ax.imshow(
        dend_v,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        interpolation="nearest",
        extent=(-0.5, dend_v.shape[-1] - 0.5, -0.5, dend_v.shape[0] - 0.5),
    )
    ax.figure.colorbar(im, ax=ax, label="mV", pad=0.01)
    ax.set_ylabel("segment (proximal → distal)")
    return ax


def simulation_figure(
    exc: np.ndarray,
    inh: np.ndarray,
    soma_v: np.ndarray,
    spike_times_ms: np.ndarray,
    dend_v: np.ndarray | None = None,
    title: str = "",
    cap_mV: float | None = None,
) -> Figure:
    """Inputs, soma and (if any) dendrite of one simulation, sharing the time axis."""
    rows = 3 if dend_v is not None and dend_v.size else 2
    fig, axes = plt.subplots(
        rows, 1, figsize=(11, 2.4 * rows), sharex=True, constrained_layout=True
    )
    plot_input_raster(exc, inh, ax=axes[0])
    plot_soma(soma_v, spike_times_ms, cap_mV=cap_mV, ax=axes[1])
    if rows == 3:
        plot_dend_map(dend_v, ax=axes[2])
    axes[-1].set_xlabel("time (ms)")
    if title:
        axes[0].set_title(title)
    return fig
