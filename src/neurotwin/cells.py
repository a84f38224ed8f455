"""Public face of the cell families: ``neurotwin.cells.preset(name, **overrides)``."""

from neurotwin.sim.cells import (
    FAMILIES,
    PRESETS,
    BallAndStickConfig,
    CellConfig,
    LIFConfig,
    from_dict,
    preset,
    preset_names,
)

__all__ = [
    "FAMILIES",
    "PRESETS",
    "BallAndStickConfig",
    "CellConfig",
    "LIFConfig",
    "from_dict",
    "preset",
    "preset_names",
]
