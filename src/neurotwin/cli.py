"""The ``neurotwin`` command line. Every command turns bad input into one line on stderr and a
non-zero exit code; see ``neurotwin COMMAND --help``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from neurotwin.commands.common import friendly, parse_sets, save_npz

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate neurons on NEURON, build datasets, train deep-network twins.",
)
dataset_app = typer.Typer(no_args_is_help=True, help="Make and inspect datasets.")
app.add_typer(dataset_app, name="dataset")


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Cell field override KEY=VALUE.")]


@app.command()
@friendly
def cells(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the cell presets and their fields."""
    from neurotwin.cells import preset, preset_names

    table = {name: preset(name).to_dict() for name in preset_names()}
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    for name, fields in table.items():
        typer.echo(f"{name} ({fields['family']})")
        for k, v in fields.items():
            if k not in ("family", "name"):
                typer.echo(f"    {k} = {v}")


@app.command()
@friendly
def simulate(
    cell: Annotated[str, typer.Option(help="Cell preset (see `neurotwin cells`).")],
    inputs: Annotated[Path, typer.Option(help=".npy of (2, S, T) or (B, 2, S, T) weights.")],
    out: Annotated[Path, typer.Option(help="Output .npz.")],
    set_: SetOpt = None,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the (first) simulation here.")
    ] = None,
) -> None:
    """Simulate a cell under an input array and save its voltages and spikes."""
    import neurotwin
    from neurotwin.cells import preset
    from neurotwin.sim.outputs import make_targets

    cfg = preset(cell, **parse_sets(set_))
    if not inputs.is_file():
        raise ValueError(f"input file {inputs} does not exist")
    try:
        x = np.load(inputs, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one message
        raise ValueError(f"cannot read {inputs} as a .npy array ({exc})") from exc
    res = neurotwin.simulate(cfg, x)
    batch = res if isinstance(res, list) else [res]
    targets = [make_targets(r, cfg) for r in batch]
    arrays: dict[str, Any] = {
        "soma_v": np.stack([r.soma_v for r in batch]),
        "dend_v": np.stack([r.dend_v for r in batch]),
        "spikes": np.stack([r.spikes for r in batch]),
        "spike_counts": np.array([len(r.spike_times_ms) for r in batch]),
        "spike_times_ms": np.concatenate([r.spike_times_ms for r in batch]),
        **{f"target_{k}": np.stack([t[k] for t in targets]) for k in targets[0]},
        "cell_config": np.array(json.dumps(cfg.to_dict())),
    }
    if not isinstance(res, list):
        arrays = {
            k: (v[0] if k not in ("spike_times_ms", "cell_config", "spike_counts") else v)
            for k, v in arrays.items()
        }
    save_npz(out, arrays)
    rates = ", ".join(f"{r.firing_rate_hz:.2f}" for r in batch)
    typer.echo(
        f"wrote {out}: {len(batch)} simulation(s) of {batch[0].duration_ms} ms, "
        f"firing rate(s) {rates} Hz"
    )
    if plot is not None:
        from neurotwin.data.info import _save
        from neurotwin.plots.traces import simulation_figure

        x0 = np.asarray(x if not isinstance(res, list) else x[0], dtype=np.float32)
        exc, inh = cfg.unpack_inputs(x0)
        fig = simulation_figure(
            exc, inh, batch[0].soma_v, batch[0].spike_times_ms, batch[0].dend_v, title=cfg.name
        )
        plot.parent.mkdir(parents=True, exist_ok=True)
        _save(fig, plot)
        typer.echo(f"wrote {plot}")


@dataset_app.command("make")
@friendly
def dataset_make(
    out: Annotated[Path, typer.Option(help="Dataset folder (Zarr store).")],
    cell: Annotated[str, typer.Option(help="Cell preset.")] = "cable_nmda",
    set_: SetOpt = None,
    train: Annotated[int, typer.Option(help="Training simulations.")] = 64,
    valid: Annotated[int, typer.Option(help="Validation simulations.")] = 8,
    test: Annotated[int, typer.Option(help="Test simulations.")] = 8,
    duration_ms: Annotated[int, typer.Option(help="Length of every simulation (ms).")] = 2048,
    inputs: Annotated[str | None, typer.Option(help="Input generator preset.")] = None,
    input_set: Annotated[list[str] | None, typer.Option(help="Generator override K=V.")] = None,
    filter_set: Annotated[list[str] | None, typer.Option(help="Filter override K=V.")] = None,
    seed: int = 0,
    workers: Annotated[
        int | None, typer.Option(help="Local processes (default: all cores).")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Simulations per task.")] = None,
    backend: Annotated[str, typer.Option(help="auto | batched | neuron (same arrays).")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Make (or resume) a dataset: simulate, filter, store. Rerun the same command to resume."""
    from tqdm import tqdm

    from neurotwin.data.config import build_dataset_config
    from neurotwin.data.generate import make_dataset

    config = build_dataset_config(
        cell,
        parse_sets(set_),
        inputs,
        parse_sets(input_set, "--input-set"),
        {"train": train, "valid": valid, "test": test},
        duration_ms,
        seed,
        parse_sets(filter_set, "--filter-set"),
    )
    bar: Any = None

    def progress(n: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                unit="sim",
                disable=quiet,
                dynamic_ncols=True,
                desc=f"{config.cell.name} → {out}",
            )
        bar.update(n)

    try:
        report = make_dataset(
            config,
            out,
            workers=workers,
            scheduler=scheduler,
            batch_size=batch_size,
            progress=progress,
            backend=backend,
        )
    finally:
        if bar is not None:
            bar.close()
    dropped = ", ".join(f"{k}: {v}" for k, v in sorted(report.dropped.items())) or "none"
    typer.echo(f"{out}: {report.simulated} simulated now; dropped by the filter: {dropped}")
    for split in ("train", "valid", "test"):
        s = report.summary[split]
        typer.echo(
            f"  {split}: {s['done']}/{s['requested']} stored, all-time dropped "
            f"{sum(s['dropped'].values())}"
        )


@dataset_app.command("info")
@friendly
def dataset_info(
    path: Path,
    figures: Annotated[Path | None, typer.Option(help="Write PNGs here.")] = None,
    verify: Annotated[bool, typer.Option(help="Recompute every checksum.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Counts, firing-rate and voltage statistics per split; figures of a few samples."""
    from neurotwin.data.info import dataset_figures, dataset_stats
    from neurotwin.data.store import open_dataset

    store = open_dataset(path)
    stats = dataset_stats(store)
    if verify:
        bad = {s: store.verify(s) for s in ("train", "valid", "test")}
        stats["verify"] = {
            s: ("ok" if not b else f"{len(b)} corrupt: {b[:10]}") for s, b in bad.items()
        }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "config": store.meta["config"],
                    "versions": store.meta["versions"],
                    "splits": stats,
                },
                indent=2,
            )
        )
    else:
        cfg = store.config
        typer.echo(
            f"{path}: cell {cfg.cell.name}, inputs {cfg.inputs.kind}, "
            f"{cfg.duration_ms} ms per simulation, seed {cfg.seed}"
        )
        for split, s in stats.items():
            if split == "verify":
                continue
            line = f"  {split:5s} {s['done']}/{s['requested']} stored"
            if s["done"]:
                r, v = s["rate_hz"], s["soma_mV"]
                line += (
                    f"; rate {r['mean']:.2f} Hz (min {r['min']:.2f}, max {r['max']:.2f}); "
                    f"soma {v['mean']:.1f} ± {v['std']:.1f} mV"
                )
            if s["dropped"]:
                line += f"; dropped {s['dropped']}"
            typer.echo(line)
        if verify:
            typer.echo(f"  checksums: {stats['verify']}")
    if figures is not None:
        for p in dataset_figures(store, figures):
            typer.echo(f"wrote {p}")


@app.command()
@friendly
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo writes its data and figures.")] = Path(
        "results/demo"
    ),
    train: int = 16,
    valid: int = 4,
    test: int = 4,
    duration_ms: int = 2048,
    workers: int | None = None,
) -> None:
    """The main job at a small scale: datasets for both presets, their statistics and figures."""
    from neurotwin.experiments.demo import run_demo

    report = run_demo(
        out,
        train=train,
        valid=valid,
        test=test,
        duration_ms=duration_ms,
        workers=workers,
        echo=typer.echo,
    )
    typer.echo(f"report: {report}")


def _register_command_groups() -> None:
    """Commands that live in neurotwin.commands (each module adds its own to ``app``)."""
    from neurotwin.commands import inverse as inverse_commands
    from neurotwin.commands import models as models_commands
    from neurotwin.commands import study as study_commands
    from neurotwin.commands import train as train_commands

    models_commands.register(app)
    train_commands.register(app)
    inverse_commands.register(app)
    study_commands.register(app)


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Give every command a ``short_help`` (its docstring's first paragraph on one line): in a
    group's command list Typer keeps the docstring's line breaks, which wraps summaries oddly."""
    import inspect

    for info in typer_app.registered_commands:
        doc = info.help or inspect.getdoc(info.callback) or ""
        if info.short_help is None and doc:
            info.short_help = " ".join(doc.split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _one_line_summaries(group.typer_instance)


_register_command_groups()
_one_line_summaries(app)


def main() -> None:  # pragma: no cover
    app(prog_name="neurotwin")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
