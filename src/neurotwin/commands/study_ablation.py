"""``neurotwin study ablation``: SK_E2 off/on, human vs rodent NMDA, morphology × synapse 2×2."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer, study_app: typer.Typer) -> None:
    """Add this module's command(s): study_app is ``neurotwin study``, ``app`` the top level."""
