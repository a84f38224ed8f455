"""Commands of ``neurotwin inverse`` (see neurotwin.commands.inverse): ``models``,
``simulate``, ``identifiability`` and ``make-data``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from neurotwin.commands.common import friendly, parse_sets, save_npz

__all__ = ["register", "split_sets"]

# options shared by simulate, identifiability and make-data
ModelOpt = Annotated[str, typer.Option(help="Simulator (see `neurotwin inverse models`).")]
StimulusOpt = Annotated[
    str | None, typer.Option(help="reset_chirp (default) | step | ramp | noise.")
]
SimSetsOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Simulator setting or stimulus field KEY=VALUE."),
]
PointsOpt = Annotated[int, typer.Option(help="Parameter sets drawn from the prior.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def split_sets(model: str, sets: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set`` pairs → (simulator settings, stimulus fields); a key that is neither is refused
    with the valid names."""
    from neurotwin.inverse.simulators import simulator_class
    from neurotwin.inverse.stimuli import Stimulus

    cls = simulator_class(model)
    sim_fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    stim_fields = {f.name for f in dataclasses.fields(Stimulus)}
    sim_sets: dict[str, Any] = {}
    stim_sets: dict[str, Any] = {}
    for key, value in parse_sets(sets).items():
        if key in sim_fields:
            sim_sets[key] = value
        elif key in stim_fields:
            stim_sets[key] = value
        else:
            raise ValueError(
                f"--set {key}: not a {model} setting ({', '.join(sorted(sim_fields)) or 'none'}) "
                f"nor a stimulus field ({', '.join(sorted(stim_fields))})"
            )
    return sim_sets, stim_sets


def _build(model: str, stimulus: str | None, sets: list[str] | None) -> tuple[Any, Any]:
    from neurotwin.inverse.simulators import get_simulator

    sim_sets, stim_sets = split_sets(model, sets)
    sim = get_simulator(model, **sim_sets)
    stim = sim.default_stimulus()
    if stimulus is not None and stimulus != stim.kind:
        stim = stim.replace(kind=stimulus)
    if stim_sets:
        stim = stim.replace(**stim_sets)
    return sim, stim


def _models(as_json: bool) -> None:
    from neurotwin.inverse.simulators import get_simulator, simulator_names

    table = [get_simulator(name).describe() for name in simulator_names()]
    for row, name in zip(table, simulator_names(), strict=True):
        row["default_stimulus"] = get_simulator(name).default_stimulus().to_dict()
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    for row in table:
        settings = ", ".join(f"{k}={v}" for k, v in row["settings"].items())
        typer.echo(f"{row['name']} ({settings}; trace transform {row['transform']})")
        for name, unit, low, high in row["params"]:
            typer.echo(f"    {name:12s} {low:>10g} … {high:<10g} {unit}")
        for name, value in row["fixed"].items():
            typer.echo(f"    {name:12s} fixed at {value:g} (name it in --set free=... to infer it)")


def _simulate(
    model: str,
    stimulus: str | None,
    sets: list[str] | None,
    params: list[str] | None,
    out: Path | None,
    plot: Path | None,
) -> None:
    sim, stim = _build(model, stimulus, sets)
    values = parse_sets(params, "--param")
    unknown = sorted(set(values) - set(sim.param_names))
    if unknown:
        raise ValueError(
            f"unknown {model} parameter(s) {', '.join(unknown)}; valid: "
            f"{', '.join(sim.param_names)}"
        )
    theta = sim.default_theta()
    for k, name in enumerate(sim.param_names):
        if name in values:
            theta[k] = float(values[name])
    v = sim.simulate(theta[None], stim)[0]
    spikes = int(np.sum((v[1:] >= 0) & (v[:-1] < 0)))
    typer.echo(
        f"{model}: {stim.kind} stimulus, {stim.duration_ms:g} ms at {stim.dt_ms:g} ms; "
        f"V from {v.min():.1f} to {v.max():.1f} mV, {spikes} spikes (upward 0 mV crossings)"
    )
    if out is not None:
        if out.suffix == ".npy":  # the trace alone, as `inverse predict --trace` reads it
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".partial")
            with open(tmp, "wb") as fh:
                np.save(fh, v)
            tmp.replace(out)
        elif out.suffix == ".npz":
            save_npz(
                out,
                {
                    "v_mV": v,
                    "current_nA": stim.current_nA(),
                    "theta": theta,
                    "param_names": np.array(sim.param_names),
                    "stimulus": np.array(json.dumps(stim.to_dict())),
                },
            )
        else:
            raise ValueError(f"--out must end in .npy (the trace) or .npz (with θ), got {out}")
        typer.echo(f"wrote {out}")
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t = stim.time_ms()
        fig, (ax_v, ax_i) = plt.subplots(
            2, 1, sharex=True, figsize=(8, 4), gridspec_kw={"height_ratios": [3, 1]}
        )
        ax_v.plot(t, v, lw=0.8)
        ax_v.set_ylabel("V (mV)")
        ax_v.set_title(
            f"{model}: "
            + ", ".join(f"{n}={x:g}" for n, x in zip(sim.param_names, theta, strict=True)),
            fontsize=7,
        )
        ax_i.plot(t, stim.current_nA(), lw=0.8, color="k")
        ax_i.set_ylabel("I (nA)")
        ax_i.set_xlabel("time (ms)")
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=120, bbox_inches="tight")
        plt.close(fig)
        typer.echo(f"wrote {plot}")


