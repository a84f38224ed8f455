"""``neurotwin study smallest``: the smallest twin that beats TCN config D on the cable neuron."""

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

    @study_app.command("smallest")
    @friendly
    def smallest(
        scale: ScaleOpt = "demo",
        config: ConfigOpt = None,
        results: ResultsOpt = Path("results"),
        data_root: DataRootOpt = Path("data/studies"),
        runs_root: RunsRootOpt = Path("runs/studies"),
        workers: WorkersOpt = None,
        seed: Annotated[int, typer.Option(help="Dataset seed.")] = 0,
        threads: Annotated[
            int | None,
            typer.Option(
                help="Torch threads for training and evaluation (default: torch's; "
                "1 is much faster on a busy 2-core machine)."
            ),
        ] = None,
        cost_threads: Annotated[
            int | None,
            typer.Option(
                help="Torch threads of the inference timing (default: the scale's cost.threads)."
            ),
        ] = None,
        quiet: QuietOpt = False,
    ) -> None:
        """The smallest twin (TCN, ELM, LSTM/GRU, Transformer sizes) that beats TCN config D's
        test AUC on the cable neuron, by parameters, inference time and peak memory: table,
        three Pareto plots, REPORT.md under results/smallest/<scale>."""
        import torch

        from neurotwin.experiments.smallest import run_smallest

        for opt, v in (("--threads", threads), ("--cost-threads", cost_threads)):
            if v is not None and v < 1:
                raise ValueError(f"{opt} must be >= 1, got {v}")
        if threads is not None:
            torch.set_num_threads(threads)
        path = run_smallest(
            scale,
            config=config,
            results_root=results,
            data_root=data_root,
            runs_root=runs_root,
            workers=workers,
            seed=seed,
            bar=bar_factory(quiet),
            command=_command(),
            threads=cost_threads,
        )
        typer.echo(f"report: {path}")
