"""Glue between inverse datasets (part 1: :mod:`neurotwin.inverse.data`) and the learning code:
load a split as arrays, train an estimator folder, evaluate it (metrics + figures).

The learning modules (:mod:`.fit`, :mod:`.ensemble`, :mod:`.ood`) work on plain arrays; this is
the only module of the learning side that opens a dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.interrupt import StopFlag
from neurotwin.inverse.ensemble import (
    EnsembleConfig,
    EnsemblePrediction,
    Estimator,
    apply_transform,
    train_ensemble,
)
from neurotwin.inverse.evaluate import (
    calibration_curve,
    regression_summary,
    residual_correlation,
    traded_pairs,
    uncertainty_summary,
)
from neurotwin.inverse.fit import FitConfig
from neurotwin.inverse.regressor import RegressorConfig
from neurotwin.train.checkpoint import plain, write_json

log = logging.getLogger(__name__)


@dataclass
class SplitArrays:
    """One split as arrays: features x (N, T), scaled targets z (N, K), raw traces (N, T) mV,
    physical θ (N, K), and the dataset's meta."""

    x: np.ndarray
    z: np.ndarray
    v_mv: np.ndarray
    theta: np.ndarray
    meta: dict[str, Any]


def _estimator_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The dataset meta entries an estimator needs to rebuild the simulator and transform."""
    keep = ("simulator", "params", "stimulus", "dt_ms", "transform", "seed", "versions")
    return plain({k: meta[k] for k in keep if k in meta})


def load_split(
    path: str | Path,
    split: str,
    max_n: int | None = None,
    transform: dict[str, Any] | None = None,
) -> SplitArrays:
    """Split ``split`` of the inverse dataset at ``path`` (its first ``max_n`` items); features
    by ``transform`` (a spec, e.g. an estimator's), default the dataset's."""
    from neurotwin.inverse.data import open_inverse_dataset

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"inverse dataset {path} does not exist")
    store = open_inverse_dataset(path)
    sp = store.split(split)
    n = len(sp.theta) if max_n is None else min(int(max_n), len(sp.theta))
    v = np.asarray(sp.traces_mv[:n], dtype=np.float32)
    meta = dict(store.meta)
    if transform is not None:
        meta["transform"] = transform
    x = apply_transform(v, meta.get("transform"))
    z = np.asarray(sp.theta_scaled[:n], dtype=np.float32)
    theta = np.asarray(sp.theta[:n], dtype=np.float32)
    return SplitArrays(x, z, v, theta, meta)


def default_regressor(n_inputs: int, n_outputs: int, **sets: Any) -> RegressorConfig:
    """The default architecture for traces of ``n_inputs`` samples: average-pool to about 400
    samples, four conv blocks with batch norm, two FC blocks; ``sets`` override fields."""
    pool = max(1, round(n_inputs / 400))
    base = RegressorConfig(
        n_inputs=n_inputs, n_outputs=n_outputs, input_pool=pool,
        conv_filters=(16, 32, 64, 64), fc_sizes=(128, 64), dropout=0.1,
    )  # fmt: skip
    return base.replace(**sets) if sets else base


def split_sets(sets: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``{"model.kernel": 7, "fit.lr": 1e-3, "ensemble.n_members": 4}`` → three dicts; keys
    without a prefix are looked up in the fit, model and ensemble configs in that order."""
    import dataclasses

    fields = {
        "model": {f.name for f in dataclasses.fields(RegressorConfig)},
        "fit": {f.name for f in dataclasses.fields(FitConfig)},
        "ensemble": {f.name for f in dataclasses.fields(EnsembleConfig)},
    }
    out: dict[str, dict[str, Any]] = {"model": {}, "fit": {}, "ensemble": {}}
    for key, value in sets.items():
        group, dot, name = key.partition(".")
        if not dot:
            group = next((g for g in ("fit", "model", "ensemble") if key in fields[g]), "")
            name = key
        if group not in out or name not in fields[group]:
            raise ValueError(
                f"unknown setting {key!r}; use model.FIELD, fit.FIELD or ensemble.FIELD "
                f"(model: {sorted(fields['model'])}; fit: {sorted(fields['fit'])}; "
                f"ensemble: {sorted(fields['ensemble'])})"
            )
        out[group][name] = value
    return out["model"], out["fit"], out["ensemble"]


def train_estimator(
    data: str | Path,
    out: str | Path,
    *,
    model_sets: dict[str, Any] | None = None,
    fit_sets: dict[str, Any] | None = None,
    ens_sets: dict[str, Any] | None = None,
    max_train: int | None = None,
    stop: StopFlag | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    jobs: int = 1,
    threads: int = 1,
) -> Estimator:
    """Train (or resume) an estimator folder ``out`` on the dataset ``data`` (``jobs`` members
    at once, ``threads`` torch threads each: :func:`train_ensemble`)."""
    tr = load_split(data, "train", max_train)
    va = load_split(data, "valid")
    model_cfg = default_regressor(tr.x.shape[1], tr.z.shape[1], **(model_sets or {}))
    fit_cfg = FitConfig(**(fit_sets or {}))
    ens_cfg = EnsembleConfig(**(ens_sets or {}))
    return train_ensemble(
        out, tr.x, tr.z, va.x, va.z, model_cfg=model_cfg, fit_cfg=fit_cfg, ens_cfg=ens_cfg,
        meta=_estimator_meta(tr.meta), data_info={"path": str(Path(data).resolve())},
        stop=stop, progress=progress, jobs=jobs, threads=threads,
    )  # fmt: skip


def evaluate_predictions(
    z_true: np.ndarray, pred: EnsemblePrediction, names: list[str]
) -> dict[str, Any]:
    """Regression metrics, coverage (calibrated and raw σ), calibration curve, residual
    correlations and the false-alarm rate of the OOD flag."""
    nominal, observed = calibration_curve(z_true, pred.mean, pred.std)
    _, observed_raw = calibration_curve(z_true, pred.mean, pred.std_raw)
    out: dict[str, Any] = {
        "n": len(z_true),
        **regression_summary(z_true, pred.mean, names),
        "ensemble": uncertainty_summary(z_true, pred.mean, pred.std),
        "ensemble_uncalibrated": uncertainty_summary(z_true, pred.mean, pred.std_raw),
        "calibration": {
            "nominal": nominal.tolist(),
            "observed": observed.tolist(),
            "observed_uncalibrated": observed_raw.tolist(),
        },  # fmt: skip
    }
    corr = residual_correlation(z_true, pred.mean)
    out["residual_correlation"] = corr.tolist()
    out["traded_pairs"] = [list(p) for p in traded_pairs(corr, names)]
    if pred.flag is not None:
        out["ood_false_alarm"] = float(pred.flag.mean())
    return out


def evaluate_estimator(
    estimator: Estimator,
    data: str | Path,
    split: str = "test",
    out: str | Path | None = None,
    *,
    max_n: int | None = None,
    figures: bool = True,
) -> dict[str, Any]:
    """Evaluate on a split of ``data``; with ``out``, write ``metrics.json`` and the figures."""
    sp = load_split(data, split, max_n, transform=estimator.meta.get("transform"))
    if sp.x.shape[1] != estimator.n_samples:
        raise ValueError(
            f"{data} has traces of {sp.x.shape[1]} samples; the estimator expects "
            f"{estimator.n_samples}"
        )
    pred = estimator.predict_features(sp.x)
    metrics = evaluate_predictions(sp.z, pred, estimator.param_names)
    metrics["split"] = split
    metrics["data"] = str(data)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", metrics)
        if figures:
            from neurotwin.plots.inverse import estimator_figures

            estimator_figures(sp.z, pred, estimator.param_names, metrics, out)
    return metrics
