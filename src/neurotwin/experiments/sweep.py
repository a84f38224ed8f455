"""Hyperparameter sweep with Optuna: twin family and sizes, learning rate and loss weights.

Each trial samples a family and its config fields from the search space, a learning rate
(log-uniform) and loss weights, trains one twin on the cable neuron's training split (budget from
the ``sweep`` block of ``studies.yaml`` at the chosen scale), and returns its **validation** spike
ROC AUC (``tutorial`` protocol); the test AUC of the trial is recorded beside it for the table.

The study lives in a SQLite file ``results/sweeps/<name>/study.db`` or any Optuna storage URL
(``postgresql://…``), so many workers on many machines can share it; each run continues until
``trials`` trials are complete (every worker's count). Running trials write a heartbeat; one
silent for ``stale_after_s`` (its process died) is marked failed and queued again, as is a trial
stopped by Ctrl-C; the repeat takes over the old run folder, so its training resumes.

Space file (YAML)::

    families:                      # registry name → config field → parameter
      tcn: {depth: {low: 1, high: 3}, width: [8, 16], kernel_ms: 41}
      gru: {hidden_sizes: [[16], [32, 32]]}
    lr: {low: 3.0e-4, high: 3.0e-3}   # always log-uniform
    loss_weights: {soma: {low: 0.05, high: 0.5}}

A parameter is a fixed value, a list of choices (``{choices: [...]}`` too), or a range
``{low, high}`` with optional ``log: true`` and ``step`` (integers when low, high and step are).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neurotwin.experiments.common import (
    BarFactory,
    DataSpec,
    RunSpec,
    Scale,
    ensure_dataset,
    headline,
    load_scale,
    no_bar,
    train_and_evaluate,
    write_report,
    write_table,
)

__all__ = ["DEFAULT_SPACE", "Param", "Space", "parse_space", "requeue_stale", "run_sweep"]

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random")
STALE_AFTER_S = 300.0  # a RUNNING trial without a heartbeat for this long is stale
HEARTBEAT_S = 30.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FROM_CELL = ("in_channels", "num_dend", "heads", "scaling")  # set by the dataset, not searched
_PRIMITIVE = (str, int, float, bool, type(None))

DEFAULT_SPACE: dict[str, Any] = yaml.safe_load("""
families:
  tcn: {depth: {low: 1, high: 3}, width: [8, 16, 24], first_kernel_ms: [41, 61],
        kernel_ms: [21, 41]}
  elm: {num_memory: {low: 5, high: 60, log: true}}
  gru: {hidden_sizes: [[16], [32], [64], [32, 32]]}
  lstm: {hidden_sizes: [[16], [32], [64], [32, 32]]}
  transformer: {d_model: [16, 32, 64], n_layers: {low: 1, high: 3}, n_heads: 2,
                window_ms: [64, 128, 256]}
lr: {low: 3.0e-4, high: 3.0e-3}
loss_weights: {soma: {low: 0.05, high: 0.5}, near_spike: {low: 0.0, high: 0.5},
               dend: {low: 0.0, high: 0.2}}
""")


# -- the search space --------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One searched (or fixed) value: ``kind`` is fixed | choice | int | float."""

    kind: str
    value: Any = None
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    source: Any = None  # the YAML form

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            if all(isinstance(c, _PRIMITIVE) for c in self.choices):
                return trial.suggest_categorical(name, list(self.choices))
            encoded = [json.dumps(c) for c in self.choices]  # Optuna stores primitives only
            return json.loads(trial.suggest_categorical(name, encoded))
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def first(self) -> Any:  # a value of the space, to check that a family builds
        if self.kind in ("fixed", "choice"):
            return self.value if self.kind == "fixed" else self.choices[0]
        return int(self.low) if self.kind == "int" else self.low

    def to_dict(self) -> Any:
        return self.source


