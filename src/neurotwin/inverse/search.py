"""Random hyperparameter search with Optuna (:func:`run_search`) and accuracy against
training-set size (:func:`run_learning_curve`).

Search: each trial samples the input stage (averaging or a learned convolution), conv filters,
kernel, pool, FC sizes, dropout, optimizer, batch size, learning rate and schedule, trains one
regressor (:func:`~neurotwin.inverse.fit.fit_regressor`)
and returns its best validation loss. The study lives in SQLite (``OUT/search.db``) by default,
so a rerun continues it: finished trials are kept, a trial left running by an interrupted
session is marked failed and its parameters are queued again, and only the missing trials run.
``OUT/best.yaml`` holds the best trial as ``--set`` overrides for ``neurotwin inverse train``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.inverse.fit import FitConfig, fit_regressor, predict_array
from neurotwin.train.checkpoint import atomic_write_text, plain

log = logging.getLogger(__name__)

FILTER_CHOICES = ("8,16,32", "16,32,64", "16,32,64,64", "32,64,64,128")
FC_CHOICES = ("64", "128,64", "256,128", "256,128,64")


def suggest(trial: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model overrides, fit overrides) sampled from the search space."""
    filters = trial.suggest_categorical("conv_filters", FILTER_CHOICES)
    fc_sizes = trial.suggest_categorical("fc_sizes", FC_CHOICES)
    model = {
        "conv_filters": tuple(int(v) for v in filters.split(",")),
        "kernel": trial.suggest_categorical("kernel", [3, 5, 7, 9]),
        "pool": trial.suggest_categorical("pool", [2, 3]),
        "fc_sizes": tuple(int(v) for v in fc_sizes.split(",")),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "input_conv": trial.suggest_categorical("input_conv", [0, 16]),
    }  # fmt: skip
    fit = {
        "optimizer": trial.suggest_categorical("optimizer", ["adamw", "adam"]),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
        "schedule": trial.suggest_categorical("schedule", ["cosine", "plateau", "constant"]),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
    }
    return model, fit


def _requeue_stale(study: Any) -> None:
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)
        log.info("trial %d was left running; queued again", t.number)


def run_search(
    data: str | Path,
    out: str | Path,
    *,
    n_trials: int = 20,
    max_train: int | None = None,
    max_epochs: int = 20,
    storage: str | None = None,
    seed: int = 0,
    study_name: str = "inverse",
    model_sets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the search until ``n_trials`` trials are complete; returns the best trial.
    ``model_sets`` fix model fields (e.g. ``input_pool``); a field fixed there is not searched."""
    import optuna
    from optuna.trial import TrialState

    from neurotwin.inverse.pipeline import default_regressor, load_split

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'search.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name, storage=storage, load_if_exists=True, direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )  # fmt: skip
    _requeue_stale(study)
    fixed = dict(model_sets or {})
    tr = load_split(data, "train", max_train)
    va = load_split(data, "valid")

    def objective(trial: Any) -> float:
        searched, fit_sets = suggest(trial)
        cfg = default_regressor(tr.x.shape[1], tr.z.shape[1], **{**searched, **fixed})
        fit = FitConfig(max_epochs=max_epochs, patience=max(3, max_epochs // 4), seed=seed,
                        **fit_sets)  # fmt: skip
        res = fit_regressor(cfg, fit, tr.x, tr.z, va.x, va.z)
        trial.set_user_attr("epochs", res.epochs)
        trial.set_user_attr("elapsed_s", res.elapsed_s)
        return res.best_val

    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if done < n_trials:
        study.optimize(objective, n_trials=n_trials - done, catch=(ValueError,))
    best = study.best_trial
    # trials of studies begun before input_conv was searched used the average pool
    searched, fit_sets = suggest(optuna.trial.FixedTrial({"input_conv": 0, **best.params}))
    sets = {**{f"model.{k}": v for k, v in {**searched, **fixed}.items()},
            **{f"fit.{k}": v for k, v in fit_sets.items()}}  # fmt: skip
    import yaml

    atomic_write_text(out / "best.yaml", yaml.safe_dump(plain(sets), sort_keys=True))
    return {"number": best.number, "value": best.value, "params": best.params, "sets": sets}


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: json.loads(v) for k, v in r.items()} for r in rows]


def run_learning_curve(
    data: str | Path,
    out: str | Path,
    sizes: list[int],
    *,
    members: int = 1,
    sets: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Train an estimator on the first ``n`` training traces for each ``n`` in ``sizes``,
    evaluate mean R² on the test split; ``learning_curve.csv`` keeps finished sizes, so a rerun
    only trains the missing ones. Sizes beyond the training split are refused."""
    from neurotwin.inverse.evaluate import r2_per_param
    from neurotwin.inverse.pipeline import load_split, split_sets, train_estimator

    if not sizes or any(n < 2 * members for n in sizes):
        raise ValueError(f"sizes must be >= {2 * members} (two per member), got {sizes}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_sets, fit_sets, ens_sets = split_sets(sets or {})
    ens_sets["n_members"] = members
    csv_path = out / "learning_curve.csv"
    rows = _read_rows(csv_path)
    te = load_split(data, "test")
    n_avail = _n_train(data)
    for n in sorted(set(sizes)):
        if n > n_avail:
            raise ValueError(f"size {n} exceeds the {n_avail} training traces of {data}")
        if any(r["n_train"] == n for r in rows):
            continue
        t0 = time.perf_counter()
        est = train_estimator(data, out / f"n{n}", model_sets=model_sets, fit_sets=fit_sets,
                              ens_sets=ens_sets, max_train=n)  # fmt: skip
        train_s = time.perf_counter() - t0
        pred = np.mean([predict_array(m, te.x) for m in est.members], axis=0)
        r2 = r2_per_param(te.z, pred)
        rows.append({"n_train": n, "mean_r2": float(r2.mean()), "r2": [float(v) for v in r2],
                     "train_s": train_s})  # fmt: skip
        rows.sort(key=lambda r: r["n_train"])
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["n_train", "mean_r2", "r2", "train_s"])
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v) for k, v in r.items()})
        atomic_write_text(csv_path, buf.getvalue())
    from neurotwin.plots.inverse import plot_learning_curve, plt, save_figure

    fig, ax = plt.subplots(figsize=(5, 3.5))
    plot_learning_curve(np.array([r["n_train"] for r in rows]),
                        np.array([r["mean_r2"] for r in rows]), ax=ax)  # fmt: skip
    fig.tight_layout()
    save_figure(fig, out / "learning_curve.png")
    return [r for r in rows if r["n_train"] in sizes]


def _n_train(data: str | Path) -> int:
    from neurotwin.inverse.data import open_inverse_dataset

    return len(open_inverse_dataset(data).split("train").theta)
