"""A K-fold ensemble of inverse regressors, saved as an *estimator folder*.

Member ``k`` of ``M`` trains on the training split minus fold ``k`` and stops early on fold
``k`` (with ``M = 1``: on all of it, stopping on the validation split). The ensemble's mean is
the estimate; its spread σ_ens, calibrated on the validation split as
``σ² = (a_k σ_ens)² + b_k²`` per parameter (a, b chosen so that Gaussian central intervals hold
their nominal share of validation errors at 50, 68, 80, 90 and 95%), is the uncertainty.
The validation split also sets the out-of-range detector (:mod:`.ood`).

Estimator folder::

    estimator.json            format, resolved configs (model, fit, ensemble), dataset meta
                              (simulator + settings, params, stimulus, dt_ms, transform), data
                              path and sizes, calibration (a, b), OOD summary, versions, complete
    members/member_KK.pt      finished members (weights + config + history)
    members/member_KK.state.pt  the epoch state of an unfinished member (resume)
    ood.npz                   the OOD detector

Rerunning :func:`train_ensemble` on the same folder skips finished members and resumes an
unfinished one; every file is written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.interrupt import StopFlag
from neurotwin.inverse.fit import (
    FitConfig,
    FitInterrupted,
    embed_array,
    fit_regressor,
    predict_array,
)
from neurotwin.inverse.ood import OODDetector, fit_ood
from neurotwin.inverse.regressor import InverseCNN, RegressorConfig, _coerce, _req
from neurotwin.train.checkpoint import (
    load_checkpoint,
    plain,
    save_checkpoint,
    versions,
    write_json,
)

log = logging.getLogger(__name__)

FORMAT = "neurotwin-inverse-estimator"
VERSION = 1
MANIFEST = "estimator.json"
OOD_FILE = "ood.npz"


@dataclass(frozen=True)
class EnsembleConfig:
    n_members: int = 8
    # share of validation traces flagged: 2% keeps the rate on new in-distribution traces under
    # 5% despite the sampling error of a tail quantile (Izhikevich demo: 5% on validation gave
    # 8.1% on test, 2% gave 2.7%)
    ood_false_alarm: float = 0.02
    ood_limit: float = 1.1  # |scaled estimate| at or beyond this is "at the output limit"
    max_embed: int = 5000  # training traces used to fit the embedding Gaussians

    def __post_init__(self) -> None:
        _coerce(self)
        _req(self.n_members >= 1, f"n_members must be >= 1, got {self.n_members}")
        _req(
            0 < self.ood_false_alarm < 1,
            f"ood_false_alarm must be in (0, 1), got {self.ood_false_alarm}",
        )
        _req(0 < self.ood_limit <= 1.2, f"ood_limit must be in (0, 1.2], got {self.ood_limit}")
        _req(self.max_embed >= 2, f"max_embed must be >= 2, got {self.max_embed}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class EnsemblePrediction:
    """Scaled estimates: member outputs (M, N, K), mean (N, K), raw and calibrated σ (N, K),
    and the OOD score (N,), flag (N,) and at-limit marker (N,) when a detector is present."""

    members: np.ndarray
    mean: np.ndarray
    std_raw: np.ndarray
    std: np.ndarray
    score: np.ndarray | None = None
    flag: np.ndarray | None = None
    at_limit: np.ndarray | None = None
    components: np.ndarray | None = None


CAL_LEVELS = (0.5, 0.6827, 0.8, 0.9, 0.9545)
CAL_K = (0.6745, 1.0, 1.2816, 1.6449, 2.0)  # half-widths in σ of those central intervals
CAL_WEIGHTS = (0.25, 1.0, 0.25, 0.25, 1.0)  # ±1σ and ±2σ count most


def _calibrate(err: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(a, b) for σ² = (a s)² + b² such that the Gaussian central intervals of errors ``err``
    (N,) cover them as often as they claim at :data:`CAL_LEVELS` (weighted least squares over
    levels, ±1σ and ±2σ weighing most; the Gaussian NLL breaks ties). Errors are often
    heavier-tailed than Gaussian, so matching the coverage directly beats the
    maximum-likelihood (a, b) on both ±1σ and ±2σ."""
    rms = float(np.sqrt(np.mean(err**2))) + 1e-9
    bs = np.concatenate([[0.0], np.geomspace(rms / 100, rms * 2, 40)])  # (B,)
    ks = np.asarray(CAL_K)
    levels = np.asarray(CAL_LEVELS)
    ae = np.abs(err)
    best = (np.inf, 1.0, 0.0)
    for a in np.geomspace(0.05, 20.0, 61):
        sig = np.sqrt((a * s[None, :]) ** 2 + bs[:, None] ** 2) + 1e-12  # (B, N)
        r = ae[None, :] / sig  # (B, N)
        cov = (r[:, :, None] <= ks).mean(1)  # (B, N, L) -> (B, L)
        miss = (np.asarray(CAL_WEIGHTS) * (cov - levels) ** 2).sum(1)  # (B,)
        nll = np.mean(2 * np.log(sig) + r**2, axis=1)  # (B,)
        obj = miss + 1e-4 * nll
        k = int(np.argmin(obj))
        if obj[k] < best[0]:
            best = (float(obj[k]), float(a), float(bs[k]))
    return best[1], best[2]


