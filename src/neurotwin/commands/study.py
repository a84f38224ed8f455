"""``neurotwin study …``, ``neurotwin report``, ``neurotwin plot weights``: the studies users come
for, each one command that makes (or reuses) its data, trains, evaluates and reports."""

from __future__ import annotations

import contextlib
import importlib
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from neurotwin.commands.common import friendly

__all__ = ["register"]

study_app = typer.Typer(
    no_args_is_help=True,
    help="Run a study (data → twins → evaluation → figures and REPORT.md) at a scale.",
)
plot_app = typer.Typer(no_args_is_help=True, help="Figures of trained twins.")

ScaleOpt = Annotated[
    str, typer.Option(help="smoke (~1 min, tests) | demo (≤ 60 min on a CPU) | full (GPU).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option(help="YAML with the study's scales (layout of studies.yaml).")
]
ResultsOpt = Annotated[Path, typer.Option(help="Results root: results/<study>/<scale>.")]
DataRootOpt = Annotated[Path, typer.Option(help="Datasets: <data-root>/<scale>/<name>.")]
RunsRootOpt = Annotated[Path, typer.Option(help="Runs: <runs-root>/<study>/<scale>/….")]
WorkersOpt = Annotated[int | None, typer.Option(help="Simulation processes (default: all cores).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def bar_factory(quiet: bool) -> Any:
    """A progress-bar factory for the experiments: ``bar(desc, total)`` → context manager."""

    @contextlib.contextmanager
    def bar(desc: str, total: int | None) -> Iterator[Any]:
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, disable=quiet, dynamic_ncols=True, leave=False) as b:
            yield b

    return bar


def _command() -> str:
    return "neurotwin " + " ".join(shlex.quote(a) for a in sys.argv[1:])


STANDARD_STUDIES = {
    "complexity": (
        "neurotwin.experiments.complexity:run_complexity",
        "TCN configs A–E on the point and the cable neuron: table, AUC bars, first-layer "
        "filters, REPORT.md under results/complexity/<scale>.",
    ),
    "ablation": (
        "neurotwin.experiments.ablation:run_ablation",
        "SK_E2 off vs on, human vs rodent NMDA, and the morphology × synapse 2×2: firing "
        "statistics and TCN AUC vs size per variant (the point_ampa and cable_nmda datasets are "
        "the complexity study's); table, figures, REPORT.md under results/ablation/<scale>.",
    ),
    "lif": (
        "neurotwin.experiments.lif:run_lif",
        "Beniaguev et al. Fig. 1: the LIF cell, its linear-filter twin (AUC, soma EV, the "
        "learned filter against the cell's exponential kernel) and a deep TCN; table, figures, "
        "REPORT.md under results/lif/<scale>.",
    ),
}
"""Studies whose command takes exactly the common options; ``module:function`` of each runner
(called as ``run(scale, config=…, results_root=…, data_root=…, runs_root=…, workers=…,
seed=…, bar=…, command=…)``) and the command's help."""


def _standard_study(target: str, doc: str) -> Any:
    def command(
        scale: ScaleOpt = "demo",
        config: ConfigOpt = None,
        results: ResultsOpt = Path("results"),
        data_root: DataRootOpt = Path("data/studies"),
        runs_root: RunsRootOpt = Path("runs/studies"),
        workers: WorkersOpt = None,
        seed: Annotated[int, typer.Option(help="Dataset seed.")] = 0,
        quiet: QuietOpt = False,
    ) -> None:
        module, func = target.split(":")
        run = getattr(importlib.import_module(module), func)
        path = run(
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

    command.__doc__ = doc
    return command


def register(app: typer.Typer) -> None:
    from neurotwin.commands import study_report, study_smallest, study_sweep

    app.add_typer(study_app, name="study")
    app.add_typer(plot_app, name="plot")
    for module in (study_smallest, study_sweep, study_report):
        module.register(app, study_app)

    for name, (target, doc) in STANDARD_STUDIES.items():
        study_app.command(name)(friendly(_standard_study(target, doc)))

    @plot_app.command("weights")
    @friendly
    def plot_weights(
        run: Annotated[
            Path, typer.Argument(help="Run folder of a tcn, resnet_tcn or linear twin.")
        ],
        out: Annotated[Path | None, typer.Option(help="PNG (default RUN/weights.png).")] = None,
        checkpoint: Annotated[str, typer.Option(help="best | last | a path.")] = "best",
        max_filters: Annotated[int, typer.Option(help="Panels to draw.")] = 16,
    ) -> None:
        """The first-layer spatio-temporal filters of a trained twin and their mean profiles."""
        import torch

        from neurotwin.evaluate.report import checkpoint_path, load_twin
        from neurotwin.plots.weights import save, weights_figure

        if not run.is_dir():
            raise FileNotFoundError(f"run folder {run} does not exist")
        model, state = load_twin(checkpoint_path(run, checkpoint), torch.device("cpu"))
        title = f"{run.name} (step {int(state['step'])}): first-layer filters"
        path = save(
            weights_figure(model, title=title, max_filters=max_filters), out or run / "weights.png"
        )
        typer.echo(f"wrote {path}")