@dataclass(frozen=True)
class Space:
    """families: registry name → {config field: Param}; lr: Param; loss_weights: head → Param."""

    families: dict[str, dict[str, Param]]
    lr: Param
    loss_weights: dict[str, Param]

    def to_dict(self) -> dict[str, Any]:
        return {
            "families": {
                f: {k: p.to_dict() for k, p in ps.items()} for f, ps in self.families.items()
            },
            "lr": self.lr.to_dict(),
            "loss_weights": {h: p.to_dict() for h, p in self.loss_weights.items()},
        }

    def sample(self, trial: Any) -> dict[str, Any]:
        """``{"family", "model": config overrides, "lr", "loss_weights"}`` for ``trial``."""
        family = trial.suggest_categorical("family", list(self.families))
        model = {k: p.suggest(trial, f"{family}.{k}") for k, p in self.families[family].items()}
        lr = float(self.lr.suggest(trial, "lr"))
        weights = {
            h: float(p.suggest(trial, f"loss_weights.{h}")) for h, p in self.loss_weights.items()
        }
        return {"family": family, "model": model, "lr": lr, "loss_weights": weights}


def _number(v: Any, where: str) -> float | int:
    try:  # YAML reads 3e-4 (no dot) as a string
        return v if isinstance(v, int | float) and not isinstance(v, bool) else float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number, got {v!r}") from None


