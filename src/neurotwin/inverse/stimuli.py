"""Current-clamp stimuli for the inverse problem: one frozen, serialisable :class:`Stimulus`.

Every stimulus is a current in nA, injected at the soma, sampled every ``dt_ms`` for
``duration_ms`` (``T = round(duration_ms / dt_ms)`` samples; defaults 400 ms at 0.1 ms, T = 4000).
Positive current depolarises. The waveform is ``baseline_nA`` everywhere except during
``[delay_ms, delay_ms + stim_ms)``, where it depends on ``kind``:

``reset_chirp`` (default)
    ``reset_nA`` (hyperpolarising) for ``reset_ms``, which removes the history of the cell,
    then for the rest of the window ``offset_nA + amplitude_nA · sin(2π φ(τ))``, a linear
    chirp whose frequency rises from ``f0_hz`` to ``f1_hz``.
``step``
    ``amplitude_nA`` for the whole window.
``ramp``
    from ``ramp_start_nA`` linearly to ``amplitude_nA`` at the end of the window.
``noise``
    ``offset_nA`` plus Ornstein–Uhlenbeck noise of standard deviation ``noise_std_nA`` and
    correlation time ``noise_tau_ms``, drawn from ``noise_seed`` (so one noise waveform is part
    of a dataset's definition, like every other stimulus).

Any kind can be preceded by a **test pulse**: ``pulse_nA`` for ``pulse_ms`` from
``pulse_start_ms``, ending before the window (``pulse_start_ms + pulse_ms <= delay_ms``; off when
``pulse_ms`` is 0, the default). A hyperpolarising pulse of ~100 ms with time to recover shows the
cell's passive charging and discharging (input resistance, capacitance, the dendrites' load),
which a spiking window mostly hides.

Simulators interpret nA in their own units where needed (Izhikevich's dimensionless input:
``I = i_per_nA · current_nA``); each simulator's :meth:`default_stimulus` picks amplitudes that
drive its cells from rest through subthreshold responses to spiking.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurotwin.sim.cells.base import check_fields, coerce_floats, require

KINDS = ("reset_chirp", "step", "ramp", "noise")


@dataclass(frozen=True)
class Stimulus:
    """A somatic current-clamp stimulus (currents in nA, times in ms, frequencies in Hz)."""

    kind: str = "reset_chirp"
    dt_ms: float = 0.1
    duration_ms: float = 400.0
    delay_ms: float = 20.0
    stim_ms: float = 360.0
    baseline_nA: float = 0.0
    amplitude_nA: float = 0.3
    offset_nA: float = 0.2
    reset_nA: float = -0.5
    reset_ms: float = 20.0
    f0_hz: float = 2.0
    f1_hz: float = 40.0
    ramp_start_nA: float = 0.0
    noise_std_nA: float = 0.1
    noise_tau_ms: float = 5.0
    noise_seed: int = 0
    pulse_nA: float = 0.0
    pulse_ms: float = 0.0
    pulse_start_ms: float = 0.0

    def __post_init__(self) -> None:
        coerce_floats(self)
        require(self.kind in KINDS, f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("dt_ms", "duration_ms", "noise_tau_ms"):
            value = getattr(self, name)
            require(
                isinstance(value, float) and value > 0 and math.isfinite(value),
                f"{name} must be > 0, got {value!r}",
            )
        nonneg = ("delay_ms", "stim_ms", "reset_ms", "f0_hz", "f1_hz", "noise_std_nA")
        for name in (*nonneg, "pulse_ms", "pulse_start_ms"):
            value = getattr(self, name)
            require(
                isinstance(value, float) and value >= 0 and math.isfinite(value),
                f"{name} must be >= 0, got {value!r}",
            )
        currents = ("baseline_nA", "amplitude_nA", "offset_nA", "reset_nA", "ramp_start_nA")
        for name in (*currents, "pulse_nA"):
            value = getattr(self, name)
            require(
                isinstance(value, float) and math.isfinite(value),
                f"{name} must be a finite number, got {value!r}",
            )
        require(
            self.delay_ms + self.stim_ms <= self.duration_ms + 1e-9,
            f"delay_ms + stim_ms must be <= duration_ms, got {self.delay_ms} + {self.stim_ms} > "
            f"{self.duration_ms}",
        )
        require(
            self.pulse_ms == 0 or self.pulse_start_ms + self.pulse_ms <= self.delay_ms + 1e-9,
            f"pulse_start_ms + pulse_ms must be <= delay_ms (the test pulse precedes the "
            f"stimulus), got {self.pulse_start_ms} + {self.pulse_ms} > {self.delay_ms}",
        )
        require(
            self.num_samples >= 2,
            f"duration_ms must hold at least 2 samples of dt_ms, got {self.duration_ms}",
        )
        if self.kind == "reset_chirp":
            require(
                self.reset_ms < self.stim_ms,
                f"reset_ms must be < stim_ms, got {self.reset_ms} >= {self.stim_ms}",
            )
        require(
            isinstance(self.noise_seed, int) and self.noise_seed >= 0,
            f"noise_seed must be an integer >= 0, got {self.noise_seed!r}",
        )
        require(self.num_samples <= 10_000_000, f"too many samples: {self.num_samples}")

    @property
    def num_samples(self) -> int:
        """T, the number of samples of the current (and of every simulated trace)."""
        return int(round(self.duration_ms / self.dt_ms))

    def time_ms(self) -> np.ndarray:
        """Sample times (T,) in ms: 0, dt, 2 dt, ..."""
        return np.arange(self.num_samples) * self.dt_ms

    def current_nA(self) -> np.ndarray:
        """The injected current (T,) float64 in nA; sample k holds the current on
        ``[k·dt, (k+1)·dt)``."""
        t = self.time_ms()
        i = np.full(t.shape, self.baseline_nA)
        tau = t - self.delay_ms  # (T,) time since stimulus onset
        on = _within(t, self.delay_ms, self.stim_ms)
        if self.kind == "step":
            i[on] = self.amplitude_nA
        elif self.kind == "ramp":
            frac = np.clip(tau / max(self.stim_ms, 1e-12), 0.0, 1.0)
            ramp = self.ramp_start_nA + (self.amplitude_nA - self.ramp_start_nA) * frac
            i[on] = ramp[on]
        elif self.kind == "reset_chirp":
            reset = on & (tau < self.reset_ms - 1e-9)
            chirp = on & ~reset
            s = (tau - self.reset_ms) / 1000.0  # seconds since chirp onset
            span_s = (self.stim_ms - self.reset_ms) / 1000.0
            phase = self.f0_hz * s + 0.5 * (self.f1_hz - self.f0_hz) * s**2 / span_s  # cycles
            i[reset] = self.reset_nA
            i[chirp] = self.offset_nA + self.amplitude_nA * np.sin(2 * np.pi * phase[chirp])
        else:  # noise: exact OU update, one normal draw per sample
            rng = np.random.default_rng(self.noise_seed)
            rho = math.exp(-self.dt_ms / self.noise_tau_ms)
            eps = rng.standard_normal(len(t)) * self.noise_std_nA * math.sqrt(1 - rho**2)
            x = np.empty(len(t))
            x[0] = rng.standard_normal() * self.noise_std_nA
            for k in range(1, len(t)):
                x[k] = rho * x[k - 1] + eps[k]
            i[on] = self.offset_nA + x[on]
        if self.pulse_ms > 0:
            i[_within(t, self.pulse_start_ms, self.pulse_ms)] = self.pulse_nA
        return i

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stimulus:
        check_fields(cls, d)
        return cls(**d)

    def replace(self, **overrides: Any) -> Stimulus:
        """A copy with ``overrides``; a new ``duration_ms`` or ``delay_ms`` without ``stim_ms``
        keeps the window ending at 90 % of the duration."""
        check_fields(type(self), overrides)
        return dataclasses.replace(self, **_fit_window(self, overrides))


def _within(t: np.ndarray, start_ms: float, length_ms: float) -> np.ndarray:
    """Samples of ``t`` in ``[start_ms, start_ms + length_ms)`` (1e-9 ms slack for rounding)."""
    since = t - start_ms
    return (since >= -1e-9) & (since < length_ms - 1e-9)


def _fit_window(base: Stimulus, overrides: dict[str, Any]) -> dict[str, Any]:
    if "stim_ms" in overrides or not ({"duration_ms", "delay_ms"} & set(overrides)):
        return overrides
    duration = overrides.get("duration_ms", base.duration_ms)
    delay = overrides.get("delay_ms", base.delay_ms)
    if not all(isinstance(x, int | float) for x in (duration, delay)):
        return overrides  # let validation name the bad field
    return {**overrides, "stim_ms": max(0.9 * float(duration) - float(delay), 0.0)}


def make_stimulus(kind: str = "reset_chirp", **overrides: Any) -> Stimulus:
    """A stimulus of ``kind`` with field ``overrides`` (ValueError naming unknown fields). A
    ``duration_ms`` or ``delay_ms`` given without ``stim_ms`` ends the window at 90 % of the
    duration.

    >>> make_stimulus("step", amplitude_nA=0.2).current_nA().max()
    0.2
    """
    check_fields(Stimulus, overrides)
    return Stimulus(kind=kind, **_fit_window(Stimulus(), overrides))


__all__ = ["KINDS", "Stimulus", "make_stimulus"]
