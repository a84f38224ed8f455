"""The NEURON-based inverse simulators: HH ball and two sticks, reduced Mainen & Sejnowski cell.

The cells themselves live in :mod:`neurotwin.sim.cells` (the only package importing NEURON);
here they get their parameter specs, settings and default stimuli. A call to ``simulate`` builds
all N cells in one NEURON model and integrates them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurotwin.inverse.simulators import InverseSimulator, ParamSpec
from neurotwin.inverse.stimuli import Stimulus, make_stimulus
from neurotwin.sim.cells import hh_ball2sticks as hh
from neurotwin.sim.cells import mainen as ms
from neurotwin.sim.cells.base import coerce_floats, require
from neurotwin.sim.current_clamp import steps_per_sample


def _specs(rows: tuple[tuple[str, str, float, float, float], ...]) -> tuple[ParamSpec, ...]:
    return tuple(ParamSpec(name, unit, low, high) for name, unit, low, high, _ in rows)


def _check_positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(
            isinstance(value, float) and math.isfinite(value) and value > 0,
            f"{name} must be > 0, got {value!r}",
        )


@dataclass(frozen=True)
class HHBall2Sticks(InverseSimulator):
    """Hodgkin–Huxley ball and two sticks (see :mod:`neurotwin.sim.cells.hh_ball2sticks`):
    11 parameters, of which ``free`` are inferred (default: the 9 conductances, cm, Ra and
    E_L; E_Na and E_K stay at HH's values); settings ``dt_ms`` (integration step),
    ``celsius_degC``, ``v_init_mV``."""

    name: ClassVar[str] = "hh_ball2sticks"
    all_params: ClassVar[tuple[ParamSpec, ...]] = _specs(hh.PARAMS)
    default_free: ClassVar[tuple[str, ...]] = hh.DEFAULT_FREE
    dt_ms: float = 0.025
    celsius_degC: float = 6.3
    v_init_mV: float = -65.0
    free: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        coerce_floats(self)
        self._check_free()
        _check_positive(self, "dt_ms")
        for name in ("celsius_degC", "v_init_mV"):
            value = getattr(self, name)
            require(math.isfinite(value), f"{name} must be finite, got {value!r}")

    def default_stimulus(self) -> Stimulus:
        """400 ms at 0.1 ms: −0.1 nA for 20 ms, then a 2→40 Hz chirp of 0.25 ± 0.25 nA."""
        return make_stimulus(amplitude_nA=0.25, offset_nA=0.25, reset_nA=-0.1)

    def typical_theta(self) -> np.ndarray:
        return np.array([p[4] for p in hh.PARAMS])

    def _simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        steps_per_sample(stimulus.dt_ms, self.dt_ms)
        return hh.simulate_hh_ball2sticks(
            theta,
            stimulus.current_nA(),
            stimulus.dt_ms,
            dt_ms=self.dt_ms,
            celsius_degC=self.celsius_degC,
            v_init_mV=self.v_init_mV,
        )


@dataclass(frozen=True)
class Mainen(InverseSimulator):
    """Reduced Mainen & Sejnowski (1996) cell (see :mod:`neurotwin.sim.cells.mainen`):
    10 parameters; settings ``dend_soma_ratio`` (ρ, dendritic / somatic membrane area),
    ``kappa_MOhm`` (κ, soma–dendrite coupling resistance), ``dt_ms``, ``celsius_degC``."""

    name: ClassVar[str] = "mainen"
    all_params: ClassVar[tuple[ParamSpec, ...]] = _specs(ms.PARAMS)
    # afterhyperpolarisations reach E_K = -90 mV: log10_v81 would flatten 37 % of the samples
    default_transform: ClassVar[str] = "log10_v121"
    dend_soma_ratio: float = 10.0
    kappa_MOhm: float = 10.0
    dt_ms: float = 0.025
    celsius_degC: float = 37.0
    free: tuple[str, ...] = ()  # the inferred parameters (empty: all ten)

    def __post_init__(self) -> None:
        coerce_floats(self)
        self._check_free()
        _check_positive(self, "dend_soma_ratio", "kappa_MOhm", "dt_ms")
        require(
            math.isfinite(self.celsius_degC),
            f"celsius_degC must be finite, got {self.celsius_degC!r}",
        )

    def default_stimulus(self) -> Stimulus:
        """400 ms at 0.1 ms: −0.1 nA for 20 ms, then a 2→40 Hz chirp of 0.3 ± 0.3 nA."""
        return make_stimulus(amplitude_nA=0.3, offset_nA=0.3, reset_nA=-0.1)

    def typical_theta(self) -> np.ndarray:
        """Mainen & Sejnowski's published densities."""
        return np.array([p[4] for p in ms.PARAMS])

    def _simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        steps_per_sample(stimulus.dt_ms, self.dt_ms)
        return ms.simulate_mainen(
            theta,
            stimulus.current_nA(),
            stimulus.dt_ms,
            ratio=self.dend_soma_ratio,
            kappa_MOhm=self.kappa_MOhm,
            dt_ms=self.dt_ms,
            celsius_degC=self.celsius_degC,
        )
