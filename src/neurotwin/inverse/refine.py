"""Refining an estimate by fitting the simulator to the observed trace.

From the estimator's estimate (scaled units), bounded least squares (scipy's
trust-region-reflective method) minimises the RMS difference in mV between the simulated and
the observed trace: first with both traces smoothed by a Gaussian of ``smooth_ms[0]`` ms, then
of the next width, ending unsmoothed (0). Smoothing turns spikes a few ms apart into
overlapping bumps, so the early stages can align spikes that, raw, give the fit no slope.
Jacobians are forward differences of ``step`` scaled units, the K shifted simulations in one
batch; each stage stops after ``max_evals`` evaluations.

The fit reports how well the model can reproduce the trace (RMS before and after). On a split
with known parameters, :func:`refine_split` also measures what the fit says about the
parameters: a refined fit that reproduces the trace to ``tol_mV`` while a parameter lies far
from its true value is an *equivalent fit*: traces known to that precision cannot decide that
parameter (a practical, global non-identifiability that :mod:`.identifiability`'s local bound
does not see). A fit can stop in a local minimum, so a fit far from the trace proves nothing.

:func:`compensation` asks the same per parameter, from the truth: move one parameter by a
fixed step, re-fit the others to the original trace starting where they were, and see how much
of the trace change they absorb (``neurotwin inverse compensation``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.inverse.evaluate import r2_per_param
from neurotwin.inverse.simulators import InverseSimulator, from_scaled, get_simulator, to_scaled
from neurotwin.inverse.stimuli import Stimulus

SMOOTH_MS = (4.0, 1.0, 0.0)
FAR = 0.5  # scaled units: a quarter of the prior range


@dataclass
class Refined:
    """A refined fit: scaled ``z`` (K,), RMS in mV at the start and at ``z``, simulations."""

    z: np.ndarray
    rms_start_mV: float
    rms_mV: float
    n_sims: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "z": self.z.tolist()}


class _Fitter:
    """The trace difference to ``target`` (mV) as residuals whose norm is the RMS."""

    def __init__(self, sim: InverseSimulator, stimulus: Stimulus, target: np.ndarray,
                 step: float) -> None:  # fmt: skip
        self.sim, self.stimulus, self.step = sim, stimulus, step
        self.target = np.asarray(target, dtype=np.float64)
        self.scale = 1.0 / np.sqrt(self.target.shape[-1])
        self.n_sims = 0
        self.sigma = 0.0

    def _smooth(self, v: np.ndarray) -> np.ndarray:
        if self.sigma <= 0:
            return v
        from scipy.ndimage import gaussian_filter1d

        return gaussian_filter1d(v, self.sigma / self.stimulus.dt_ms, axis=-1, mode="nearest")

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """(N, K) scaled → (N, T)."""
        z = np.clip(np.atleast_2d(z), -1.0, 1.0)
        self.n_sims += len(z)
        v = self.sim.simulate(from_scaled(z, self.sim.params), self.stimulus).astype(np.float64)
        return (self._smooth(v) - self._smooth(self.target)) * self.scale

    def rms(self, z: np.ndarray) -> float:
        self.sigma = 0.0
        return float(np.linalg.norm(self.residuals(z)[0]))

    def stage(self, z0: np.ndarray, sigma_ms: float, max_evals: int) -> np.ndarray:
        from scipy.optimize import least_squares

        self.sigma = sigma_ms

        def fun(z: np.ndarray) -> np.ndarray:
            return self.residuals(z)[0]

        def jac(z: np.ndarray) -> np.ndarray:
            h = np.where(z + self.step > 1.0, -self.step, self.step)
            r = self.residuals(np.vstack([z, z[None] + np.diag(h)]))  # one batch
            return ((r[1:] - r[0]) / h[:, None]).T

        res = least_squares(fun, np.clip(z0, -1.0, 1.0), jac=jac, bounds=(-1.0, 1.0),
                            method="trf", max_nfev=max_evals, ftol=1e-4, xtol=1e-4)  # fmt: skip
        return np.asarray(res.x)


def fit_trace(
    sim: InverseSimulator,
    stimulus: Stimulus,
    v_obs_mV: np.ndarray,
    z0: np.ndarray,
    *,
    smooth_ms: tuple[float, ...] = SMOOTH_MS,
    max_evals: int = 15,
    step: float = 0.01,
) -> Refined:
    """Fit ``sim``'s free parameters to the trace ``v_obs_mV`` (T,) starting from scaled ``z0``
    (K,); the result is never worse than the start."""
    v = np.asarray(v_obs_mV, dtype=np.float64)
    if v.shape != (stimulus.num_samples,):
        raise ValueError(f"the trace has shape {v.shape}; the stimulus has "
                         f"{stimulus.num_samples} samples")  # fmt: skip
    if not np.isfinite(v).all():
        raise ValueError("the trace has non-finite samples; refining needs a complete trace")
    if not 0 < step <= 0.1:
        raise ValueError(f"step must be in (0, 0.1], got {step!r}")
    if not smooth_ms or any(s < 0 for s in smooth_ms):
        raise ValueError(f"smooth_ms must be widths >= 0, got {smooth_ms!r}")
    fitter = _Fitter(sim, stimulus, v, step)
    start = np.clip(np.asarray(z0, dtype=np.float64), -1.0, 1.0)
    best_z, best = start, fitter.rms(start)
    rms0, z = best, start
    for sigma in smooth_ms:
        z = fitter.stage(z, sigma, max_evals)
        rms = fitter.rms(z)
        if rms < best:
            best_z, best = z, rms
    return Refined(best_z, rms0, best, fitter.n_sims)


class _Holding:
    """``sim`` with its parameter ``k`` held at scaled ``zk``: the others are its parameters
    (what :func:`fit_trace` needs of a simulator)."""

    def __init__(self, sim: InverseSimulator, k: int, zk: float) -> None:
        self.sim, self.k, self.zk = sim, k, zk
        self.params = tuple(p for j, p in enumerate(sim.params) if j != k)

    def simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        z = np.insert(to_scaled(theta, self.params), self.k, self.zk, axis=1)
        return self.sim.simulate(from_scaled(z, self.sim.params), stimulus)


def compensate_one(
    sim: InverseSimulator, stimulus: Stimulus, z: np.ndarray, v: np.ndarray, k: int, zk: float,
    **opts: Any,
) -> tuple[float, float, float, int]:  # fmt: skip
    """Move parameter ``k`` of scaled ``z`` (K,), whose trace is ``v`` (T,), to ``zk``: the
    trace RMS change (mV) with the others as they were, after re-fitting the others from there
    (:func:`fit_trace`), the others' largest move in scaled units, and the simulations used."""
    others = np.delete(np.asarray(z, dtype=np.float64), k)
    # the fit starts at the others as they were: its starting RMS is the change alone
    fit = fit_trace(_Holding(sim, k, zk), stimulus, v, others, **opts)  # type: ignore[arg-type]
    return fit.rms_start_mV, fit.rms_mV, float(np.abs(fit.z - others).max()), fit.n_sims


