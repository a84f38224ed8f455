"""Simulation outputs and the learning targets derived from them (spec §5.8).

Every cell backend returns a :class:`SimulationResult`; :func:`make_targets` turns it into the
arrays a dataset stores. The output settings live on each cell config through
:class:`OutputSettings`, so the same cell config always produces the same targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLES_PER_MS_DEFAULT = 40


@dataclass(frozen=True)
class OutputSettings:
    """Output (target) settings shared by every cell family. Caps apply to outputs only."""

    soma_cap_mV: float = -62.0
    dend_cap_mV: float = 0.0
    spike_threshold_mV: float = 0.0
    near_spike_window_ms: int = 10
    near_spike_margin_mV: float = 5.0
    inst_rate_window_ms: int = 50
    inst_rate_sigma_ms: float = 2.5

    def _validate_outputs(self) -> None:
        if self.near_spike_window_ms < 1:
            raise ValueError(f"near_spike_window_ms must be >= 1, got {self.near_spike_window_ms}")
        if self.inst_rate_window_ms < 1:
            raise ValueError(f"inst_rate_window_ms must be >= 1, got {self.inst_rate_window_ms}")
        if self.inst_rate_sigma_ms < 0:
            raise ValueError(f"inst_rate_sigma_ms must be >= 0, got {self.inst_rate_sigma_ms}")


@dataclass
class SimulationResult:
    """One simulation of T ms, sampled at 1 ms.

    Attributes:
        soma_v: (T,) soma voltage in mV at t = 0, 1, ..., T-1 ms, uncapped.
        dend_v: (S, T) dendritic voltage in mV at the segment centres, uncapped
            (shape (0, T) for a cell without dendrites).
        spike_times_ms: (n,) spike peak times in ms, sorted.
        spikes: (T,) bool, True in the 1 ms bins that hold at least one spike peak.
        soma_v_hr: the full-resolution soma trace when it was asked for, else None.
    """

    soma_v: np.ndarray
    dend_v: np.ndarray
    spike_times_ms: np.ndarray
    spikes: np.ndarray
    soma_v_hr: np.ndarray | None = field(default=None, repr=False)

    @property
    def duration_ms(self) -> int:
        return int(self.soma_v.shape[-1])

    @property
    def firing_rate_hz(self) -> float:
        return 1000.0 * len(self.spike_times_ms) / max(self.duration_ms, 1)


def detect_spikes(
    v_hr: np.ndarray, samples_per_ms: int, duration_ms: int, threshold_mV: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Spike peaks of a high-resolution trace (spec §5.8).

    A peak is a local maximum (``scipy.signal.find_peaks``) of height >= ``threshold_mV``;
    its bin is ``floor(index / samples_per_ms)``; bins >= ``duration_ms`` are dropped.
    Returns (spike_times_ms, spikes (duration_ms,) bool).
    """
    from scipy.signal import find_peaks  # scipy.signal is slow to import: only when used

    peaks, _ = find_peaks(v_hr, height=threshold_mV)
    times = peaks / float(samples_per_ms)
    bins = peaks // samples_per_ms
    keep = bins < duration_ms
    spikes = np.zeros(duration_ms, dtype=bool)
    spikes[bins[keep]] = True
    return times[keep], spikes


def _causal_window_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of x over bins k-w+1..k along the last axis (fewer bins at the start)."""
    c = np.cumsum(x.astype(np.float64), axis=-1)
    out = c.copy()
    out[..., w:] -= c[..., :-w]
    return out


def near_spike(spikes: np.ndarray, soma_v: np.ndarray, settings: OutputSettings) -> np.ndarray:
    """True where a spike lies in the causal window of bins k-w+1..k, or the uncapped soma
    exceeds ``soma_cap - margin``. Works on (..., T) arrays."""
    in_window = _causal_window_sum(spikes, settings.near_spike_window_ms) > 0
    return in_window | (soma_v > settings.soma_cap_mV - settings.near_spike_margin_mV)


def inst_rate(spikes: np.ndarray, settings: OutputSettings) -> np.ndarray:
    """Causal boxcar mean of the spike train over ``inst_rate_window_ms`` bins (spikes/ms),
    then a centred Gaussian smoothing of s.d. ``inst_rate_sigma_ms`` (length 1 + 2*int(4 s.d.),
    normalised to sum 1). Works on (..., T) arrays."""
    w = settings.inst_rate_window_ms
    rate = _causal_window_sum(spikes, w) / w
    sigma = settings.inst_rate_sigma_ms
    if sigma > 0:
        from scipy.signal.windows import gaussian

        win = gaussian(1 + 2 * int(4 * sigma), sigma)
        win /= win.sum()
        rate = np.apply_along_axis(lambda r: np.convolve(r, win, mode="same"), -1, rate)
    return rate.astype(np.float32)


def make_targets(result: SimulationResult, settings: OutputSettings) -> dict[str, np.ndarray]:
    """The stored targets of one simulation (spec §5.8), keyed by dataset array name."""
    return {
        "spikes": result.spikes.astype(bool),
        "soma": np.minimum(result.soma_v, settings.soma_cap_mV).astype(np.float32),
        "soma_uncapped": result.soma_v.astype(np.float32),
        "near_spike": near_spike(result.spikes, result.soma_v, settings),
        "inst_rate": inst_rate(result.spikes, settings),
        "dend": np.minimum(result.dend_v, settings.dend_cap_mV).astype(np.float16),
    }
