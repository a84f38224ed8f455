"""What every cell family shares: output settings, input layout, config validation helpers."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from neurotwin.sim.outputs import OutputSettings


@dataclasses.dataclass(frozen=True)
class CellConfig(OutputSettings):
    """Base of every cell config: a frozen, self-validating dataclass.

    Subclasses set ``family`` and define :attr:`input_shape` (the per-simulation input layout
    without the time axis), :attr:`num_exc` and :attr:`num_inh`.
    """

    family: ClassVar[str] = "cell"
    name: str = "cell"

    def __post_init__(self) -> None:
        coerce_floats(self)
        self._validate_outputs()
        self.validate()

    def validate(self) -> None:  # overridden by subclasses
        """Raise ValueError naming the offending field."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def num_exc(self) -> int:
        raise NotImplementedError

    @property
    def num_inh(self) -> int:
        raise NotImplementedError

    @property
    def num_dend(self) -> int:
        """Number of dendritic voltage traces the cell reports (0 for a point cell)."""
        return 0

    def pack_inputs(self, exc: np.ndarray, inh: np.ndarray) -> np.ndarray:
        """Arrange excitatory (num_exc, T) and inhibitory (num_inh, T) events into this cell's
        input layout ``input_shape + (T,)``."""
        raise NotImplementedError

    def unpack_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`pack_inputs` on (..., *input_shape, T): returns (exc, inh)."""
        raise NotImplementedError

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["family"] = self.family
        return d

    def replace(self, **overrides: Any) -> CellConfig:
        check_fields(type(self), overrides)
        return dataclasses.replace(self, **overrides)


def check_fields(cls: type, overrides: dict[str, Any]) -> None:
    valid = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s) {', '.join(unknown)}; "
            f"valid fields: {', '.join(valid)}"
        )


def coerce_floats(obj: Any) -> None:
    """Store integers given for float fields as floats (``--set dend_L_um=128`` → 128.0), so
    equal configs serialise, and hash, identically."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.type in ("float", float) and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(obj, f.name, float(value))


def require(cond: bool, message: str) -> None:
    """Raise ValueError(message) unless cond: the config validation idiom."""
    if not cond:
        raise ValueError(message)
