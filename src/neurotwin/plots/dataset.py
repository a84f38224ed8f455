"""Plots of a dataset's statistics."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from neurotwin.plots import traces  # noqa: F401  (selects the headless backend)


def plot_rate_hist(rates_by_split: dict[str, np.ndarray], *, ax: Axes | None = None) -> Axes:
    """Histogram of per-simulation firing rates (Hz), one colour per split."""
    ax = ax or plt.gca()
    allr = np.concatenate([r for r in rates_by_split.values() if r.size] or [np.zeros(1)])
    bins = np.linspace(0, max(float(allr.max()), 1.0), 30)
    for split, r in rates_by_split.items():
        if r.size:
            ax.hist(r, bins=bins, alpha=0.5, label=f"{split} (n={r.size})")
    ax.set_xlabel("firing rate (Hz)")
    ax.set_ylabel("simulations")
    ax.legend(fontsize="small")
    return ax


def plot_voltage_hist(soma_by_split: dict[str, np.ndarray], *, ax: Axes | None = None) -> Axes:
    """Distribution of 1 ms soma voltage samples (mV), log counts."""
    ax = ax or plt.gca()
    for split, v in soma_by_split.items():
        if v.size:
            ax.hist(v.ravel(), bins=80, histtype="step", label=split, log=True)
    ax.set_xlabel("soma V (mV, uncapped)")
    ax.set_ylabel("samples")
    ax.legend(fontsize="small")
    return ax
