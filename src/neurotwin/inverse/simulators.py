"""Simulators of the inverse problem: parameters θ (N, K) → somatic voltage traces (N, T).

Every simulator has named parameters with units and uniform prior ranges (:class:`ParamSpec`),
a default :class:`~neurotwin.inverse.stimuli.Stimulus`, settings that are not inferred (e.g. the
Mainen cell's dendrite-to-soma area ratio) and one batched call::

    sim = get_simulator("hh_ball2sticks")
    theta = sample_theta(sim.params, 100, np.random.default_rng(0))   # (100, K) physical units
    v_mV = sim.simulate(theta, sim.default_stimulus())               # (100, T) float32 mV

``izhikevich`` is NumPy (vectorised over N); ``hh_ball2sticks`` and ``mainen`` build all N cells
in one NEURON model (:mod:`neurotwin.sim.cells`) and run them together.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neurotwin.inverse.stimuli import Stimulus


@dataclass(frozen=True)
class ParamSpec:
    """One free parameter: ``name``, ``unit`` (text) and its uniform range [low, high]."""

    name: str
    unit: str
    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(
                f"parameter {self.name}: low must be < high, got [{self.low}, {self.high}]"
            )

    def to_list(self) -> list[Any]:
        return [self.name, self.unit, float(self.low), float(self.high)]


def _bounds(params: tuple[ParamSpec, ...] | list[ParamSpec]) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([p.low for p in params], dtype=np.float64)
    high = np.array([p.high for p in params], dtype=np.float64)
    return low, high


def _check_theta(theta: np.ndarray, params: tuple[ParamSpec, ...] | list[ParamSpec]) -> np.ndarray:
    arr = np.asarray(theta, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(params):
        raise ValueError(f"theta must have shape (N, {len(params)}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("theta contains NaN or infinite values")
    return arr


def to_scaled(theta: np.ndarray, params: tuple[ParamSpec, ...] | list[ParamSpec]) -> np.ndarray:
    """Physical θ (N, K) → z in [-1, 1] (N, K): ``z = 2 (θ - low) / (high - low) - 1``."""
    arr = _check_theta(theta, params)
    low, high = _bounds(params)
    return 2.0 * (arr - low) / (high - low) - 1.0


def from_scaled(z: np.ndarray, params: tuple[ParamSpec, ...] | list[ParamSpec]) -> np.ndarray:
    """Inverse of :func:`to_scaled`: z (N, K) → physical θ (N, K)."""
    arr = _check_theta(z, params)
    low, high = _bounds(params)
    return low + (arr + 1.0) * 0.5 * (high - low)


def sample_theta(
    params: tuple[ParamSpec, ...] | list[ParamSpec], n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` parameter sets (n, K) float64 drawn uniformly in the parameters' ranges."""
    if not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    low, high = _bounds(params)
    return low + rng.random((int(n), len(params))) * (high - low)