@dataclass
class Compensation:
    """Each parameter moved by ±``shift`` scaled units at the prior draws ``z`` (P, K); per
    draw, parameter and direction (P, K, 2: up, down; NaN where the move leaves the prior):
    the trace RMS change alone, after the others re-fit, and the others' largest move
    (scaled units)."""

    names: list[str]
    shift: float
    z: np.ndarray  # (P, K) the parameter sets, scaled
    alone: np.ndarray
    refit: np.ndarray
    moved: np.ndarray
    tol_mV: float
    n_sims: int

    def summary(self) -> dict[str, dict[str, float]]:
        """Per parameter: medians of the three, and the share of moves the others make up
        for to ``tol_mV``."""
        out = {}
        for j, n in enumerate(self.names):
            ok = np.isfinite(self.refit[:, j])
            if not ok.any():  # not asked for, or every move left the prior
                continue
            out[n] = {
                "alone_mV": float(np.median(self.alone[:, j][ok])),
                "refit_mV": float(np.median(self.refit[:, j][ok])),
                "share_within_tol": float(np.mean(self.refit[:, j][ok] <= self.tol_mV)),
                "others_moved": float(np.median(self.moved[:, j][ok])),
                "n": int(ok.sum()),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"shift": self.shift, "tol_mV": self.tol_mV, "n_sims": self.n_sims,
                "n_points": int(self.alone.shape[0]), "params": self.summary(),
                "z": self.z.tolist(), "alone_mV": self.alone.tolist(),
                "refit_mV": self.refit.tolist(), "others_moved": self.moved.tolist()}  # fmt: skip


