"""Dataset configuration: cell + input generator + sizes + filter, frozen and serialisable."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from neurotwin.sim.cells import CellConfig, from_dict, preset
from neurotwin.sim.cells.base import check_fields, coerce_floats, require
from neurotwin.sim.inputs import InputGenerator, inputs_from_dict, make_inputs

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class FilterConfig:
    """Acceptance criteria for a simulation (spec-style). A rejected simulation is replaced by
    a new draw for the same slot, so the requested counts are met."""

    min_rate_hz: float = 0.4
    max_rate_hz: float = 20.0
    max_depolarized_fraction: float = 0.05
    depolarized_mV: float = -40.0
    max_attempts: int = 100

    def __post_init__(self) -> None:
        coerce_floats(self)
        require(self.min_rate_hz >= 0, f"min_rate_hz must be >= 0, got {self.min_rate_hz}")
        require(
            self.max_rate_hz > self.min_rate_hz,
            f"max_rate_hz must be > min_rate_hz, got {self.max_rate_hz} <= {self.min_rate_hz}",
        )
        require(
            0 <= self.max_depolarized_fraction <= 1,
            f"max_depolarized_fraction must be in [0, 1], got {self.max_depolarized_fraction}",
        )
        require(self.max_attempts >= 1, f"max_attempts must be >= 1, got {self.max_attempts}")

    def reject_reason(self, rate_hz: float, depolarized_fraction: float) -> str | None:
        """None when accepted, else a short reason."""
        if rate_hz < self.min_rate_hz:
            return "rate_below_min"
        if rate_hz > self.max_rate_hz:
            return "rate_above_max"
        if depolarized_fraction > self.max_depolarized_fraction:
            return "depolarized"
        return None


@dataclass(frozen=True)
class DatasetConfig:
    """Everything that determines a dataset's contents. Same config → bit-identical arrays."""

    cell: CellConfig
    inputs: InputGenerator
    counts: dict[str, int] = field(default_factory=lambda: {"train": 8, "valid": 2, "test": 2})
    duration_ms: int = 2048
    seed: int = 0
    sims_per_chunk: int = 16
    filter: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        require(
            isinstance(self.duration_ms, int) and self.duration_ms >= 1,
            f"duration_ms must be an integer >= 1, got {self.duration_ms!r}",
        )
        require(self.sims_per_chunk >= 1, f"sims_per_chunk must be >= 1, got {self.sims_per_chunk}")
        unknown = set(self.counts) - set(SPLITS)
        require(not unknown, f"unknown split(s) {sorted(unknown)}; valid: {', '.join(SPLITS)}")
        for split, n in self.counts.items():
            require(isinstance(n, int) and n >= 0, f"{split} count must be >= 0, got {n!r}")
        require(sum(self.counts.values()) > 0, "the dataset must hold at least one simulation")
        require(
            isinstance(self.seed, int) and self.seed >= 0, f"seed must be >= 0, got {self.seed!r}"
        )

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell.to_dict(),
            "inputs": self.inputs.to_dict(),
            "counts": dict(self.counts),
            "duration_ms": self.duration_ms,
            "seed": self.seed,
            "sims_per_chunk": self.sims_per_chunk,
            "filter": dataclasses.asdict(self.filter),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetConfig:
        d = dict(d)
        filt = d.pop("filter", {})
        check_fields(FilterConfig, filt)
        return cls(
            cell=from_dict(d.pop("cell")),
            inputs=inputs_from_dict(d.pop("inputs")),
            filter=FilterConfig(**filt),
            **d,
        )

    def content_hash(self) -> str:
        """Hash of everything that determines the arrays (counts excluded: a store can grow)."""
        d = self.to_dict()
        d.pop("counts")
        blob = json.dumps(d, sort_keys=True, default=_json_default).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def default_inputs(cell: CellConfig) -> str:
    """The input generator a cell family gets when none is named."""
    return "lif_poisson" if cell.family == "lif" else "tutorial"


def build_dataset_config(
    cell: str,
    cell_sets: dict[str, Any],
    inputs: str | None,
    input_sets: dict[str, Any],
    counts: dict[str, int],
    duration_ms: int,
    seed: int,
    filter_sets: dict[str, Any],
    sims_per_chunk: int = 16,
) -> DatasetConfig:
    """A :class:`DatasetConfig` from names and ``KEY=VALUE`` overrides (what the CLI takes)."""
    cfg = preset(cell, **cell_sets)
    check_fields(FilterConfig, filter_sets)
    gen = make_inputs(inputs or default_inputs(cfg), **input_sets)
    return DatasetConfig(
        cell=cfg,
        inputs=gen,
        counts=counts,
        duration_ms=duration_ms,
        seed=seed,
        sims_per_chunk=sims_per_chunk,
        filter=FilterConfig(**filter_sets),
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"cannot serialise {o!r}")