def _identifiability(
    model: str,
    stimulus: str | None,
    sets: list[str] | None,
    points: int,
    noise_mv: float,
    seed: int,
    as_json: bool,
) -> None:
    from neurotwin.inverse.identifiability import local_identifiability

    sim, stim = _build(model, stimulus, sets)
    res = local_identifiability(sim, stim, n_points=points, noise_mV=noise_mv, seed=seed)
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2))
        return
    typer.echo(
        f"{model}, {stim.kind} stimulus, {points} parameter sets, {noise_mv:g} mV white noise: "
        "the best standard deviation any unbiased estimate can reach (Cramér–Rao), in % of "
        "the prior range"
    )
    typer.echo(f"    {'parameter':12s} {'bound (%)':>10s} {'best R²':>8s} {'mV RMS/unit':>12s}")
    for name, sd, r2, rms in zip(res.names, res.sd_median, res.r2_bound, res.rms_mV, strict=True):
        typer.echo(f"    {name:12s} {50 * sd:10.3g} {r2:8.3f} {rms:12.3g}")


def _compensation(
    model: str,
    stimulus: str | None,
    sets: list[str] | None,
    points: int,
    shift: float,
    tol_mv: float,
    seed: int,
    workers: int | None,
    params: str | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    from tqdm import tqdm

    from neurotwin.data.generate import default_workers
    from neurotwin.inverse.refine import compensation

    sim, stim = _build(model, stimulus, sets)
    names = [p.strip() for p in params.split(",") if p.strip()] if params else None
    total = points * len(names or sim.params) * 2
    with tqdm(total=total, unit="fit", disable=as_json, dynamic_ncols=True) as bar:
        res = compensation(sim, stim, shift=shift, n_points=points, tol_mV=tol_mv, seed=seed,
                           workers=workers or default_workers(), params=names,
                           progress=bar.update)  # fmt: skip
    if plot is not None:
        from neurotwin.plots.inverse import compensation_figure, save_figure

        title = f"{model}, {stim.kind} stimulus: what the other parameters make up for"
        save_figure(compensation_figure(res.summary(), tol_mv, shift, title), plot)
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2))
        return
    typer.echo(
        f"{model}, {stim.kind} stimulus, {points} parameter sets, each parameter moved by "
        f"±{shift:g} scaled units ({50 * shift:g} % of its range) and the others re-fitted "
        f"to the original trace ({res.n_sims} simulations); medians:"
    )
    typer.echo(f"    {'parameter':12s} {'moved alone':>12s} {'re-fitted':>10s} "
               f"{f'<= {tol_mv:g} mV':>9s} {'others moved':>13s}")  # fmt: skip
    for name, r in res.summary().items():
        share, moved = 100 * r["share_within_tol"], 50 * r["others_moved"]
        typer.echo(f"    {name:12s} {r['alone_mV']:9.2f} mV {r['refit_mV']:7.2f} mV "
                   f"{share:8.0f}% {moved:11.1f} %")  # fmt: skip
    typer.echo(
        "(re-fitted: what is left of the change once the others may move; others moved: the "
        "largest move any other parameter made, % of its range)"
    )
    if plot is not None:
        typer.echo(f"wrote {plot}")