def _compensate_task(key: str, z: np.ndarray, v: np.ndarray, k: int, zk: float,
                     opts: dict[str, Any]) -> Any:  # fmt: skip
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sim, stim = _cached_simulator(key)
    return compensate_one(sim, stim, z, v, k, zk, **opts)


def compensation(
    sim: InverseSimulator,
    stimulus: Stimulus | None = None,
    *,
    shift: float = 0.5,
    n_points: int = 8,
    tol_mV: float = 1.0,
    seed: int = 0,
    workers: int = 1,
    params: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    **opts: Any,
) -> Compensation:
    """How far the other parameters can make up for one parameter's move (see
    :class:`Compensation`): for each parameter, at ``n_points`` parameter sets drawn from the
    prior, move it up and down by ``shift`` scaled units and re-fit the others to the
    original trace, starting where they were. A move the others make up for to a fraction of
    a mV with small moves of their own is one no estimator can see in traces known to that
    precision; the fits are local, so a high RMS after re-fitting is not proof of the
    opposite. ``params``: the parameters to move (default: all)."""
    if not 0 < shift <= 1:
        raise ValueError(f"shift must be in (0, 1], got {shift!r}")
    if not (isinstance(n_points, int) and n_points >= 1):
        raise ValueError(f"n_points must be an integer >= 1, got {n_points!r}")
    if not tol_mV > 0:
        raise ValueError(f"tol_mV must be > 0, got {tol_mV!r}")
    stimulus = stimulus if stimulus is not None else sim.default_stimulus()
    k = len(sim.params)
    unknown = sorted(set(params or []) - set(sim.param_names))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; "
                         f"{sim.name}'s are {', '.join(sim.param_names)}")  # fmt: skip
    moving = [j for j, n in enumerate(sim.param_names) if not params or n in params]
    z = np.random.default_rng(seed).uniform(-1.0, 1.0, (n_points, k))
    tasks = [(p, j, side) for p in range(n_points) for j in moving for side in (0, 1)
             if abs(z[p, j] + (shift, -shift)[side]) <= 1.0]  # fmt: skip
    if progress is not None:
        progress(n_points * len(moving) * 2 - len(tasks))  # moves that would leave the prior
    shape = (n_points, k, 2)
    alone, refit, moved = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    v = sim.simulate(from_scaled(z, sim.params), stimulus)  # (P, T) the original traces, once
    n_sims = n_points

    def store(t: tuple[int, int, int], res: tuple[float, float, float, int]) -> None:
        nonlocal n_sims
        alone[t], refit[t], moved[t] = res[:3]
        n_sims += res[3]
        if progress is not None:
            progress(1)

    if workers <= 1:
        for p, j, side in tasks:
            zk = z[p, j] + (shift, -shift)[side]
            store((p, j, side), compensate_one(sim, stimulus, z[p], v[p], j, zk, **opts))
    else:
        key = json.dumps({"simulator": {"name": sim.name, "settings": sim.settings()},
                          "stimulus": stimulus.to_dict()}, sort_keys=True)  # fmt: skip
        jobs = [((p, j, side), (key, z[p], v[p], j, z[p, j] + (shift, -shift)[side], opts))
                for p, j, side in tasks]  # fmt: skip
        _in_processes(_compensate_task, jobs, workers, store)
    return Compensation(list(sim.param_names), shift, z, alone, refit, moved, tol_mV, n_sims)


