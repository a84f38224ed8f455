"""``neurotwin study ablation``: SK_E2 off/on, human vs rodent NMDA, morphology × synapse 2×2."""

# no `from __future__ import annotations`: typer evaluates the option types, imported inside
# register() (no import cycle with neurotwin.commands.study), when the command is declared
from pathlib import Path
from typing import Annotated

import typer

from neurotwin.commands.common import friendly

__all__ = ["register"]


def register(app: typer.Typer, study_app: typer.Typer) -> None:
    """Add this module's command(s): study_app is ``neurotwin study``, ``app`` the top level."""
    from neurotwin.commands.study import (
        ConfigOpt,
        DataRootOpt,
        QuietOpt,
        ResultsOpt,
        RunsRootOpt,
        ScaleOpt,
        WorkersOpt,
        _command,
        bar_factory,
    )

    @study_app.command("ablation")
    @friendly
    def ablation(
        scale: ScaleOpt = "demo",
        config: ConfigOpt = None,
        results: ResultsOpt = Path("results"),
        data_root: DataRootOpt = Path("data/studies"),
        runs_root: RunsRootOpt = Path("runs/studies"),
        workers: WorkersOpt = None,
        seed: Annotated[int, typer.Option(help="Dataset seed.")] = 0,
        quiet: QuietOpt = False,
    ) -> None:
        """SK_E2 off vs on, human vs rodent NMDA, and the morphology × synapse 2×2: firing
        statistics and TCN AUC vs size per variant (the point_ampa and cable_nmda datasets and
        runs are the complexity study's); table, figures, REPORT.md under
        results/ablation/<scale>."""
        from neurotwin.experiments.ablation import run_ablation

        path = run_ablation(
            scale,
            config=config,
            results_root=results,
            data_root=data_root,
            runs_root=runs_root,
            workers=workers,
            seed=seed,
            bar=bar_factory(quiet),
            command=_command(),
        )
        typer.echo(f"report: {path}")