def _make_data(
    model: str,
    n: int,
    out: Path,
    stimulus: str | None,
    sets: list[str] | None,
    seed: int,
    workers: int | None,
    scheduler: str | None,
    chunk: int | None,
    transform: str | None,
    quiet: bool,
) -> None:
    from tqdm import tqdm

    from neurotwin.inverse.data import make_inverse_dataset

    sim, stim = _build(model, stimulus, sets)
    bar: Any = None

    def progress(k: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total, unit="sim", disable=quiet, dynamic_ncols=True, desc=f"{model} → {out}"
            )
        bar.update(k)

    try:
        report = make_inverse_dataset(
            out,
            sim,
            n,
            stimulus=stim,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            chunk=chunk,
            transform=transform,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    rate = report.simulated / report.elapsed_s if report.elapsed_s > 0 else float("nan")
    typer.echo(
        f"{out}: {report.simulated} simulated now ({rate:.1f}/s); stored "
        + ", ".join(f"{s} {report.done[s]}/{report.counts[s]}" for s in report.counts)
    )
    _warn_floor(out)


def _warn_floor(out: Path, sample: int = 500) -> None:
    """Say when the recorded transform flattens more than 1 % of (a sample of) the traces."""
    from neurotwin.inverse.data import floor_fraction, floor_mV, open_inverse_dataset

    store = open_inverse_dataset(out)
    spec = store.meta["transform"]
    split = store.split("train")
    frac = floor_fraction(split.traces_mv[: min(sample, len(split))], spec)
    if frac > 0.01:
        other = "identity" if spec["name"] == "log10_v121" else "log10_v121"
        typer.echo(
            f"note: {frac:.0%} of the samples lie at or below the {spec['name']} floor "
            f"({floor_mV(spec):g} mV) and look alike to the network; "
            f"rerun with --transform {other} to re-record it (nothing is re-simulated)"
        )


def register(inverse_app: typer.Typer) -> None:
    """Add this module's commands to the ``inverse`` group."""

    @inverse_app.command("models")
    def models_cmd(as_json: JsonOpt = False) -> None:
        """List the simulators with their settings and parameters (units, ranges)."""
        friendly(_models)(as_json)

    @inverse_app.command("simulate")
    def simulate_cmd(
        model: ModelOpt,
        stimulus: StimulusOpt = None,
        set_: SimSetsOpt = None,
        param: Annotated[
            list[str] | None,
            typer.Option("--param", help="Parameter NAME=VALUE (others: typical values)."),
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option(help="Save the trace: .npy (V in mV) or .npz (with θ, current)."),
        ] = None,
        plot: Annotated[Path | None, typer.Option(help="Draw it (.png).")] = None,
    ) -> None:
        """Simulate one parameter set under a stimulus; print a summary, save or plot it."""
        friendly(_simulate)(model, stimulus, set_, param, out, plot)

    @inverse_app.command("identifiability")
    def identifiability_cmd(
        model: ModelOpt,
        stimulus: StimulusOpt = None,
        set_: SimSetsOpt = None,
        points: PointsOpt = 16,
        noise_mv: Annotated[
            float, typer.Option("--noise-mv", help="White measurement noise per sample (mV).")
        ] = 1.0,
        seed: SeedOpt = 0,
        as_json: JsonOpt = False,
    ) -> None:
        """How precisely a trace under this stimulus could pin each parameter down, at best
        (Cramér–Rao bound from the trace's local sensitivities; compare protocols with it)."""
        friendly(_identifiability)(model, stimulus, set_, points, noise_mv, seed, as_json)

    @inverse_app.command("compensation")
    def compensation_cmd(
        model: ModelOpt,
        stimulus: StimulusOpt = None,
        set_: SimSetsOpt = None,
        points: PointsOpt = 8,
        shift: Annotated[
            float, typer.Option(help="The move, in scaled units (the prior is [-1, 1]).")
        ] = 0.5,
        tol_mv: Annotated[
            float, typer.Option("--tol-mv", help="A re-fit within this RMS (mV) makes up for it.")
        ] = 1.0,
        seed: SeedOpt = 0,
        workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
        params: Annotated[
            str | None, typer.Option(help="Comma-separated parameters to move (default: all).")
        ] = None,
        plot: Annotated[Path | None, typer.Option(help="Draw the medians (.png).")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """How far the other parameters can make up for one parameter's move: each is moved
        by ±shift and the others re-fitted to the original trace (global, unlike the local
        identifiability bound)."""
        friendly(_compensation)(model, stimulus, set_, points, shift, tol_mv, seed, workers,
                                params, plot, as_json)  # fmt: skip

    @inverse_app.command("make-data")
    def make_data_cmd(
        model: ModelOpt,
        n: Annotated[
            int,
            typer.Option(
                help="Parameter sets in all (split 0.8/0.1/0.1); a larger n on an existing "
                "dataset grows it (the stored traces are kept)."
            ),
        ],
        out: Annotated[Path, typer.Option(help="Dataset folder (Zarr); rerun to resume.")],
        stimulus: StimulusOpt = None,
        set_: SimSetsOpt = None,
        seed: SeedOpt = 0,
        workers: Annotated[
            int | None, typer.Option(help="Local processes (default: all cores).")
        ] = None,
        scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address.")] = None,
        chunk: Annotated[
            int | None, typer.Option(help="Simulations per task and Zarr chunk.")
        ] = None,
        transform: Annotated[
            str | None,
            typer.Option(
                help="Trace transform recorded for learning: log10_v81, log10_v121 or "
                "identity (default: the simulator's; `inverse models` lists it)."
            ),
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """Sample parameters uniformly, simulate, store θ (physical and scaled) and traces."""
        friendly(_make_data)(
            model, n, out, stimulus, set_, seed, workers, scheduler, chunk, transform, quiet
        )
