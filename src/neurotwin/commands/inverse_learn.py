"""Commands of ``neurotwin inverse`` (see neurotwin.commands.inverse): ``train``, ``evaluate``,
``posterior``, ``search``, ``learning-curve``, ``predict``, ``demo``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from neurotwin.commands.common import friendly, parse_sets

__all__ = ["register"]

DataOpt = Annotated[
    Path, typer.Option("--data", help="Inverse dataset (neurotwin inverse make-data).")
]
SetsOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="model.FIELD=V, fit.FIELD=V or ensemble.FIELD=V (repeatable)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
TolOpt = Annotated[
    float,
    typer.Option("--tol-mv", help="A refined fit within this RMS (mV) reproduces the trace."),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(help="torch CPU threads (default: torch's choice; 1 is fastest on a busy CPU)."),
]


def _threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise ValueError(f"--threads must be >= 1, got {n}")
        import torch

        torch.set_num_threads(n)


class _EpochBar:
    """A tqdm bar over members × epochs, fed by the ensemble's progress callback."""

    def __init__(self, quiet: bool, members: int, max_epochs: int) -> None:
        from tqdm import tqdm

        self.members = members
        # started now, so its clock (rate, time left) counts from the start of the command
        self.bar = tqdm(total=members * max_epochs, unit="epoch", disable=quiet,
                        dynamic_ncols=True)  # fmt: skip
        self.epochs: dict[int, int] = {}  # member -> epochs done (members may run at once)

    def __call__(self, member: int, row: dict[str, float]) -> None:
        self.epochs[member] = int(row["epoch"])
        self.bar.n = sum(self.epochs.values())
        self.bar.set_description(f"member {member + 1}/{self.members}")
        self.bar.set_postfix(train=f"{row['train_loss']:.4f}", val=f"{row['val_loss']:.4f}")
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _print_metrics(m: dict[str, Any]) -> None:
    r2 = ", ".join(f"{k} {v:.3f}" for k, v in m["r2"].items())
    typer.echo(f"{m['split']} (n={m['n']}): mean R² {m['mean_r2']:.4f} ({r2})")
    e, u = m["ensemble"], m["ensemble_uncalibrated"]
    typer.echo(
        f"coverage ±1σ {100 * e['coverage_1sigma']:.1f}% (nominal 68.3), "
        f"±2σ {100 * e['coverage_2sigma']:.1f}% (95.4); raw ensemble spread: "
        f"{100 * u['coverage_1sigma']:.1f}% / {100 * u['coverage_2sigma']:.1f}%"
    )
    if "ood_false_alarm" in m:
        typer.echo(
            f"out-of-range flag on in-distribution traces: {100 * m['ood_false_alarm']:.1f}%"
        )
    if m.get("traded_pairs"):
        pairs = ", ".join(f"{a} ~ {b} {r:+.2f}" for a, b, r in m["traded_pairs"])
        typer.echo(f"parameters that trade off (residual correlation |r| >= 0.3): {pairs}")


def train(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Estimator folder to write (or resume).")],
    members: Annotated[int | None, typer.Option(help="Ensemble members (default 8).")] = None,
    max_train: Annotated[int | None, typer.Option(help="Use the first N training traces.")] = None,
    set_: SetsOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML of model./fit./ensemble. settings (e.g. search's best.yaml)."),
    ] = None,
    quiet: QuietOpt = False,
    threads: ThreadsOpt = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="Members trained at once, each in its own process with --threads torch "
            "threads (default 1 each); the weights are those of one at a time."
        ),
    ] = 1,
) -> None:
    """Train a K-fold ensemble of CNN regressors (θ from a trace), calibrate its σ and its
    out-of-range flag on the validation split; rerun to resume after Ctrl-C."""
    _threads(threads)
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    sets: dict[str, Any] = {}
    if config is not None:
        import yaml

        if not config.is_file():
            raise FileNotFoundError(f"config file {config} does not exist")
        loaded = yaml.safe_load(config.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config} must hold a mapping of settings")
        sets = {k: tuple(v) if isinstance(v, list) else v for k, v in loaded.items()}
    sets.update(parse_sets(set_))
    from neurotwin.interrupt import StopFlag
    from neurotwin.inverse.pipeline import evaluate_estimator, split_sets, train_estimator

    model_sets, fit_sets, ens_sets = split_sets(sets)
    if members is not None:
        ens_sets["n_members"] = members
    bar = _EpochBar(quiet, ens_sets.get("n_members", 8), fit_sets.get("max_epochs", 60))
    try:
        with StopFlag() as stop:
            est = train_estimator(data, out, model_sets=model_sets, fit_sets=fit_sets,
                                  ens_sets=ens_sets, max_train=max_train, stop=stop,
                                  progress=bar, jobs=jobs, threads=threads or 1)  # fmt: skip
    finally:
        bar.close()
    typer.echo(f"wrote {out} ({len(est.members)} members, {est.manifest['num_params']} "
               "parameters each)")  # fmt: skip
    metrics = evaluate_estimator(est, data, "test", out / "eval", figures=False)
    _print_metrics(metrics)


