"""The twin registry: names → (Twin subclass, config class, presets).

>>> from neurotwin.models import build
>>> model = build("tcn", "C", in_channels=16, num_dend=8)
>>> model.num_params, model.receptive_field_ms
(189644, 201)

Each model module registers its twins at import (``neurotwin.models`` imports them all). A
preset is a dict of config-field overrides on the config class defaults; ``build(name)`` without
a preset uses the defaults (which equal the entry's ``default_preset``).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any

from neurotwin.models.base import Twin, TwinConfig

__all__ = [
    "Entry",
    "build",
    "config_from_dict",
    "for_cell",
    "from_spec",
    "get",
    "names",
    "register",
    "registry_table",
]


@dataclass(frozen=True)
class Entry:
    name: str
    twin_class: type[Twin]
    config_class: type[TwinConfig]
    presets: dict[str, dict[str, Any]]
    default_preset: str | None = None


_REGISTRY: dict[str, Entry] = {}


def register(
    twin_class: type[Twin], presets: dict[str, dict[str, Any]], default_preset: str | None = None
) -> type[Twin]:
    """Register ``twin_class`` under its ``name`` with its ``config_class`` and ``presets``."""
    name = twin_class.name
    assert name, f"{twin_class.__name__} needs a class attribute `name`"
    assert name not in _REGISTRY or _REGISTRY[name].twin_class is twin_class, name
    assert default_preset is None or default_preset in presets, default_preset
    cfg = twin_class.config_class
    for p, fields in presets.items():
        _check_fields(cfg, fields, f"preset {p!r} of {name}")
    _REGISTRY[name] = Entry(name, twin_class, cfg, dict(presets), default_preset)
    return twin_class


def names() -> list[str]:
    """Registered twin names, in registration order."""
    return list(_REGISTRY)


def get(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown twin {name!r}; valid twins: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _check_fields(cls: type, fields: dict[str, Any], what: str = "") -> None:
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(fields) - set(valid))
    if unknown:
        where = f" in {what}" if what else ""
        raise ValueError(
            f"unknown {cls.__name__} field(s) {', '.join(unknown)}{where}; "
            f"valid fields: {', '.join(valid)}"
        )


def _tuples(value: Any) -> Any:
    """Lists → tuples, recursively (configs are frozen and hold tuples)."""
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return value


def config_from_dict(cls: type[TwinConfig], d: dict[str, Any]) -> TwinConfig:
    """Rebuild a config of class ``cls`` from its ``to_dict``/JSON form: lists become tuples and
    nested dicts become the dataclass their field is typed with (e.g. ``scaling``)."""
    _check_fields(cls, d)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        hint = hints.get(key)
        if isinstance(value, dict) and dataclasses.is_dataclass(hint):
            kwargs[key] = config_from_dict(hint, value)  # type: ignore[arg-type]
        else:
            kwargs[key] = _tuples(value)
    return cls(**kwargs)


def build(name: str, preset: str | None = None, **overrides: Any) -> Twin:
    """A fresh twin ``name`` from ``preset`` (None: config defaults) with field ``overrides``,
    e.g. ``build("tcn", "C", **for_cell(cell))`` or ``build("gru", hidden_sizes=(64, 32))``.

    With ``num_dend=0`` (a point cell) and no explicit ``heads``, the ``dend`` head is dropped
    from the default heads. Raises ValueError for an unknown name, preset or field."""
    entry = get(name)
    if preset is not None and preset not in entry.presets:
        raise ValueError(
            f"unknown preset {preset!r} for twin {name!r}; valid presets: "
            f"{', '.join(entry.presets) or '(none)'}"
        )
    _check_fields(entry.config_class, overrides)
    fields = {**(entry.presets[preset] if preset is not None else {}), **overrides}
    if fields.get("num_dend") == 0 and "heads" not in fields:
        default_heads = next(
            f for f in dataclasses.fields(entry.config_class) if f.name == "heads"
        ).default
        fields["heads"] = tuple(h for h in default_heads if h != "dend")  # type: ignore[union-attr]
    return entry.twin_class(config_from_dict(entry.config_class, fields))


def from_spec(spec: dict[str, Any]) -> Twin:
    """Rebuild the (untrained) twin described by ``model.spec()``; load its state_dict next."""
    if not isinstance(spec, dict) or "name" not in spec or "config" not in spec:
        raise ValueError("a twin spec is a dict with keys 'name' and 'config' (see Twin.spec)")
    entry = get(spec["name"])
    return entry.twin_class(config_from_dict(entry.config_class, dict(spec["config"])))


def for_cell(cell: Any) -> dict[str, Any]:
    """Config overrides that fit a cell config (``neurotwin.cells.preset(...)``):
    ``{"in_channels": prod(cell.input_shape), "num_dend": cell.num_dend}``. For a point cell
    (num_dend 0) :func:`build` then drops the ``dend`` head by itself."""
    return {"in_channels": math.prod(cell.input_shape), "num_dend": int(cell.num_dend)}


def registry_table(cell: Any) -> list[dict[str, Any]]:
    """Every registered twin and preset, built for ``cell``: name, preset, num_params,
    receptive_field_ms (``math.inf`` for recurrent twins) and whether it is the default."""
    fit = for_cell(cell)
    rows = []
    for entry in _REGISTRY.values():
        for preset in entry.presets:
            model = build(entry.name, preset, **fit)
            rows.append(
                {
                    "name": entry.name,
                    "preset": preset,
                    "num_params": model.num_params,
                    "receptive_field_ms": model.receptive_field_ms,
                    "default": preset == entry.default_preset,
                }
            )
    return rows