class Estimator:
    """A trained estimator folder: :meth:`predict_features` on features (N, T),
    :meth:`predict_traces` on raw traces in mV (N, T)."""

    def __init__(self, path: Path, manifest: dict[str, Any], members: list[InverseCNN],
                 ood: OODDetector | None) -> None:  # fmt: skip
        self.path = path
        self.manifest = manifest
        self.members = members
        self.ood = ood

    # -- description --------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        return self.manifest.get("meta") or {}

    @property
    def model_config(self) -> RegressorConfig:
        return RegressorConfig.from_dict(self.manifest["model"])

    @property
    def param_names(self) -> list[str]:
        params = self.meta.get("params")
        if params:
            return [p[0] if isinstance(p, list | tuple) else p["name"] for p in params]
        return [f"p{i}" for i in range(self.model_config.n_outputs)]

    @property
    def n_samples(self) -> int:
        return self.model_config.n_inputs

    @property
    def dt_ms(self) -> float | None:
        dt = self.meta.get("dt_ms")
        return float(dt) if dt is not None else None

    # -- prediction ---------------------------------------------------------------------
    def predict_features(self, x: np.ndarray) -> EnsemblePrediction:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.n_samples:
            raise ValueError(f"expected features (N, {self.n_samples}), got {x.shape}")
        finite = np.isfinite(x).all(1)
        xs = np.where(np.isfinite(x), x, 0.0).astype(np.float32)
        members = np.stack([predict_array(m, xs) for m in self.members])  # (M, N, K)
        mean = members.mean(0)
        std_raw = members.std(0, ddof=1) if len(members) > 1 else np.zeros_like(mean)
        cal = self.manifest.get("calibration")
        if cal:
            a, b = np.asarray(cal["a"]), np.asarray(cal["b"])
            std = np.sqrt((a * std_raw) ** 2 + b**2)
        else:
            std = std_raw
        pred = EnsemblePrediction(members, mean, std_raw, std)
        if self.ood is not None:
            emb = np.stack([embed_array(m, xs) for m in self.members])  # (M, N, E)
            score, at_limit, comp = self.ood.score(emb, mean, std_raw, xs)
            score = np.where(finite, score, np.inf)
            pred.score, pred.at_limit, pred.components = score, at_limit | ~finite, comp
            pred.flag = self.ood.flag(score)
        return pred

    def features(self, v_mv: np.ndarray) -> np.ndarray:
        return apply_transform(v_mv, self.meta.get("transform"))

    def predict_traces(self, v_mv: np.ndarray) -> EnsemblePrediction:
        return self.predict_features(self.features(v_mv))


def apply_transform(v_mv: np.ndarray, spec: dict[str, Any] | None) -> np.ndarray:
    """Raw traces (N, T) in mV → network features, by the dataset's transform spec (part 1's
    ``transform_traces``); ``None`` or ``{"name": "identity"}`` leaves them as they are."""
    v = np.asarray(v_mv, dtype=np.float32)
    if spec is None or spec.get("name") == "identity":
        return v
    from neurotwin.inverse.data import transform_traces

    return np.asarray(transform_traces(v, spec), dtype=np.float32)