def parse_param(
    v: Any, where: str, *, log: bool | None = None, minimum: float | None = None
) -> Param:
    """A parameter from its YAML form; ``log`` forces log-uniform ranges; ``minimum`` bounds
    every value. Raises ValueError naming ``where``."""
    if isinstance(v, list) or (isinstance(v, dict) and "choices" in v):
        if isinstance(v, dict) and set(v) != {"choices"}:
            raise ValueError(f"{where}: a choice takes only 'choices', got {sorted(v)}")
        choices = v if isinstance(v, list) else v["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"{where}: choices must be a non-empty list")
        if minimum is not None:
            for c in choices:
                if _number(c, where) < minimum:
                    raise ValueError(f"{where}: choices must be >= {minimum}, got {c!r}")
        return Param("choice", choices=tuple(choices), source=list(choices))
    if isinstance(v, dict):
        unknown = sorted(set(v) - {"low", "high", "log", "step"})
        if unknown or "low" not in v or "high" not in v:
            raise ValueError(
                f"{where}: a range needs low and high (optional log, step)"
                + (f"; unknown key(s) {', '.join(map(str, unknown))}" if unknown else "")
            )
        lo, hi = _number(v["low"], f"{where}.low"), _number(v["high"], f"{where}.high")
        step = None if v.get("step") is None else _number(v["step"], f"{where}.step")
        use_log = bool(v.get("log", False)) if log is None else log
        if not lo <= hi:
            raise ValueError(f"{where}: low must be <= high, got {lo} > {hi}")
        if use_log and (lo <= 0 or step is not None):
            raise ValueError(f"{where}: a log range needs low > 0 and no step, got low {lo}")
        if step is not None and step <= 0:
            raise ValueError(f"{where}.step must be > 0, got {step}")
        if minimum is not None and lo < minimum:
            raise ValueError(f"{where}.low must be >= {minimum}, got {lo}")
        ints = all(isinstance(x, int) for x in (v["low"], v["high"])) and (
            step is None or isinstance(v["step"], int)
        )
        kind = "int" if ints else "float"
        return Param(kind, low=lo, high=hi, log=use_log, step=step, source=dict(v))
    if isinstance(v, _PRIMITIVE) and v is not None:
        if minimum is not None and _number(v, where) < minimum:
            raise ValueError(f"{where} must be >= {minimum}, got {v!r}")
        return Param("fixed", value=v if minimum is None else _number(v, where), source=v)
    raise ValueError(f"{where}: expected a value, a list of choices or {{low, high}}, got {v!r}")


def parse_space(doc: Any, source: str = "space") -> Space:
    """Validate a space mapping (the YAML's content); ValueError names the bad key."""
    from neurotwin import models
    from neurotwin.models.base import HEADS

    if not isinstance(doc, dict):
        raise ValueError(f"{source}: expected a mapping with families, lr, loss_weights")
    unknown = sorted(set(doc) - {"families", "lr", "loss_weights"})
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {', '.join(map(str, unknown))}; "
            "valid: families, lr, loss_weights"
        )
    fams = doc.get("families")
    if not isinstance(fams, dict) or not fams:
        raise ValueError(f"{source}: families must be a non-empty mapping of twin names")
    families: dict[str, dict[str, Param]] = {}
    for fam, fields in fams.items():
        where = f"{source}: families.{fam}"
        if fam not in models.names():
            raise ValueError(f"{where}: unknown twin; valid twins: {', '.join(models.names())}")
        fields = fields or {}
        if not isinstance(fields, dict):
            raise ValueError(f"{where} must be a mapping of config fields")
        cls = models.get(fam).config_class
        valid = [f.name for f in dataclasses.fields(cls) if f.name not in _FROM_CELL]
        for k in fields:
            if k not in valid:
                raise ValueError(
                    f"{where}.{k}: unknown {cls.__name__} field; valid fields: {', '.join(valid)}"
                )
        families[fam] = {k: parse_param(p, f"{where}.{k}") for k, p in fields.items()}
        try:
            models.build(fam, **{k: p.first() for k, p in families[fam].items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    if "lr" not in doc:
        raise ValueError(f"{source}: lr is missing (e.g. lr: {{low: 3.0e-4, high: 3.0e-3}})")
    lr = parse_param(doc["lr"], f"{source}: lr", log=True, minimum=1e-12)
    weights_doc = doc.get("loss_weights") or {}
    if not isinstance(weights_doc, dict):
        raise ValueError(f"{source}: loss_weights must be a mapping head → parameter")
    weights: dict[str, Param] = {}
    for head, p in weights_doc.items():
        if head not in HEADS:
            raise ValueError(
                f"{source}: loss_weights.{head}: unknown head; valid heads: {', '.join(HEADS)}"
            )
        weights[head] = parse_param(p, f"{source}: loss_weights.{head}", minimum=0.0)
    return Space(families, lr, weights)


def load_space(path: str | Path | None) -> Space:
    """The space in the YAML file ``path``, or :data:`DEFAULT_SPACE` when None."""
    if path is None:
        return parse_space(DEFAULT_SPACE, "default space")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"space file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_space(doc, str(path))


# -- the study -----------------------------------------------------------------------------------
def requeue_stale(study: Any, stale_after_s: float = STALE_AFTER_S) -> list[int]:
    """Mark RUNNING trials whose heartbeat (or start) is older than ``stale_after_s`` failed and
    queue their parameters again; returns their numbers."""
    from optuna.trial import TrialState

    now, out = time.time(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        start = t.datetime_start.timestamp() if t.datetime_start else 0.0
        if now - float(t.user_attrs.get("heartbeat", start)) < stale_after_s:
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):  # another worker finished it first
            continue
        study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
        log.warning("trial %d was left running (no heartbeat); queued again", t.number)
        out.append(t.number)
    return out


@contextlib.contextmanager
def _heartbeat(trial: Any, every_s: float) -> Iterator[None]:
    """Write ``heartbeat`` (unix time) into the trial's user attributes every ``every_s``."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                trial.set_user_attr("heartbeat", time.time())
            except Exception as exc:  # noqa: BLE001 - a missed beat is only logged
                log.debug("heartbeat of trial %d failed: %s", trial.number, exc)

    trial.set_user_attr("heartbeat", time.time())
    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _dataset(sc: Scale, config: str | Path | None) -> DataSpec:
    """The complexity study's dataset of ``cell`` when the sweep's data equal its at this scale
    (one dataset for both), else a dataset of the sweep's own."""
    from neurotwin.experiments.smallest import reference_scale

    cell = str(sc.extra.get("cell", "cable_nmda"))
    try:
        shared = (
            cell in ("cable_nmda", "point_ampa")
            and reference_scale(sc.name, config).data == sc.data
        )
    except ValueError:  # no complexity settings at this scale
        shared = False
    return DataSpec(cell, cell) if shared else DataSpec(f"sweep_{cell}", cell)


def _safe_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


DATA_SEED = 0  # the studies' dataset seed (complexity's default)


def run_sweep(
    name: str,
    space: str | Path | None = None,
    trials: int | None = None,
    *,
    scale: str = "demo",
    config: str | Path | None = None,
    results_root: str | Path = "results",
    data_root: str | Path = "data/studies",
    runs_root: str | Path = "runs/studies",
    out: str | Path | None = None,
    storage: str | None = None,
    sampler: str = "tpe",
    seed: int = 0,
    workers: int | None = None,
    stale_after_s: float = STALE_AFTER_S,
    heartbeat_s: float = HEARTBEAT_S,
    bar: BarFactory = no_bar,
    command: str | None = None,
) -> Path:
    """Run (or continue) sweep ``name`` until ``trials`` trials are complete (default: the
    scale's ``trials``); write its table, plot and REPORT.md under ``out`` (default
    ``results_root/sweeps/<name>``); returns the REPORT.md path."""
    import optuna
    from optuna.trial import TrialState

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"--study must be letters, digits, _ . - (a folder name), got {name!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if stale_after_s < 0 or heartbeat_s <= 0:
        raise ValueError(
            f"stale_after_s must be >= 0 and heartbeat_s > 0, got {stale_after_s}, {heartbeat_s}"
        )
    sc = load_scale("sweep", scale, config)
    n_trials = int(trials if trials is not None else sc.extra.get("trials", 20))
    if n_trials < 1:
        raise ValueError(f"trials must be >= 1, got {n_trials}")
    sp = load_space(space)
    out = Path(out) if out is not None else Path(results_root) / "sweeps" / name
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    spec = _dataset(sc, config)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name, storage=url, load_if_exists=True, direction="maximize"
    )
    _check_study(study, sc, sp, spec)
    offset = len(study.get_trials(deepcopy=False))  # a rerun draws new points, not the same
    study.sampler = (
        optuna.samplers.TPESampler(seed=seed + offset)
        if sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=seed + offset)
    )
    # the dataset's seed is not the worker's: every worker (each with its own --seed) and the
    # complexity study share one dataset
    data = ensure_dataset(spec, sc, Path(data_root), seed=DATA_SEED, workers=workers, bar=bar)
    runs = Path(runs_root) / "sweeps" / name
    errors: list[str] = []
    objective = _objective(study, sp, sc, data, runs, heartbeat_s, errors, bar)

    def complete() -> int:
        return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    with bar(f"sweep {name}", n_trials) as b:
        shown = min(complete(), n_trials)
        b.update(shown)
        while (done := complete()) < n_trials:
            b.update(min(done, n_trials) - shown)
            shown = min(done, n_trials)
            if len(errors) > n_trials + 5:
                raise RuntimeError(
                    f"{len(errors)} trials of sweep {name} failed; last: {errors[-1]}"
                )
            requeue_stale(study, stale_after_s)
            study.optimize(objective, n_trials=1, catch=(ValueError,))
        b.update(n_trials - shown)
    info = {"trials": n_trials, "sampler": sampler, "seed": seed, "space": sp.to_dict()}
    sc = dataclasses.replace(sc, extra={**sc.extra, **info})
    command = command or f"neurotwin sweep --study {name} --scale {scale} --trials {n_trials}"
    # the report names the default file as given (relative), not this machine's absolute path
    return _outputs(study, sp, sc, out, storage or f"sqlite:///{out / 'study.db'}", command)


