"""``neurotwin sweep``: Optuna hyperparameter search over twin families and sizes."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer, study_app: typer.Typer) -> None:
    """Add this module's command(s): study_app is ``neurotwin study``, ``app`` the top level."""
