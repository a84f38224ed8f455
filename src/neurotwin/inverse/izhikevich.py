"""The Izhikevich (2003) point neuron, vectorised in NumPy over a batch of parameter sets.

    v' = 0.04 v² + 5 v + 140 − u + I        (v in mV, t in ms)
    u' = a (b v − u)
    if v ≥ 30 mV:  v ← c,  u ← u + d

``I`` is the model's dimensionless input; we inject ``I = i_per_nA · current_nA`` (default
100, so the default 0.1 ± 0.1 nA chirp spans I = 0–20, the range of Izhikevich's figures).
Integration: forward Euler at ``dt_ms / substeps`` (default 0.1 ms / 4 = 0.025 ms). The start
is the resting fixed point for the initial current (the lower root of
0.04 v² + (5 − b) v + 140 + I = 0, u = b v) or, if there is none, v = c, u = b c. The output is v
at the end of every sample interval, except that an interval in which the cell spiked reports the
peak, 30 mV (so spikes are one sample wide and never missed by the sampling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurotwin.inverse.simulators import InverseSimulator, ParamSpec
from neurotwin.inverse.stimuli import Stimulus, make_stimulus
from neurotwin.sim.cells.base import coerce_floats, require

V_PEAK_MV = 30.0


def resting_state(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, i0: float
) -> tuple[np.ndarray, np.ndarray]:
    """(v, u) at the stable fixed point for constant input ``i0``, or (c, b c) where none."""
    disc = (5.0 - b) ** 2 - 4 * 0.04 * (140.0 + i0)
    root = np.sqrt(np.maximum(disc, 0.0))
    v_rest = (-(5.0 - b) - root) / (2 * 0.04)
    v = np.where(disc >= 0, v_rest, c)
    return v, b * v


def simulate_izhikevich(
    theta: np.ndarray, current: np.ndarray, dt_ms: float, substeps: int = 4
) -> np.ndarray:
    """θ (N, 4) = (a, b, c, d) and input ``current`` (T,) in the model's units → v (N, T) mV."""
    a, b, c, d = (theta[:, k].astype(np.float64) for k in range(4))
    v, u = resting_state(a, b, c, float(current[0]))
    h = dt_ms / substeps
    out = np.empty((theta.shape[0], len(current)), dtype=np.float32)  # (N, T)
    for k, i_k in enumerate(current):
        spiked = np.zeros(v.shape, dtype=bool)
        for _ in range(substeps):
            dv = (0.04 * v + 5.0) * v + 140.0 - u + i_k
            du = a * (b * v - u)
            v = v + h * dv
            u = u + h * du
            fire = v >= V_PEAK_MV
            if fire.any():
                v = np.where(fire, c, v)
                u = np.where(fire, u + d, u)
                spiked |= fire
        out[:, k] = np.where(spiked, V_PEAK_MV, v)
    return out


@dataclass(frozen=True)
class Izhikevich(InverseSimulator):
    """Izhikevich point cell; settings: ``i_per_nA`` (model input units per nA) and
    ``substeps`` (Euler steps per output sample)."""

    name: ClassVar[str] = "izhikevich"
    all_params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("a", "1/ms", 0.01, 0.12),
        ParamSpec("b", "1", 0.15, 0.30),
        ParamSpec("c", "mV", -70.0, -45.0),
        ParamSpec("d", "mV/ms", 0.5, 10.0),
    )
    i_per_nA: float = 100.0
    substeps: int = 4
    free: tuple[str, ...] = ()  # the inferred parameters (empty: all four)

    def __post_init__(self) -> None:
        coerce_floats(self)
        self._check_free()
        require(
            math.isfinite(self.i_per_nA) and self.i_per_nA > 0,
            f"i_per_nA must be > 0, got {self.i_per_nA}",
        )
        require(
            isinstance(self.substeps, int) and self.substeps >= 1,
            f"substeps must be an integer >= 1, got {self.substeps!r}",
        )

    def default_stimulus(self) -> Stimulus:
        """400 ms at 0.1 ms: reset −0.05 nA (I = −5) for 20 ms, then a 2→40 Hz chirp of
        0.1 ± 0.1 nA (I = 0–20)."""
        return make_stimulus(amplitude_nA=0.1, offset_nA=0.1, reset_nA=-0.05)

    def typical_theta(self) -> np.ndarray:
        """Izhikevich's regular-spiking cell (a, b, c, d) = (0.02, 0.2, −65, 8)."""
        return np.array([0.02, 0.2, -65.0, 8.0])

    def _simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        current = stimulus.current_nA() * self.i_per_nA
        return simulate_izhikevich(theta, current, stimulus.dt_ms, self.substeps)