def estimator_simulator(meta: dict[str, Any], where: str = "the estimator") -> tuple[
    InverseSimulator, Stimulus]:  # fmt: skip
    """The simulator and stimulus an estimator (or dataset) ``meta`` was made with."""
    sim_meta = meta.get("simulator")
    if not sim_meta or "stimulus" not in meta:
        raise ValueError(f"{where} does not name a simulator and stimulus to re-simulate")
    sim = get_simulator(sim_meta["name"], **(sim_meta.get("settings") or {}))
    return sim, Stimulus.from_dict(meta["stimulus"])


@lru_cache(maxsize=2)
def _cached_simulator(key: str) -> tuple[InverseSimulator, Stimulus]:
    return estimator_simulator(json.loads(key))


def _fit_task(key: str, v: np.ndarray, z0: np.ndarray, opts: dict[str, Any]) -> Refined:
    """One fit in a worker process; the simulator is built once per process."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sim, stim = _cached_simulator(key)
    return fit_trace(sim, stim, v, z0, **opts)


def fit_many(
    meta: dict[str, Any],
    v_obs_mV: np.ndarray,
    z0: np.ndarray,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    done: dict[int, Refined] | None = None,
    on_fit: Callable[[int, Refined], None] | None = None,
    **opts: Any,
) -> list[Refined]:
    """:func:`fit_trace` for each row of ``v_obs_mV`` (N, T) from ``z0`` (N, K), in
    ``workers`` processes; rows in ``done`` are kept, ``on_fit(i, fit)`` sees each new one."""
    results: dict[int, Refined] = dict(done or {})
    todo = [i for i in range(len(v_obs_mV)) if i not in results]
    if progress is not None and results:
        progress(len(results))

    def finish(i: int, fit: Refined) -> None:
        results[i] = fit
        if on_fit is not None:
            on_fit(i, fit)
        if progress is not None:
            progress(1)

    key = json.dumps({k: meta[k] for k in ("simulator", "stimulus")}, sort_keys=True)
    if workers <= 1:
        for i in todo:
            finish(i, _fit_task(key, v_obs_mV[i], z0[i], opts))
        return [results[i] for i in range(len(v_obs_mV))]
    jobs = [(i, (key, v_obs_mV[i], z0[i], opts)) for i in todo]
    _in_processes(_fit_task, jobs, workers, finish)
    return [results[i] for i in range(len(v_obs_mV))]


def _in_processes(
    fn: Callable[..., Any], jobs: list[tuple[Any, tuple[Any, ...]]], workers: int,
    on_result: Callable[[Any, Any], None],
) -> None:  # fmt: skip
    """``fn(*args)`` for each ``(tag, args)`` of ``jobs`` in ``workers`` spawned processes;
    ``on_result(tag, result)`` as each finishes (jobs not started are cancelled on an error or
    Ctrl-C)."""
    from neurotwin.data.generate import _init_worker

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_init_worker) as pool:  # fmt: skip
        futures = {pool.submit(fn, *args): tag for tag, args in jobs}
        try:
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    on_result(futures[fut], fut.result())
        finally:
            for fut in futures:
                fut.cancel()


def refine_summary(
    z_true: np.ndarray, z_est: np.ndarray, fits: list[Refined], names: list[str], tol_mV: float
) -> dict[str, Any]:
    """R² of the estimate and of the refined fits, their trace RMS, and per parameter the share
    of traces with an equivalent fit (RMS ≤ ``tol_mV``) at least a quarter of the prior range
    (:data:`FAR`) from the truth."""
    z_fit = np.stack([f.z for f in fits])
    rms0 = np.array([f.rms_start_mV for f in fits])
    rms = np.array([f.rms_mV for f in fits])
    close = rms <= tol_mV
    r2_est, r2_fit = r2_per_param(z_true, z_est), r2_per_param(z_true, z_fit)
    far = np.abs(z_fit - z_true) >= FAR  # (N, K)
    return {
        "n": len(fits),
        "tol_mV": tol_mV,
        "n_sims": int(sum(f.n_sims for f in fits)),
        "rms_estimate_mV_median": float(np.median(rms0)),
        "rms_refined_mV_median": float(np.median(rms)),
        "share_within_tol": float(close.mean()),
        "share_equivalent_far": float((close & far.any(1)).mean()),
        "mean_r2_estimate": float(r2_est.mean()),
        "mean_r2_refined": float(r2_fit.mean()),
        "params": {
            n: {
                "r2_estimate": float(r2_est[j]),
                "r2_refined": float(r2_fit[j]),
                "share_equivalent_far": float((close & far[:, j]).mean()),
            }
            for j, n in enumerate(names)
        },
        "traces": [
            {"z_true": zt.tolist(), "z_estimate": ze.tolist(), **f.to_dict()}
            for zt, ze, f in zip(z_true, z_est, fits, strict=True)
        ],
    }


def refine_split(
    estimator: Any,
    data: str | Path,
    split: str = "test",
    n: int = 40,
    *,
    tol_mV: float = 1.0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    journal: Path | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """Refine the estimator's estimates of the first ``n`` traces of ``split`` and compare
    with the truth (:func:`refine_summary`). With ``journal`` (a JSON-lines file), each fit is
    recorded as it finishes and a rerun after an interruption keeps those already made."""
    from neurotwin.inverse.pipeline import load_split

    if not (isinstance(n, int) and n >= 2):
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not tol_mV > 0:
        raise ValueError(f"tol_mV must be > 0, got {tol_mV!r}")
    sp = load_split(data, split, n, transform=estimator.meta.get("transform"))
    est = estimator.predict_features(sp.x).mean
    done: dict[int, Refined] = {}
    on_fit = None
    if journal is not None:
        signature = {"estimator": str(Path(estimator.path).resolve()),
                     "data": str(Path(data).resolve()), "split": split, "opts": opts}  # fmt: skip
        signature = json.loads(json.dumps(signature))  # as it reads back (lists, not tuples)
        done = _read_journal(journal, signature, est)
        on_fit = _journal_writer(journal, signature, est)
    fits = fit_many(estimator.meta, sp.v_mv, est, workers=workers, progress=progress,
                    done=done, on_fit=on_fit, **opts)  # fmt: skip
    out = refine_summary(sp.z.astype(np.float64), est, fits, estimator.param_names, tol_mV)
    out["split"] = split
    return out


def _read_journal(path: Path, signature: dict[str, Any], z0: np.ndarray) -> dict[int, Refined]:
    """Fits already made for the same estimator, data, split and options from the same
    starts ``z0`` (one JSON line per fit after a signature line); a journal for anything else
    is started afresh."""
    if not path.is_file():
        return {}
    lines = path.read_text().splitlines()
    if not lines or json.loads(lines[0]) != signature:
        path.unlink()
        return {}
    done: dict[int, Refined] = {}
    kept = lines[:1]
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by an interruption
            continue
        i = row["i"]
        if 0 <= i < len(z0) and np.allclose(row["z0"], z0[i], atol=1e-6):
            done[i] = Refined(np.asarray(row["z"]), row["rms_start_mV"], row["rms_mV"],
                              row["n_sims"])  # fmt: skip
            kept.append(line)
    if len(kept) < len(lines):  # drop cut and stale lines, so that appends stay whole
        path.write_text("\n".join(kept) + "\n")
    return done


def _journal_writer(
    path: Path, signature: dict[str, Any], z0: np.ndarray
) -> Callable[[int, Refined], None]:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(signature) + "\n")

    def write(i: int, fit: Refined) -> None:
        with path.open("a") as f:
            f.write(json.dumps({"i": i, "z0": z0[i].tolist(), **fit.to_dict()}) + "\n")

    return write


__all__ = ["Compensation", "Refined", "compensate_one", "compensation", "estimator_simulator",
           "fit_many", "fit_trace", "refine_split", "refine_summary"]  # fmt: skip
