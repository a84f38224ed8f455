"""Cell families and presets: ``preset(name, **overrides)`` returns a frozen config."""

from __future__ import annotations

from typing import Any

from neurotwin.sim.cells.ball_and_stick import PRESETS as _BAS_PRESETS
from neurotwin.sim.cells.ball_and_stick import BallAndStickConfig
from neurotwin.sim.cells.base import CellConfig, check_fields
from neurotwin.sim.cells.lif import LIFConfig

FAMILIES: dict[str, type[CellConfig]] = {
    BallAndStickConfig.family: BallAndStickConfig,
    LIFConfig.family: LIFConfig,
}

PRESETS: dict[str, tuple[type[CellConfig], dict[str, Any]]] = {
    **{name: (BallAndStickConfig, fields) for name, fields in _BAS_PRESETS.items()},
    "lif": (LIFConfig, {}),
}


def preset_names() -> list[str]:
    return list(PRESETS)


def preset(name: str, **overrides: Any) -> CellConfig:
    """The config of preset ``name`` with field ``overrides``.

    >>> preset("cable_nmda", ske2_factor=1.0).dend_L_um
    2048.0
    """
    if name not in PRESETS:
        raise ValueError(f"unknown cell preset {name!r}; valid presets: {', '.join(PRESETS)}")
    cls, fields = PRESETS[name]
    check_fields(cls, overrides)
    return cls(**{"name": name, **fields, **overrides})


def from_dict(d: dict[str, Any]) -> CellConfig:
    """Rebuild a config from :meth:`CellConfig.to_dict` output (as stored in datasets)."""
    d = dict(d)
    family = d.pop("family", None)
    if family not in FAMILIES:
        raise ValueError(f"unknown cell family {family!r}; valid: {', '.join(FAMILIES)}")
    cls = FAMILIES[family]
    d.pop("synapse_params", None)
    check_fields(cls, d)
    return cls(**d)


__all__ = ["BallAndStickConfig", "CellConfig", "LIFConfig", "preset", "preset_names", "from_dict"]