def _check_study(study: Any, sc: Scale, sp: Space, spec: DataSpec) -> None:
    """A study continues only with the budget it started with (AUCs stay comparable)."""
    mine = {"scale": sc.name, "train": sc.train, "data": sc.data, "dataset": spec.name}
    attrs = study.user_attrs
    if "settings" not in attrs:
        study.set_user_attr("settings", mine)
        study.set_user_attr("space", sp.to_dict())
        return
    if json.loads(json.dumps(attrs["settings"])) != json.loads(json.dumps(mine)):
        raise ValueError(
            f"sweep {study.study_name!r} was started with other settings ({attrs['settings']}); "
            "continue it with the same --scale/--config or use another --study name"
        )
    if json.loads(json.dumps(attrs.get("space"))) != json.loads(json.dumps(sp.to_dict())):
        log.warning("sweep %s continues with another search space", study.study_name)


def _objective(
    study: Any,
    sp: Space,
    sc: Scale,
    data: Path,
    runs: Path,
    heartbeat_s: float,
    errors: list[str],
    bar: BarFactory,
) -> Any:
    from neurotwin.interrupt import Interrupted
    from neurotwin.train.config import DEFAULT_LOSS_WEIGHTS

    test_auc = bool(sc.extra.get("test_auc", True))
    base = dict(sc.train.get("loss_weights") or DEFAULT_LOSS_WEIGHTS)  # heads not searched

    def objective(trial: Any) -> float:
        k = trial.number
        run_dir = runs / f"trial_{k}"
        _adopt(trial, runs, run_dir)
        with _heartbeat(trial, heartbeat_s):
            try:
                s = sp.sample(trial)
                sets = {"lr": s["lr"], "loss_weights": {**base, **s["loss_weights"]}}
                run = RunSpec(f"trial_{k}", s["family"], None, s["model"], s["family"], sets)
                trial.set_user_attr("model", s["model"])
                res = train_and_evaluate(
                    run, data, run_dir, sc, split="valid", bar=bar, figures=False
                )
                h = headline(res)
                if h["auc"] is None or not math.isfinite(h["auc"]):
                    raise ValueError(
                        f"trial {k}: validation AUC undefined (no spikes in the valid windows)"
                    )
                if test_auc:
                    t = headline(
                        train_and_evaluate(run, data, run_dir, sc, split="test", figures=False)
                    )
                    trial.set_user_attr("test_auc", t["auc"])
            except (Interrupted, KeyboardInterrupt):
                study.enqueue_trial(trial.params, user_attrs={"requeued_from": k})
                raise
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
                trial.set_user_attr("error", str(exc)[:500])
                raise ValueError(str(exc)) from exc
        for key in ("params", "receptive_field_ms", "steps", "train_min"):
            v = h[key]
            trial.set_user_attr(key, None if isinstance(v, float) and not math.isfinite(v) else v)
        trial.set_user_attr("run_dir", str(run_dir))
        return float(h["auc"])

    return objective