def load_estimator(path: str | Path) -> Estimator:
    path = Path(path)
    mf = path / MANIFEST
    if not mf.is_file():
        raise FileNotFoundError(f"{path} is not an estimator folder (no {MANIFEST})")
    manifest = json.loads(mf.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{mf} is not a neurotwin inverse estimator")
    if not manifest.get("complete"):
        raise ValueError(f"{path} is unfinished; rerun `neurotwin inverse train` to complete it")
    members = [_load_member(path / "members" / f"member_{k:02d}.pt")
               for k in range(manifest["ensemble"]["n_members"])]  # fmt: skip
    ood = OODDetector.load(path / OOD_FILE) if (path / OOD_FILE).is_file() else None
    return Estimator(path, manifest, members, ood)


def _load_member(path: Path) -> InverseCNN:
    state = load_checkpoint(path)
    model = InverseCNN(RegressorConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["state_dict"])
    return model.eval()


def _folds(n: int, m: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(f) for f in np.array_split(order, m)]


def _member_split(
    arrays: tuple[np.ndarray, ...], folds: list[np.ndarray], k: int
) -> tuple[np.ndarray, ...]:
    """Member ``k``'s (x, z) to train on and (x, z) to stop on."""
    x_train, z_train, x_val, z_val = arrays
    if not folds:
        return x_train, z_train, x_val, z_val
    val_idx = folds[k]
    tr_idx = np.setdiff1d(np.arange(len(x_train)), val_idx)
    return x_train[tr_idx], z_train[tr_idx], x_train[val_idx], z_train[val_idx]


def _train_member(
    out: Path,
    k: int,
    arrays: tuple[np.ndarray, ...],
    folds: list[np.ndarray],
    model_cfg: RegressorConfig,
    fit_cfg: FitConfig,
    stop: StopFlag | None,
    progress: Callable[[dict[str, float]], None] | None,
) -> None:
    """Train (or resume) member ``k`` and save it as ``members/member_KK.pt``."""
    xs, zs, xv, zv = _member_split(arrays, folds, k)
    state = out / "members" / f"member_{k:02d}.state.pt"
    res = fit_regressor(
        model_cfg, fit_cfg.replace(seed=fit_cfg.seed + k), xs, zs, xv, zv,
        checkpoint=state, stop=stop, progress=progress,
    )  # fmt: skip
    summary = {
        "member": k, "best_epoch": res.best_epoch, "best_val": res.best_val,
        "epochs": res.epochs, "elapsed_s": res.elapsed_s, "stopped_by": res.stopped_by,
    }  # fmt: skip
    save_checkpoint(out / "members" / f"member_{k:02d}.pt",
                    {"model_config": model_cfg.to_dict(), "state_dict": res.model.state_dict(),
                     "summary": summary, "history": res.history})  # fmt: skip
    state.unlink(missing_ok=True)


class _EventStop:
    """What :func:`fit_regressor` reads of a StopFlag (``.stop``), from an Event the parent
    sets on Ctrl-C."""

    def __init__(self, event: Any) -> None:
        self._event = event

    @property
    def stop(self) -> bool:
        return bool(self._event.is_set())


def _member_job(job: dict[str, Any]) -> bool:
    """One member in a worker process (spawned): the arrays come memory-mapped from .npy
    files; epoch rows go to the parent through ``job["queue"]``. False if stopped early."""
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into the event
    torch.set_num_threads(job["threads"])
    arrays = tuple(np.load(f, mmap_mode="r") for f in job["arrays"])
    k, queue = job["k"], job["queue"]
    try:
        _train_member(Path(job["out"]), k, arrays, job["folds"],
                      RegressorConfig.from_dict(job["model"]), FitConfig.from_dict(job["fit"]),
                      _EventStop(job["event"]),  # type: ignore[arg-type]
                      lambda row: queue.put((k, row)))  # fmt: skip
    except FitInterrupted:
        return False
    return True


def _train_members_in_parallel(
    out: Path,
    pending: list[int],
    arrays: tuple[np.ndarray, ...],
    folds: list[np.ndarray],
    model_cfg: RegressorConfig,
    fit_cfg: FitConfig,
    jobs: int,
    threads: int,
    stop: StopFlag | None,
    progress: Callable[[int, dict[str, float]], None] | None,
) -> None:
    """Train the ``pending`` members ``jobs`` at a time, each in its own process with
    ``threads`` torch threads. Each member is seeded as in a serial run, so the weights are the
    same; Ctrl-C (``stop``) makes every running member save its epoch state and stop."""
    import queue as queue_mod
    import shutil
    import tempfile
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    tmp = Path(tempfile.mkdtemp(prefix=".arrays.", dir=out / "members"))
    finished: list[bool] = []
    try:
        files = []
        for name, arr in zip(("x_train", "z_train", "x_val", "z_val"), arrays, strict=True):
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.float32))
            files.append(str(tmp / f"{name}.npy"))
        ctx = get_context("spawn")
        with ctx.Manager() as manager, ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            rows, event = manager.Queue(), manager.Event()
            base = {"out": str(out), "arrays": files, "folds": folds, "threads": threads,
                    "model": model_cfg.to_dict(), "fit": fit_cfg.to_dict(), "queue": rows,
                    "event": event}  # fmt: skip
            running = {pool.submit(_member_job, {**base, "k": k}) for k in pending}
            while running:
                done, running = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                finished += [not f.cancelled() and f.result() for f in done]
                if stop is not None and stop.stop:
                    event.set()  # running members save their state and return
                    for f in running:
                        f.cancel()  # members not started yet stay pending
                while True:
                    try:
                        k, row = rows.get_nowait()
                    except queue_mod.Empty:
                        break
                    if progress is not None:
                        progress(k, row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not all(finished) or (stop is not None and stop.stop):
        raise FitInterrupted("training interrupted; rerun to resume")


def train_ensemble(
    out: str | Path,
    x_train: np.ndarray,
    z_train: np.ndarray,
    x_val: np.ndarray,
    z_val: np.ndarray,
    *,
    model_cfg: RegressorConfig,
    fit_cfg: FitConfig,
    ens_cfg: EnsembleConfig | None = None,
    meta: dict[str, Any] | None = None,
    data_info: dict[str, Any] | None = None,
    stop: StopFlag | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    jobs: int = 1,
    threads: int = 1,
) -> Estimator:
    """Train (or resume) the ensemble into folder ``out``, calibrate its σ and its OOD
    detector on the validation split, and return the loaded :class:`Estimator`.
    ``progress(member, epoch_row)`` is called after every epoch. ``jobs`` > 1 trains that many
    members at once, each in its own process with ``threads`` torch threads (the same weights
    as one at a time)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    ens_cfg = ens_cfg or EnsembleConfig()
    out = Path(out)
    if len(x_train) < 2 * ens_cfg.n_members:
        raise ValueError(
            f"{len(x_train)} training traces are too few for {ens_cfg.n_members} members"
        )
    manifest: dict[str, Any] = plain({
        "format": FORMAT, "version": VERSION, "model": model_cfg.to_dict(),
        "fit": fit_cfg.to_dict(), "ensemble": ens_cfg.to_dict(), "meta": meta or {},
        "data": {**(data_info or {}), "n_train": len(x_train), "n_val": len(x_val)},
        "versions": versions(), "complete": False,
    })  # fmt: skip
    mf = out / MANIFEST
    if mf.is_file():
        old = json.loads(mf.read_text())
        # the OOD settings only change the calibration, redone at every call
        members_of = {**manifest, "ensemble": {"n_members": ens_cfg.n_members}}
        old["ensemble"] = {"n_members": (old.get("ensemble") or {}).get("n_members")}
        for key in ("model", "fit", "ensemble", "meta", "data"):
            if old.get(key) != members_of[key]:
                raise ValueError(
                    f"{out} holds an estimator trained with another {key} configuration; "
                    "choose another --out or remove it"
                )
    write_json(mf, manifest)
    (out / "members").mkdir(parents=True, exist_ok=True)

    m = ens_cfg.n_members
    folds = _folds(len(x_train), m, fit_cfg.seed) if m > 1 else []
    arrays = (x_train, z_train, x_val, z_val)
    finals = [out / "members" / f"member_{k:02d}.pt" for k in range(m)]
    pending = [k for k in range(m) if not finals[k].is_file()]
    if jobs > 1 and len(pending) > 1:
        _train_members_in_parallel(out, pending, arrays, folds, model_cfg, fit_cfg, jobs,
                                   threads, stop, progress)  # fmt: skip
    else:
        for k in pending:
            _train_member(out, k, arrays, folds, model_cfg, fit_cfg, stop,
                          (lambda row, k=k: progress(k, row)) if progress else None)  # fmt: skip
            if stop is not None and stop.stop:
                raise FitInterrupted(f"stopped after member {k + 1} of {m}; rerun to resume")
    members: list[InverseCNN] = [_load_member(f) for f in finals]
    summaries: list[dict[str, Any]] = [load_checkpoint(f)["summary"] for f in finals]

    est = Estimator(out, manifest, members, None)
    # σ calibration on the validation split
    pred = est.predict_features(x_val)
    err = z_val - pred.mean
    ab = [_calibrate(err[:, j], pred.std_raw[:, j]) for j in range(err.shape[1])]
    manifest["calibration"] = {"a": [a for a, _ in ab], "b": [b for _, b in ab]}
    pred = est.predict_features(x_val)
    # the out-of-range detector
    rng = np.random.default_rng(fit_cfg.seed)
    sub = rng.choice(len(x_train), min(len(x_train), ens_cfg.max_embed), replace=False)
    emb_tr = np.stack([embed_array(mm, x_train[np.sort(sub)]) for mm in members])  # (M, n, E)
    emb_va = np.stack([embed_array(mm, x_val) for mm in members])  # (M, N, E)
    det = fit_ood(
        emb_tr, emb_va, pred.mean, pred.std_raw, x_train[np.sort(sub)], x_val,
        false_alarm=ens_cfg.ood_false_alarm, limit=ens_cfg.ood_limit,
    )  # fmt: skip
    det.save(out / OOD_FILE)
    est.ood = det
    manifest["ood"] = det.summary()
    manifest["members"] = summaries
    manifest["num_params"] = members[0].num_params
    manifest["complete"] = True
    write_json(mf, manifest)
    return est