def evaluate(
    estimator: Annotated[Path, typer.Option(help="Estimator folder.")],
    data: DataOpt,
    out: Annotated[Path | None, typer.Option(help="Folder for metrics.json and figures.")] = None,
    split: Annotated[str, typer.Option(help="train | valid | test")] = "test",
    max_n: Annotated[int | None, typer.Option(help="First N traces of the split.")] = None,
    refine: Annotated[
        int | None,
        typer.Option(
            help="Also fit the simulator to the first N traces from the estimates "
            "(refine.json: trace RMS, R² before and after, equivalent distant fits); "
            "rerun after Ctrl-C to keep the fits made."
        ),
    ] = None,
    tol_mv: TolOpt = 1.0,
    workers: Annotated[
        int | None, typer.Option(help="Processes for --refine (default: all cores).")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """R² per parameter, ±1σ/±2σ coverage, calibration curve and figures on a split."""
    from neurotwin.inverse.ensemble import load_estimator
    from neurotwin.inverse.pipeline import evaluate_estimator

    if refine is not None and refine < 2:
        raise ValueError(f"--refine must be >= 2 traces, got {refine}")
    est = load_estimator(estimator)
    out = out or estimator / "eval"
    m = evaluate_estimator(est, data, split, out, max_n=max_n)
    _print_metrics(m)
    typer.echo(f"wrote {out}/metrics.json and figures")
    if refine is not None:
        _evaluate_refined(est, data, split, refine, tol_mv, workers, quiet, out)


def _evaluate_refined(est: Any, data: Path, split: str, n: int, tol_mv: float,
                      workers: int | None, quiet: bool, out: Path) -> None:  # fmt: skip
    from tqdm import tqdm

    from neurotwin.data.generate import default_workers
    from neurotwin.inverse.refine import FAR, refine_split
    from neurotwin.plots.inverse import refinement_figure, save_figure
    from neurotwin.train.checkpoint import write_json

    with tqdm(total=n, unit="trace", desc="refine", disable=quiet, dynamic_ncols=True) as bar:
        r = refine_split(est, data, split, n, tol_mV=tol_mv, workers=workers or default_workers(),
                         progress=bar.update, journal=out / "refine.partial.jsonl")  # fmt: skip
    write_json(out / "refine.json", r)
    (out / "refine.partial.jsonl").unlink()
    save_figure(refinement_figure(r, FAR), out / "refine.png")
    typer.echo(
        f"refined fits of {r['n']} traces ({r['n_sims']} simulations): trace RMS median "
        f"{r['rms_estimate_mV_median']:.2f} mV at the estimate -> "
        f"{r['rms_refined_mV_median']:.2f} mV; mean R² {r['mean_r2_estimate']:.4f} -> "
        f"{r['mean_r2_refined']:.4f}"
    )
    typer.echo(
        f"{100 * r['share_within_tol']:.0f}% of the fits reproduce the trace to {tol_mv:g} mV "
        f"RMS; {100 * r['share_equivalent_far']:.0f}% do so with a parameter a quarter of its "
        "range or more from the truth:"
    )
    for name, p in r["params"].items():
        typer.echo(f"    {name:12s} R² {p['r2_estimate']:6.3f} -> {p['r2_refined']:6.3f}   "
                   f"equivalent far fits {100 * p['share_equivalent_far']:4.0f}%")  # fmt: skip
    typer.echo(f"wrote {out}/refine.json and refine.png")


def posterior(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Folder for the posterior and its diagnostics.")],
    max_train: Annotated[int | None, typer.Option(help="Use the first N training traces.")] = None,
    max_test: Annotated[int, typer.Option(help="Test traces for coverage.")] = 300,
    epochs: Annotated[int, typer.Option(help="Maximum training epochs.")] = 50,
    estimator: Annotated[
        Path | None, typer.Option(help="Compare with this ensemble's intervals.")
    ] = None,
    set_: SetsOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Neural posterior estimation (sbi, the CNN as embedding net) with expected-coverage
    diagnostics on the test split."""
    from neurotwin.inverse.pipeline import split_sets

    _threads(threads)
    model_sets, _, _ = split_sets(parse_sets(set_))
    from neurotwin.inverse.posterior import run_posterior

    res = run_posterior(data, out, max_train=max_train, max_test=max_test, max_epochs=epochs,
                        estimator=estimator, model_sets=model_sets)  # fmt: skip
    typer.echo(
        f"NPE on {res['n_train']} traces: mean R² (posterior mean) {res['mean_r2']:.4f}; "
        f"coverage ±1σ {100 * res['coverage_1sigma']:.1f}%, ±2σ {100 * res['coverage_2sigma']:.1f}%"
    )
    typer.echo(f"wrote {out}")


def search(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Folder for the study database and best.yaml.")],
    trials: Annotated[int, typer.Option(help="Total number of trials.")] = 20,
    max_train: Annotated[int | None, typer.Option(help="Use the first N training traces.")] = None,
    max_epochs: Annotated[int, typer.Option(help="Epochs per trial.")] = 20,
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL.")] = None,
    seed: int = 0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Fixed model.FIELD=V (not searched).")
    ] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Random hyperparameter search (Optuna; SQLite in OUT by default; rerun to resume)."""
    from neurotwin.inverse.pipeline import split_sets

    _threads(threads)
    model_sets, _, _ = split_sets(parse_sets(set_))
    from neurotwin.inverse.search import run_search

    best = run_search(data, out, n_trials=trials, max_train=max_train, max_epochs=max_epochs,
                      storage=storage, seed=seed, model_sets=model_sets)  # fmt: skip
    typer.echo(f"best validation loss {best['value']:.5f} (trial {best['number']}): "
               f"{json.dumps(best['params'])}")  # fmt: skip
    typer.echo(f"wrote {out}/best.yaml; train with `neurotwin inverse train --config "
               f"{out}/best.yaml ...`")  # fmt: skip


def learning_curve(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Folder for learning_curve.csv/.png.")],
    sizes: Annotated[
        str, typer.Option(help="Training-set sizes, comma-separated.")
    ] = "1000,3000,10000",
    members: Annotated[int, typer.Option(help="Ensemble members per size.")] = 1,
    set_: SetsOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Test accuracy against training-set size (resumes finished sizes)."""
    _threads(threads)
    from neurotwin.inverse.search import run_learning_curve

    try:
        ns = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise ValueError(f"--sizes expects integers separated by commas, got {sizes!r}") from exc
    rows = run_learning_curve(data, out, ns, members=members, sets=parse_sets(set_))
    for r in rows:
        typer.echo(f"n_train {r['n_train']:>7}: mean R² {r['mean_r2']:.4f}  ({r['train_s']:.0f} s)")
    typer.echo(f"wrote {out}/learning_curve.csv and .png")


def predict(
    estimator: Annotated[Path, typer.Option(help="Estimator folder.")],
    trace: Annotated[
        list[Path],
        typer.Option(
            help="Trace in mV: .npy, .csv or .nwb; repeat it, or give a folder, for many (one "
            "row each)."
        ),
    ],
    dt_ms: Annotated[
        float | None, typer.Option(help="Sampling interval of a file without a time column.")
    ] = None,
    series: Annotated[
        str | None, typer.Option(help="The NWB series to read (default: the first).")
    ] = None,
    all_series: Annotated[
        bool, typer.Option("--all-series", help="Every current-clamp series of an NWB file.")
    ] = False,
    start_ms: Annotated[
        float | None,
        typer.Option(
            help="Where the stimulus starts in a longer recording (ms from its first sample): "
            "its window is cut out."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Re-simulate at the estimate and overlay (PNG; many traces: a panel each)."
        ),
    ] = None,
    refine: Annotated[
        bool,
        typer.Option(
            "--refine",
            help="Then fit the simulator to the trace from the estimate and from each "
            "member's (least squares on the trace): the best fit, the trace RMS before and "
            "after, and each parameter's range over the fits within --tol-mv.",
        ),
    ] = False,
    tol_mv: TolOpt = 1.0,
    out: Annotated[
        Path | None, typer.Option(help="Write the estimates as CSV, one row per trace.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Estimate the cell's parameters from a trace, with ±1σ intervals and an out-of-range
    verdict (many traces: a table, and --out CSV)."""
    import numpy as np

    from neurotwin.inverse.ensemble import load_estimator
    from neurotwin.inverse.predict import (
        fit_to_estimator,
        load_traces,
        predict_traces,
        refine_prediction,
        resimulate,
        write_predictions_csv,
    )

    if out is not None and out.suffix.lower() != ".csv":
        raise ValueError(f"--out must end in .csv, got {out}")
    est = load_estimator(estimator)
    traces = load_traces(trace, all_series=all_series, dt_ms=dt_ms, default_dt_ms=est.dt_ms,
                         series=series, start_ms=start_ms)  # fmt: skip
    if len(traces) > 1 and refine:
        raise ValueError(f"--refine takes one trace; got {len(traces)}")
    results = predict_traces(est, traces)
    if out is not None:
        write_predictions_csv(out, [t.label for t in traces], results)
    if len(traces) > 1:
        _print_many(est, traces, results, as_json)
        if out is not None and not as_json:
            typer.echo(f"wrote {out}")
        if plot is not None:
            _plot_many(est, traces, results, plot, as_json)
        return
    tr, res = traces[0], results[0]
    refined = None
    if refine:
        from neurotwin.data.generate import default_workers

        refined = refine_prediction(est, tr, tol_mV=tol_mv, workers=default_workers())
    if as_json:
        doc = res.to_dict()
        if refined is not None:
            doc["refined"] = refined
        typer.echo(json.dumps(doc, indent=2))
    else:
        for note in res.notes:
            typer.echo(f"note: {note}")
        for p in res.params:
            typer.echo(f"{p.name:>12} = {p.value:.4g} {p.unit}   (±1σ: {p.low_1sigma:.4g} .. "
                       f"{p.high_1sigma:.4g})")  # fmt: skip
        if res.out_of_range is None:
            typer.echo("out-of-range check: not available for this estimator")
        else:
            verdict = "OUT OF RANGE" if res.out_of_range else "in range"
            thr = est.ood.threshold if est.ood is not None else float("nan")
            score = "at the limit" if res.ood_score >= 1e6 else f"{res.ood_score:.2f}"
            typer.echo(f"verdict: {verdict} (score {score}, threshold {thr:.2f})")
            for r in res.reasons:
                typer.echo(f"  - {r}")
        if refined is not None:
            _print_refined(refined)
        if out is not None:
            typer.echo(f"wrote {out}")
    if plot is not None:
        from neurotwin.plots.inverse import plot_trace_overlay, plt, save_figure

        obs = fit_to_estimator(tr, est)
        sim, dt = resimulate(est, np.array([p.value for p in res.params]))
        fitted = None
        if refined is not None:
            fitted, _ = resimulate(est, np.array([p["value"] for p in refined["params"]]))
        fig, ax = plt.subplots(figsize=(10, 3.5))
        plot_trace_overlay(obs.v_mv, sim, dt, refined=fitted, ax=ax)
        where = "at the estimate" + (" and the refined fit" if refined is not None else "")
        ax.set_title(f"{est.meta.get('simulator', {}).get('name', '')} {where}")
        fig.tight_layout()
        save_figure(fig, plot)
        typer.echo(f"wrote {plot}", err=as_json)  # stdout stays valid JSON


def _print_many(est: Any, traces: list[Any], results: list[Any], as_json: bool) -> None:
    """One row per trace (the estimates), then each flagged trace's reasons and the notes."""
    if as_json:
        rows = [{"trace": t.label, **r.to_dict()} for t, r in zip(traces, results, strict=True)]
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(t.label) for t in traces)
    names = [p.name for p in results[0].params]
    cols = [max(len(n), 10) for n in names]
    typer.echo(f"{'trace':<{width}}  {'verdict':<12}  "
               + "  ".join(f"{n:>{c}}" for n, c in zip(names, cols, strict=True)))  # fmt: skip
    units = [p.unit for p in results[0].params]
    typer.echo(f"{'':<{width}}  {'':<12}  "
               + "  ".join(f"{u:>{c}}" for u, c in zip(units, cols, strict=True)))  # fmt: skip
    for t, r in zip(traces, results, strict=True):
        verdict = {None: "-", True: "OUT OF RANGE", False: "in range"}[r.out_of_range]
        values = "  ".join(f"{p.value:>{c}.4g}" for p, c in zip(r.params, cols, strict=True))
        typer.echo(f"{t.label:<{width}}  {verdict:<12}  {values}")
    flagged = sum(bool(r.out_of_range) for r in results)
    thr = f" (threshold {est.ood.threshold:.2f})" if est.ood is not None else ""
    typer.echo(f"{len(results)} traces, {flagged} out of range{thr}")
    for t, r in zip(traces, results, strict=True):
        for why in r.reasons:
            typer.echo(f"  {t.label}: {why}")
        for note in r.notes:
            if not note.startswith("read NWB series"):  # the label names the series
                typer.echo(f"note: {t.label}: {note}")


MAX_PLOTTED = 24


def _plot_many(est: Any, traces: list[Any], results: list[Any], plot: Path, as_json: bool) -> None:
    """One panel per trace (the first MAX_PLOTTED): observed and re-simulated at the estimate,
    all simulated in one batch."""
    import numpy as np

    from neurotwin.inverse.predict import fit_to_estimator, resimulate
    from neurotwin.plots.inverse import plot_trace_overlay, plt, save_figure

    n = min(len(traces), MAX_PLOTTED)
    theta = np.array([[p.value for p in r.params] for r in results[:n]])
    sims, dt = resimulate(est, theta)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.7 * n + 0.6), sharex=True, squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        plot_trace_overlay(fit_to_estimator(traces[k], est).v_mv, sims[k], dt, ax=ax)
        verdict = " — OUT OF RANGE" if results[k].out_of_range else ""
        ax.set_title(f"{traces[k].label}{verdict}", fontsize="small", loc="left")
        if k:
            ax.get_legend().remove()
        if k < n - 1:
            ax.set_xlabel("")
    fig.tight_layout()
    save_figure(fig, plot)
    more = f" (the first {n} of {len(traces)} traces)" if n < len(traces) else ""
    typer.echo(f"wrote {plot}{more}", err=as_json)


def _print_refined(r: dict[str, Any]) -> None:
    typer.echo(
        f"refined fit (best of {r['n_starts']} starts: the estimate and each member's): trace "
        f"RMS {r['rms_start_mV']:.2f} mV at the estimate -> {r['rms_mV']:.2f} mV "
        f"({r['n_sims']} simulations)"
    )
    n, tol = r["n_within_tol"], r["tol_mV"]
    if n:
        verb = "reproduces" if n == 1 else "reproduce"
        typer.echo(f"{n} of the {r['n_starts']} fits {verb} the trace to {tol:g} mV RMS; "
                   "each parameter's range over them:")  # fmt: skip
    else:
        typer.echo(f"no fit reproduces the trace to {tol:g} mV RMS")
    for p in r["params"]:
        span = f"   ({p['low']:.4g} .. {p['high']:.4g})" if n else ""
        typer.echo(f"{p['name']:>12} = {p['value']:.4g} {p['unit']}{span}")


def demo(
    scale: Annotated[str, typer.Option(help="smoke | demo | full")] = "smoke",
    out: Annotated[Path | None, typer.Option(help="Default results/inverse/SCALE.")] = None,
    simulators: Annotated[
        str | None, typer.Option(help="Comma-separated simulators (default: all).")
    ] = None,
    posterior: Annotated[bool, typer.Option(help="Also fit the sbi posterior.")] = True,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 1,
) -> None:
    """End to end: make data, train ensembles, evaluate, cross-model OOD test, REPORT.md."""
    _threads(threads)
    from neurotwin.inverse.study import run_inverse_demo

    sims = [s.strip() for s in simulators.split(",")] if simulators else None
    report = run_inverse_demo(scale, out=out, simulators=sims, posterior=posterior,
                              log=typer.echo)  # fmt: skip
    typer.echo(f"wrote {report}")


def register(inverse_app: typer.Typer) -> None:
    """Add this module's commands to the ``inverse`` group."""
    for fn, name in (
        (train, "train"),
        (evaluate, "evaluate"),
        (posterior, "posterior"),
        (search, "search"),
        (learning_curve, "learning-curve"),
        (predict, "predict"),
        (demo, "demo"),
    ):
        inverse_app.command(name)(friendly(fn))
