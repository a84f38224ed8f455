"""``neurotwin study lif``: Beniaguev et al. Fig. 1, the LIF cell and its linear-filter twin."""

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

    @study_app.command("lif")
    @friendly
    def lif(
        scale: ScaleOpt = "demo",
        config: ConfigOpt = None,
        results: ResultsOpt = Path("results"),
        data_root: DataRootOpt = Path("data/studies"),
        runs_root: RunsRootOpt = Path("runs/studies"),
        workers: WorkersOpt = None,
        seed: Annotated[int, typer.Option(help="Dataset seed.")] = 0,
        quiet: QuietOpt = False,
    ) -> None:
        """Beniaguev et al. Fig. 1: the LIF cell, its linear-filter twin (AUC, soma EV, the
        learned filter against the cell's exponential kernel) and a deep TCN; table, figures,
        REPORT.md under results/lif/<scale>."""
        from neurotwin.experiments.lif import run_lif

        path = run_lif(
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