def _adopt(trial: Any, runs: Path, run_dir: Path) -> None:
    """A queued repeat of trial j takes over ``trial_<j>``'s run folder (training resumes)."""
    j = trial.user_attrs.get("requeued_from")
    old = runs / f"trial_{j}"
    if j is None or run_dir.exists() or not (old / "config.yaml").is_file():
        return
    os.replace(old, run_dir)
    log.info("trial %d resumes the run of trial %d", trial.number, j)


# -- outputs ------------------------------------------------------------------------------------
def trial_rows(study: Any, sp: Space) -> list[dict[str, Any]]:
    """One row per complete trial, by trial number; ``pareto`` marks the front of validation
    AUC against parameters."""
    from optuna.trial import TrialState

    from neurotwin.plots.studies import pareto_front

    rows = []
    heads = list(sp.loss_weights)
    for t in sorted(
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number
    ):
        u, p = t.user_attrs, t.params
        family = p.get("family", "?")
        model = u.get("model") or {}
        rows.append(
            {
                "trial": t.number,
                "family": family,
                "params": u.get("params"),
                "config": " ".join(f"{k}={_short(v)}" for k, v in model.items()),
                "lr": p.get("lr", sp.lr.value),
                **{f"w_{h}": p.get(f"loss_weights.{h}", sp.loss_weights[h].value) for h in heads},
                "val_auc": t.value,
                "test_auc": u.get("test_auc"),
                "receptive_field_ms": u.get("receptive_field_ms"),
                "steps": u.get("steps"),
                "train_min": u.get("train_min"),
                "pareto": "",
            }
        )
    ok = [i for i, r in enumerate(rows) if r["params"] is not None]
    for i in pareto_front([rows[i]["params"] for i in ok], [rows[i]["val_auc"] for i in ok]):
        rows[ok[i]]["pareto"] = "yes"
    return rows


