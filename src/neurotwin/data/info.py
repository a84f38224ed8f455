"""``dataset info``: counts, firing-rate and voltage statistics, figures of a few samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from neurotwin.data.config import SPLITS
from neurotwin.data.store import DatasetStore
from neurotwin.plots.dataset import plot_rate_hist, plot_voltage_hist
from neurotwin.plots.traces import simulation_figure

MAX_STAT_SIMS = 200  # voltage statistics read at most this many simulations per split


def dataset_stats(store: DatasetStore) -> dict[str, Any]:
    """Per split: requested/done/dropped counts, firing rate and soma voltage statistics."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        a = store.split(split)
        done = np.flatnonzero(a.done_mask())
        rates = np.asarray(a["rate_hz"][:])[done]
        entry: dict[str, Any] = {
            "requested": a.size,
            "done": int(done.size),
            "dropped": dict(a.group.attrs.get("dropped", {})),
            "checksum": a.group.attrs.get("checksum"),
        }
        if done.size:
            soma = np.asarray(a["soma_uncapped"][done[:MAX_STAT_SIMS]])
            spikes = np.asarray(a["spikes"][done[:MAX_STAT_SIMS]])
            entry.update(
                rate_hz={
                    "mean": float(rates.mean()),
                    "min": float(rates.min()),
                    "max": float(rates.max()),
                    "median": float(np.median(rates)),
                },
                soma_mV={
                    "mean": float(soma.mean()),
                    "std": float(soma.std()),
                    "min": float(soma.min()),
                    "max": float(soma.max()),
                },
                spike_bin_fraction=float(spikes.mean()),
            )
        out[split] = entry
    return out


def dataset_figures(store: DatasetStore, out_dir: str | Path, n_samples: int = 3) -> list[Path]:
    """Write summary PNGs: rate and voltage histograms and ``n_samples`` example simulations."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cell = store.config.cell
    written: list[Path] = []
    rates, somas = {}, {}
    for split in SPLITS:
        a = store.split(split)
        done = np.flatnonzero(a.done_mask())
        rates[split] = np.asarray(a["rate_hz"][:])[done]
        somas[split] = np.asarray(a["soma_uncapped"][done[:20]]) if done.size else np.zeros(0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), constrained_layout=True)
    plot_rate_hist(rates, ax=axes[0])
    plot_voltage_hist(somas, ax=axes[1])
    fig.suptitle(f"{cell.name}: {store.path.name}")
    written.append(_save(fig, out_dir / "stats.png"))
    split = next((s for s in ("test", "valid", "train") if rates[s].size), None)
    if split is not None:
        done = np.flatnonzero(store.split(split).done_mask())
        for k, i in enumerate(done[:n_samples]):
            sample = store.load(split, int(i))
            exc, inh = cell.unpack_inputs(sample["inputs"].astype(np.float32))
            spike_t = np.flatnonzero(sample["spikes"]).astype(float)
            fig = simulation_figure(
                exc,
                inh,
                sample["soma_uncapped"],
                spike_t,
                sample.get("dend"),
                title=f"{cell.name} — {split} simulation {i}",
                cap_mV=cell.soma_cap_mV,
            )
            written.append(_save(fig, out_dir / f"sample_{k}.png"))
    return written


def _save(fig: plt.Figure, path: Path) -> Path:
    tmp = path.with_name(path.stem + ".partial.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
