"""``neurotwin models``: every registered twin and preset with its size and receptive field."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer

from neurotwin.commands.common import friendly

__all__ = ["models_table", "register"]


def models_table(cell_name: str) -> list[dict[str, Any]]:
    """``registry_table`` for the cell preset ``cell_name`` (ValueError if unknown)."""
    from neurotwin.cells import preset
    from neurotwin.models import registry_table

    return registry_table(preset(cell_name))


def _format(rows: list[dict[str, Any]], cell_name: str) -> list[str]:
    lines = [f"twins for cell {cell_name} (* = the twin's default preset)"]
    lines.append(f"{'twin':12s} {'preset':8s} {'params':>10s} {'receptive field':>16s}")
    for r in rows:
        rf = r["receptive_field_ms"]
        rf_text = "unbounded" if math.isinf(rf) else f"{rf} ms"
        preset = r["preset"] + ("*" if r["default"] else "")
        lines.append(f"{r['name']:12s} {preset:8s} {r['num_params']:>10,d} {rf_text:>16s}")
    return lines


def _finite_or_none(value: float) -> float | None:
    return None if math.isinf(value) else value


def _models(cell: str, as_json: bool) -> None:
    rows = models_table(cell)
    if as_json:
        plain = [
            {**r, "receptive_field_ms": _finite_or_none(r["receptive_field_ms"])} for r in rows
        ]
        typer.echo(json.dumps({"cell": cell, "twins": plain}, indent=2))
        return
    for line in _format(rows, cell):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add the ``models`` command to ``app``."""

    @app.command("models")
    def models(
        cell: Annotated[
            str, typer.Option(help="Cell preset the twins are sized for (see `neurotwin cells`).")
        ] = "cable_nmda",
        as_json: Annotated[
            bool,
            typer.Option(
                "--json", help="Machine-readable: receptive_field_ms null means unbounded."
            ),
        ] = False,
    ) -> None:
        """List every registered twin and preset with its parameter count and receptive field."""
        friendly(_models)(cell, as_json)
