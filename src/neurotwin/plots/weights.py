"""First-layer spatio-temporal filters of a convolutional twin.

The first causal convolution of a TCN spans every input channel: its weight ``(W, 2·S, T1)``
holds, for each of the W filters, one kernel per excitatory and inhibitory segment. We show
them with the lag (ms before the output) on the x axis, segments proximal → distal on the y axis,
excitatory above inhibitory, one panel per filter, on a symmetric colour scale; and the mean
temporal profile per segment (average over filters of the sign-aligned kernels).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "first_layer_filters",
    "plot_filter_panels",
    "plot_mean_profiles",
    "weights_figure",
]


def first_layer_filters(model: Any, num_segments: int | None = None) -> np.ndarray:
    """The first convolution's kernels of a convolutional twin as ``(W, 2, S, L)`` with axis
    ``L`` the lag in ms (index 0: the output's own bin), in units of the scaled input.

    ``num_segments`` defaults to ``in_channels // 2`` (excitatory rows first, as in the
    ``(B, 2, S, T)`` input layout)."""
    convs = getattr(model, "convs", None)
    conv = convs[0] if convs is not None else getattr(model, "filter", None)
    if conv is None or not hasattr(conv, "weight") or conv.weight.dim() != 3:
        raise ValueError(
            f"twin {getattr(model, 'name', type(model).__name__)!r} has no first convolution "
            "(weights plots need a tcn, resnet_tcn or linear twin)"
        )
    w = conv.weight.detach().cpu().numpy()[..., ::-1]  # (W, C_in, K) with lag on the last axis
    out_ch, c_in, k = w.shape
    s = num_segments or c_in // 2
    if 2 * s != c_in:
        raise ValueError(f"first layer has {c_in} input channels, not 2 × {s} segments")
    return np.ascontiguousarray(w.reshape(out_ch, 2, s, k))  # (W, 2, S, L)


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _image(filters: np.ndarray) -> np.ndarray:
    """(2, S, L) → (2·S + 1, L) image: excitatory rows, one blank row, inhibitory rows."""
    _, s, length = filters.shape
    img = np.full((2 * s + 1, length), np.nan)
    img[:s] = filters[0]
    img[s + 1 :] = filters[1]
    return img


def plot_filter_panels(
    filters: np.ndarray, *, fig: Figure | None = None, title: str = "", max_filters: int = 16
) -> Figure:
    """One panel per filter (up to ``max_filters``): rows = excitatory then inhibitory segments,
    proximal at the top of each block; columns = lag in ms (0 at the left)."""
    n = min(filters.shape[0], max_filters)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    if fig is None:
        fig = _figure((3.0 * cols, 1.9 * rows + 0.6))
    lim = float(np.nanmax(np.abs(filters[:n]))) or 1.0
    s = filters.shape[2]
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        im = ax.imshow(
            _image(filters[i]),
            aspect="auto",
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            interpolation="nearest",
        )
        ax.set_yticks([0, s - 1, s + 1, 2 * s])
        ax.set_yticklabels(["exc prox", "exc dist", "inh prox", "inh dist"], fontsize=6)
        ax.tick_params(axis="x", labelsize=6)
        ax.set_title(f"filter {i}", fontsize=8)
        if i // cols == rows - 1:
            ax.set_xlabel("ms before output", fontsize=7)
    fig.colorbar(im, ax=fig.axes, shrink=0.8, label="weight")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_mean_profiles(filters: np.ndarray, *, ax: Axes | None = None, title: str = "") -> Axes:
    """Mean temporal profile per segment: each filter is first multiplied by the sign of its
    summed excitatory weight (a filter and its negative are the same feature up to the next
    layer), then averaged over filters. Solid: excitatory; dashed: inhibitory; colour: segment
    from proximal (dark) to distal (light)."""
    if ax is None:
        ax = _figure((5.0, 3.2)).add_subplot()
    sign = np.sign(filters[:, 0].sum(axis=(1, 2)))  # (W,)
    sign[sign == 0] = 1.0
    mean = (filters * sign[:, None, None, None]).mean(axis=0)  # (2, S, L)
    s, length = mean.shape[1], mean.shape[2]
    lags = np.arange(length)
    cmap = matplotlib.colormaps["viridis"]
    for seg in range(s):
        colour = cmap(seg / max(s - 1, 1))
        ax.plot(lags, mean[0, seg], color=colour, lw=1.2, label=f"seg {seg}" if s <= 8 else None)
        ax.plot(lags, mean[1, seg], color=colour, lw=1.0, ls="--")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel("ms before output")
    ax.set_ylabel("mean weight (sign-aligned)")
    ax.set_title(title or "mean temporal profile (solid exc, dashed inh)", fontsize=9)
    if s <= 8:
        ax.legend(fontsize=6, ncol=2, frameon=False)
    return ax


def weights_figure(model: Any, title: str = "", max_filters: int = 16) -> Figure:
    """Panels of the first-layer filters of ``model`` above their mean temporal profiles."""
    filters = first_layer_filters(model)
    n = min(filters.shape[0], max_filters)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = _figure((3.0 * cols, 1.9 * rows + 3.4))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.9 * rows + 0.6, 2.8])
    plot_filter_panels(filters, fig=top, title=title, max_filters=max_filters)
    plot_mean_profiles(filters, ax=bottom.add_subplot(1, 1, 1))
    return fig


def save(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    from neurotwin.evaluate.figures import save_figure

    return save_figure(fig, Path(path), dpi=dpi)