def _short(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def _outputs(study: Any, sp: Space, sc: Scale, out: Path, storage: str, command: str) -> Path:
    from optuna.trial import TrialState

    from neurotwin.plots.studies import plot_auc_vs_size
    from neurotwin.plots.weights import save
    from neurotwin.train.checkpoint import atomic_write_text, write_json

    rows = trial_rows(study, sp)
    table = write_table(rows, out / "table.csv")
    atomic_write_text(out / "table.md", table + "\n")
    pts = [
        {**r, "auc": r["val_auc"], "tag": str(r["trial"]) if r["pareto"] else ""}
        for r in rows
        if r["params"] is not None
    ]
    ax = plot_auc_vs_size(pts, "params", colour_by="family", label="tag", size_label="parameters")
    ax.set_ylabel("spike ROC AUC (validation)")
    ax.set_title(f"sweep {study.study_name}: {len(rows)} trials", fontsize=9)
    fig = save(ax.figure, out / "auc_vs_params.png")
    best = max(rows, key=lambda r: (r["val_auc"], -(r["params"] or 0)))
    attrs = next(
        t.user_attrs for t in study.get_trials(deepcopy=False) if t.number == best["trial"]
    )
    run_dir = attrs.get("run_dir")
    write_json(out / "best.json", {**best, "model": attrs.get("model"), "run_dir": run_dir})
    states = {
        s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,)))
        for s in (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
    }
    front = [r for r in rows if r["pareto"]]
    lines = [
        f"# Sweep `{study.study_name}` ({sc.name} scale)",
        "",
        f"Optuna, {sc.extra['sampler']} sampler (seed {sc.extra['seed']}), maximising the "
        "**validation** spike ROC AUC (`tutorial` protocol on the valid split) of twins trained "
        f"on the {sc.extra.get('cell', 'cable_nmda')} training split; `test_auc` is recorded "
        "beside it and was not used to choose. Trials: "
        + ", ".join(f"{n} {s}" for s, n in states.items())
        + f". Storage: `{_safe_url(storage)}`.",
        "",
        "## Best trial",
        "",
        f"Trial **{best['trial']}**: {best['family']} ({best['config'] or 'defaults'}), "
        f"{_int(best['params'])} parameters, lr {best['lr']:.3g}, validation AUC "
        f"**{best['val_auc']:.4f}**"
        + (f", test AUC {best['test_auc']:.4f}" if best["test_auc"] is not None else "")
        + f"; run folder `{run_dir}`"
        + " (also in `best.json`).",
        "",
        "Pareto front (no trial has fewer parameters and a higher validation AUC): "
        + ", ".join(
            f"{r['trial']} ({r['family']}, {_int(r['params'])}, {r['val_auc']:.4f})" for r in front
        )
        + ".",
        "",
        table,
        "",
        f"![{fig.stem}]({fig.relative_to(out).as_posix()})",
    ]
    return write_report(out / "REPORT.md", "\n".join(lines) + "\n", sc, command)


def _int(v: Any) -> str:
    return "?" if v is None else f"{int(v):,d}"
