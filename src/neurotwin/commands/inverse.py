"""``neurotwin inverse``: infer ion-channel parameters from a voltage trace.

The group is assembled from two modules: ``inverse_data`` (simulators and ``make-data``) and
``inverse_learn`` (train, search, evaluate, predict, demo).
"""

from __future__ import annotations

import typer

__all__ = ["inverse_app", "register"]

inverse_app = typer.Typer(
    no_args_is_help=True,
    help="Infer ion-channel parameters of a model cell from a current-clamp voltage trace.",
)


def register(app: typer.Typer) -> None:
    from neurotwin.commands import inverse_data, inverse_learn

    inverse_data.register(inverse_app)
    inverse_learn.register(inverse_app)
    app.add_typer(inverse_app, name="inverse")