class InverseSimulator(ABC):
    """Base of every simulator. Subclasses are frozen dataclasses whose fields are the settings
    (validated in ``__post_init__``, which calls :meth:`_check_free`) and set ``name`` and
    ``all_params``.

    Which parameters are inferred is the setting ``free`` (names; empty: ``default_free``, or all
    of them): the others stay at their typical values (:meth:`typical_theta`). ``params``,
    ``simulate``'s θ and everything built on them (datasets, estimators) use the free ones."""

    name: ClassVar[str]
    all_params: ClassVar[tuple[ParamSpec, ...]]
    default_free: ClassVar[tuple[str, ...]] = ()  # () = every parameter
    default_transform: ClassVar[str] = "log10_v81"  # make-data's trace transform for learning

    def _check_free(self) -> None:
        """Validate the ``free`` setting (a dataclass field of every subclass): names as a tuple,
        a list or one comma-separated string (``--set free=a,b``)."""
        free = getattr(self, "free", ()) or ()
        if isinstance(free, str):
            free = [name.strip() for name in free.split(",") if name.strip()]
        free = tuple(free)
        object.__setattr__(self, "free", free)
        names = [p.name for p in self.all_params]
        unknown = [f for f in free if f not in names]
        if unknown:
            raise ValueError(
                f"free: unknown {self.name} parameter(s) {', '.join(map(str, unknown))}; "
                f"valid: {', '.join(names)}"
            )
        if len(set(free)) != len(free):
            raise ValueError(f"free: a parameter is named twice in {list(free)}")

    def _free_mask(self) -> list[bool]:
        """For each of ``all_params``: is it inferred?"""
        chosen = set(getattr(self, "free", ()) or self.default_free)
        return [not chosen or p.name in chosen for p in self.all_params]

    @property
    def free_names(self) -> tuple[str, ...]:
        """The inferred parameters' names, in the order of ``all_params``."""
        return tuple(p.name for p in self.params)

    @property
    def params(self) -> tuple[ParamSpec, ...]:
        """The inferred parameters, in the order of ``all_params``."""
        return tuple(p for p, free in zip(self.all_params, self._free_mask(), strict=True) if free)

    def fixed_values(self) -> dict[str, float]:
        """The parameters held at their typical values, by name."""
        rows = zip(self.all_params, self.typical_theta(), self._free_mask(), strict=True)
        return {p.name: float(v) for p, v, free in rows if not free}

    def full_theta(self, theta: np.ndarray) -> np.ndarray:
        """θ of the free parameters (N, K) → every parameter (N, K_all), the fixed ones at
        their typical values."""
        arr = _check_theta(theta, self.params)
        full = np.tile(self.typical_theta().astype(np.float64), (arr.shape[0], 1))
        full[:, np.flatnonzero(self._free_mask())] = arr
        return full

    @abstractmethod
    def default_stimulus(self) -> Stimulus:
        """The stimulus this simulator's datasets use unless told otherwise."""

    @abstractmethod
    def _simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        """θ of every parameter (N, K_all) float64, validated → (N, T) mV."""

    def simulate(self, theta: np.ndarray, stimulus: Stimulus | None = None) -> np.ndarray:
        """Somatic voltage (N, T) float32 in mV, sampled every ``stimulus.dt_ms`` (sample k at
        k·dt), for parameter sets ``theta`` (N, K) in physical units."""
        stimulus = stimulus if stimulus is not None else self.default_stimulus()
        if not isinstance(stimulus, Stimulus):
            raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
        arr = _check_theta(theta, self.params)
        if arr.shape[0] == 0:
            return np.zeros((0, stimulus.num_samples), dtype=np.float32)
        out = np.asarray(self._simulate(self.full_theta(arr), stimulus), dtype=np.float32)
        assert out.shape == (arr.shape[0], stimulus.num_samples), out.shape
        return out

    def settings(self) -> dict[str, Any]:
        """The settings (not inferred) that define this simulator, JSON-serialisable; ``free``
        only when it is set (so stores and estimators made before it existed still match)."""
        out = dataclasses.asdict(self)  # type: ignore[call-overload]
        if not out.get("free"):
            out.pop("free", None)
        else:
            out["free"] = list(out["free"])
        return out

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def typical_theta(self) -> np.ndarray:
        """Typical values of every parameter (K_all,): the model's published values where in
        range, else the middle of each range."""
        return np.array([(p.low + p.high) / 2 for p in self.all_params])

    def default_theta(self) -> np.ndarray:
        """The typical values of the free parameters (K,)."""
        return self.typical_theta()[self._free_mask()]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "settings": self.settings(),
            "params": [p.to_list() for p in self.params],
            "fixed": self.fixed_values(),
            "transform": self.default_transform,
        }


# name -> "module:Class"; modules are imported on first use (NEURON only when needed)
_REGISTRY: dict[str, str] = {
    "izhikevich": "neurotwin.inverse.izhikevich:Izhikevich",
    "hh_ball2sticks": "neurotwin.inverse.neuron_sims:HHBall2Sticks",
    "mainen": "neurotwin.inverse.neuron_sims:Mainen",
}


def simulator_names() -> list[str]:
    return list(_REGISTRY)


def simulator_class(name: str) -> type[InverseSimulator]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown simulator {name!r}; valid: {', '.join(_REGISTRY)}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def get_simulator(name: str, **settings: Any) -> InverseSimulator:
    """The simulator ``name`` with ``settings`` (ValueError naming unknown settings)."""
    cls = simulator_class(name)
    valid = sorted(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown {name} setting(s) {', '.join(unknown)}; valid settings: "
            f"{', '.join(valid) or 'none'}"
        )
    return cls(**settings)


__all__ = [
    "InverseSimulator",
    "ParamSpec",
    "from_scaled",
    "get_simulator",
    "sample_theta",
    "simulator_class",
    "simulator_names",
    "to_scaled",
]
