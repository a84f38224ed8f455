"""Commands of ``neurotwin inverse`` (see neurotwin.commands.inverse)."""

from __future__ import annotations

import typer


def register(inverse_app: typer.Typer) -> None:
    """Add this module's commands to the ``inverse`` group."""
