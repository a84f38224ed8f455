"""``neurotwin sweep``: Optuna hyperparameter search over twin families and sizes."""

# No `from __future__ import annotations`: typer reads the option types, imported inside
# register() (no import cycle with commands.study), from the signature at definition time.

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

    @app.command("sweep")
    @friendly
    def sweep(
        study: Annotated[
            str, typer.Option("--study", help="Sweep name: its storage, runs and results.")
        ],
        space: Annotated[
            Path | None,
            typer.Option(
                help="Search space YAML (e.g. configs/sweep_space.yaml; default: built in)."
            ),
        ] = None,
        trials: Annotated[
            int | None,
            typer.Option(
                help="Complete trials to reach, all workers together (default: the scale's)."
            ),
        ] = None,
        scale: ScaleOpt = "demo",
        config: ConfigOpt = None,
        storage: Annotated[
            str | None,
            typer.Option(
                help="Optuna storage URL shared by workers (default: sqlite file OUT/study.db)."
            ),
        ] = None,
        sampler: Annotated[str, typer.Option(help="tpe | random.")] = "tpe",
        seed: Annotated[
            int, typer.Option(help="Sampler seed, one per worker (they share the dataset).")
        ] = 0,
        out: Annotated[
            Path | None, typer.Option(help="Output folder (default: RESULTS/sweeps/STUDY).")
        ] = None,
        results: ResultsOpt = Path("results"),
        data_root: DataRootOpt = Path("data/studies"),
        runs_root: RunsRootOpt = Path("runs/studies"),
        workers: WorkersOpt = None,
        threads: Annotated[
            int | None, typer.Option(help="Torch threads for training (default: torch's).")
        ] = None,
        stale_after: Annotated[
            float,
            typer.Option(
                help="Seconds without a heartbeat after which a RUNNING trial is "
                "failed and queued again."
            ),
        ] = 300.0,
        quiet: QuietOpt = False,
    ) -> None:
        """Optuna sweep (TPE or random) over twin families and sizes, learning rate and loss
        weights; objective: validation spike AUC. Rerunning continues the study to --trials
        complete trials. Table, AUC-vs-parameters plot, REPORT.md under RESULTS/sweeps/STUDY."""
        import torch

        from neurotwin.experiments.sweep import run_sweep

        if threads is not None:
            if threads < 1:
                raise ValueError(f"--threads must be >= 1, got {threads}")
            torch.set_num_threads(threads)
        path = run_sweep(
            study,
            space,
            trials,
            scale=scale,
            config=config,
            results_root=results,
            data_root=data_root,
            runs_root=runs_root,
            out=out,
            storage=storage,
            sampler=sampler,
            seed=seed,
            workers=workers,
            stale_after_s=stale_after,
            bar=bar_factory(quiet),
            command=_command(),
        )
        typer.echo(f"report: {path}")
