"""Reading an observed trace (``.npy``, ``.csv``, ``.nwb``), resampling it to the estimator's
sampling interval, and estimating the parameters with their uncertainty and an out-of-range
verdict: :func:`load_trace`, :func:`predict_trace`.

Traces are somatic membrane potential in **mV**, sample ``k`` at ``k·dt`` from the start of the
stimulus the estimator was trained with (``estimator.json``: ``meta.stimulus``, ``meta.dt_ms``).

* ``.npy``: a 1D array (T,) in mV; its sampling interval is ``dt_ms`` (default: the
  estimator's). A 2D (T, 2) array (or its transpose) is read as columns (time in ms, V in mV).
* ``.csv``: one column (V in mV, sampling ``dt_ms``) or two (time in ms, V in mV), separated by
  commas, semicolons, tabs or spaces; one header line is skipped when it is not numeric.
* ``.nwb``: the ``CurrentClampSeries`` named ``series`` (default: the first, else the first series
  with unit volts) in the file's acquisition, via pynwb; data × conversion (+ offset) in volts →
  mV, rate → dt.

A cell's trace must be in mV: one whose values all lie within ±1 is refused as volts. A recording
longer than the stimulus (a baseline before it, a tail after) is cut to the stimulus's window
with ``start_ms``, where the stimulus starts in the file (ms from its first sample).

Many traces at once (a folder of recordings, every sweep of an NWB file):
:func:`load_traces` reads them, :func:`predict_traces` estimates them in one batch and
:func:`write_predictions_csv` writes one row per trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.inverse.ensemble import Estimator

FORMATS = (".npy", ".csv", ".nwb")


@dataclass
class Trace:
    v_mv: np.ndarray  # (T,)
    dt_ms: float
    source: str
    notes: list[str] = field(default_factory=list)
    start_ms: float | None = None  # where the stimulus starts; None: the trace is the window
    series: str | None = None  # the NWB series it was read from

    @property
    def label(self) -> str:
        """The file, and the NWB series in brackets when it came from one."""
        return self.source + (f"[{self.series}]" if self.series else "")


def _from_columns(arr: np.ndarray, path: Path) -> tuple[np.ndarray, float | None]:
    """(T,) or (T, 2) [time ms, V mV] → (V, dt or None)."""
    if arr.ndim == 1:
        return arr, None
    if arr.ndim == 2 and arr.shape[0] in (1, 2) and arr.shape[1] > 2:
        arr = arr.T  # rows instead of columns
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0], None
    if arr.ndim == 2 and arr.shape[1] == 2:
        t = arr[:, 0].astype(np.float64)
        steps = np.diff(t)
        if len(steps) == 0 or not np.all(steps > 0):
            raise ValueError(f"{path}: the time column must increase")
        dt = float(np.median(steps))
        if np.max(np.abs(steps - dt)) > 1e-3 * dt:
            raise ValueError(f"{path}: the time column is not evenly spaced")
        return arr[:, 1], dt
    raise ValueError(
        f"{path}: expected a 1D trace or (T, 2) columns [time_ms, V_mV], got {arr.shape}"
    )


def _read_csv(path: Path) -> np.ndarray:
    lines = path.read_text().strip().splitlines()
    if not lines:
        raise ValueError(f"{path} is empty")
    last = lines[-1]
    delimiter = next((d for d in (",", ";", "\t") if d in last), None)  # None: spaces
    skip = 0
    try:
        [float(v) for v in lines[0].split(delimiter)]
    except ValueError:
        skip = 1
    try:
        return np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path} is not a numeric CSV ({exc})") from exc


def _voltage_series(nwb: Any, path: Path) -> list[Any]:
    """An NWB file's current-clamp series (else its series in volts), in acquisition order."""
    from pynwb.icephys import CurrentClampSeries

    found = list(nwb.acquisition.values())
    clamp = [s for s in found if isinstance(s, CurrentClampSeries)]
    volts = clamp or [s for s in found if getattr(s, "unit", "") in ("volts", "V")]
    if not volts:
        raise ValueError(f"{path}: no current-clamp (volts) series in acquisition")
    return volts


def _open_nwb(path: Path) -> Any:
    try:
        from pynwb import NWBHDF5IO
    except ImportError as exc:  # pragma: no cover - pynwb is a dependency
        raise ValueError("reading .nwb needs pynwb (pip install pynwb)") from exc
    return NWBHDF5IO(str(path), "r")


def _read_nwb(
    path: Path, series: str | None, every: bool = False
) -> list[tuple[np.ndarray, float, list[str], str]]:
    """The series named ``series`` (default: the first), or with ``every`` each current-clamp
    series, of an NWB file opened once: (V in mV, dt in ms, notes, series name) per series."""
    try:
        with _open_nwb(path) as io:
            volts = _voltage_series(io.read(), path)
            names = [s.name for s in volts]
            if series is not None and series not in names:
                raise ValueError(
                    f"{path}: no current-clamp series {series!r}; it holds {', '.join(names)}"
                )
            if every:
                return [(*_series_mv(s, path), [f"read NWB series {s.name!r}"], s.name)
                        for s in volts]  # fmt: skip
            chosen = volts[names.index(series)] if series is not None else volts[0]
            notes = [f"read NWB series {chosen.name!r}"]
            if series is None and len(volts) > 1:
                listed = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
                notes.append(f"the file holds {len(volts)} current-clamp series; pick one with "
                             f"--series ({listed}) or take all with --all-series")  # fmt: skip
            return [(*_series_mv(chosen, path), notes, chosen.name)]
    except (OSError, KeyError) as exc:
        raise ValueError(f"{path} is not a readable NWB file ({exc})") from exc


def _series_mv(s: Any, path: Path) -> tuple[np.ndarray, float]:
    """One NWB series: data × conversion (+ offset) in volts → mV, and its sampling in ms."""
    data = np.asarray(s.data[:], dtype=np.float64)
    conv = float(getattr(s, "conversion", 1.0) or 1.0)
    offset = float(getattr(s, "offset", 0.0) or 0.0)
    rate = s.rate
    if rate is None and s.timestamps is not None:
        ts = np.asarray(s.timestamps[:], dtype=np.float64)
        rate = 1.0 / float(np.median(np.diff(ts)))
    if not rate:
        raise ValueError(f"{path}: series {s.name!r} has no sampling rate")
    return (data * conv + offset) * 1e3, 1e3 / float(rate)


def load_trace(
    path: str | Path,
    *,
    dt_ms: float | None = None,
    default_dt_ms: float | None = None,
    series: str | None = None,
    start_ms: float | None = None,
) -> Trace:
    """Read a trace in mV (see the module docstring). ``dt_ms`` is the sampling interval of a
    file without a time column (a file's own time base wins, with a note);
    ``default_dt_ms`` is used silently when neither is given (the estimator's sampling);
    ``series`` names an NWB file's series; ``start_ms`` is where the stimulus starts in the
    trace (:func:`fit_to_estimator` then cuts the stimulus's window out of it)."""
    return _load(Path(path), dt_ms, default_dt_ms, series, start_ms, every=False)[0]


def load_traces(
    paths: list[str | Path] | tuple[str | Path, ...],
    *,
    all_series: bool = False,
    dt_ms: float | None = None,
    default_dt_ms: float | None = None,
    series: str | None = None,
    start_ms: float | None = None,
) -> list[Trace]:
    """Files and folders → their traces, in order (options as in :func:`load_trace`). A folder
    gives its .npy, .csv and .nwb files (sorted by name, not recursive); with ``all_series``
    every current-clamp series of each NWB file is its own trace (each file opened once)."""
    if all_series and series is not None:
        raise ValueError("--series and --all-series exclude each other")
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in FORMATS)
            if not found:
                raise ValueError(f"{p}: the folder holds no trace files ({', '.join(FORMATS)})")
            files += found
        else:
            files.append(p)  # a missing file is named by _load
    opts = (dt_ms, default_dt_ms, series, start_ms)
    return [t for f in files for t in _load(f, *opts, every=all_series)]


def _load(
    path: Path, dt_ms: float | None, default_dt_ms: float | None, series: str | None,
    start_ms: float | None, *, every: bool,
) -> list[Trace]:  # fmt: skip
    """One file's trace (``every``: each of an NWB file's series), checked."""
    if not path.is_file():
        raise FileNotFoundError(f"trace file {path} does not exist")
    suffix = path.suffix.lower()
    if series is not None and suffix != ".nwb":
        raise ValueError(f"{path}: series {series!r} applies to .nwb files only")
    if start_ms is not None and not (start_ms >= 0 and math.isfinite(start_ms)):
        raise ValueError(f"start_ms must be >= 0, got {start_ms!r}")
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one message
            raise ValueError(f"cannot read {path} as a .npy array ({exc})") from exc
        read = [(*_from_columns(np.asarray(arr), path), [], None)]
    elif suffix == ".csv":
        read = [(*_from_columns(_read_csv(path), path), [], None)]
    elif suffix == ".nwb":
        read = _read_nwb(path, series, every)
    else:
        raise ValueError(f"{path}: unsupported trace format {suffix!r}; use one of {FORMATS}")
    out = []
    for v, dt_file, notes, name in read:
        if (
            dt_file is not None
            and dt_ms is not None
            and not math.isclose(dt_file, dt_ms, rel_tol=1e-3)
        ):
            notes.append(f"the file's own sampling ({dt_file:g} ms) overrides --dt-ms {dt_ms:g}")
        dt = dt_file if dt_file is not None else dt_ms if dt_ms is not None else default_dt_ms
        if dt is None or not dt > 0:
            raise ValueError(f"{path}: the sampling interval is unknown; pass dt_ms")
        v = np.asarray(v, dtype=np.float64)
        if v.size < 2:
            raise ValueError(f"{path}: a trace needs at least 2 samples, got {v.size}")
        if not np.isfinite(v).all():
            raise ValueError(f"{path}: the trace holds NaN or inf")
        out.append(Trace(v.astype(np.float32), float(dt), str(path), notes, start_ms, name))
    return out


def resample(v: np.ndarray, dt_from_ms: float, dt_to_ms: float) -> np.ndarray:
    """Resample a trace (T,) from ``dt_from_ms`` to ``dt_to_ms`` (polyphase, anti-aliased)."""
    if math.isclose(dt_from_ms, dt_to_ms, rel_tol=1e-6):
        return np.asarray(v, dtype=np.float32)
    from scipy.signal import resample_poly

    ratio = Fraction(dt_from_ms / dt_to_ms).limit_denominator(1000)  # new samples per old one
    out = resample_poly(np.asarray(v, dtype=np.float64), ratio.numerator, ratio.denominator,
                        padtype="line")  # fmt: skip
    return out.astype(np.float32)


def fit_to_estimator(trace: Trace, estimator: Estimator) -> Trace:
    """Resample ``trace`` to the estimator's sampling (with a note), cut the stimulus's window
    out of it when it has a ``start_ms``, and check its length."""
    dt = estimator.dt_ms or trace.dt_ms
    v, notes = trace.v_mv, list(trace.notes)
    if not math.isclose(trace.dt_ms, dt, rel_tol=1e-6):
        v = resample(v, trace.dt_ms, dt)
        notes.append(f"resampled from {trace.dt_ms:g} ms to {dt:g} ms per sample")
    if estimator.meta.get("simulator") and np.abs(v).max() < 1.0:  # a cell's traces, in mV
        raise ValueError(
            f"{trace.source}: every value lies within ±1 (largest {np.abs(v).max():.3g}); the "
            "trace must be in mV, not volts (multiply by 1000)"
        )
    t_need = estimator.n_samples
    if trace.start_ms is not None:
        first = int(round(trace.start_ms / dt))
        if first + t_need > len(v) + 1:
            raise ValueError(
                f"{trace.source}: the trace is {len(v) * dt:g} ms long; the stimulus's "
                f"window from {trace.start_ms:g} ms needs it to reach "
                f"{trace.start_ms + t_need * dt:g} ms"
            )
        if first > 0 or len(v) > t_need:
            notes.append(f"used {first * dt:g}–{(first + t_need) * dt:g} ms of the "
                         f"{len(v) * dt:g} ms trace (the stimulus's window)")  # fmt: skip
        v = v[first : first + t_need]
    if len(v) != t_need:
        if abs(len(v) - t_need) <= 1 and len(v) > 1:  # one sample lost or gained in resampling
            v = np.resize(v, t_need) if len(v) > t_need else np.append(v, v[-1])
        else:
            hint = "; give its start (--start-ms) to cut its window out" if len(v) > t_need else ""
            raise ValueError(
                f"{trace.source}: the trace has {len(v)} samples at {dt:g} ms "
                f"({len(v) * dt:g} ms); the estimator expects {t_need} samples "
                f"({t_need * dt:g} ms, its stimulus's duration){hint}"
            )
    return Trace(v.astype(np.float32), dt, trace.source, notes)


@dataclass
class ParamEstimate:
    name: str
    unit: str
    value: float  # ensemble mean, physical units
    low_1sigma: float  # physical bounds of mean ∓ 1 σ (scaled space)
    high_1sigma: float
    z: float
    z_std: float


@dataclass
class TracePrediction:
    params: list[ParamEstimate]
    ood_score: float | None
    out_of_range: bool | None
    at_limit: bool | None
    reasons: list[str]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _param_specs(estimator: Estimator) -> list[tuple[str, str, float, float]]:
    params = estimator.meta.get("params")
    if not params:
        return [(n, "scaled", -1.0, 1.0) for n in estimator.param_names]
    return [(str(p[0]), str(p[1]), float(p[2]), float(p[3])) for p in params]


def unscale(z: np.ndarray, specs: list[tuple[str, str, float, float]]) -> np.ndarray:
    """Scaled z (..., K) → physical values (the linear map of the prior box)."""
    low = np.array([s[2] for s in specs])
    high = np.array([s[3] for s in specs])
    return low + (np.asarray(z, dtype=np.float64) + 1.0) * 0.5 * (high - low)


def predict_trace(estimator: Estimator, trace: Trace) -> TracePrediction:
    """Estimate the parameters of one observed trace (resampled and length-checked first)."""
    return predict_traces(estimator, [trace])[0]


def predict_traces(estimator: Estimator, traces: list[Trace]) -> list[TracePrediction]:
    """Estimate each trace's parameters, all in one batch (each resampled and length-checked
    first, so a bad trace stops the batch before any estimate)."""
    fitted = [fit_to_estimator(t, estimator) for t in traces]
    pred = estimator.predict_traces(np.stack([t.v_mv for t in fitted]))
    specs = _param_specs(estimator)
    return [_one_prediction(estimator, pred, i, specs, t.notes) for i, t in enumerate(fitted)]


def _one_prediction(
    estimator: Estimator, pred: Any, i: int, specs: list[tuple[str, str, float, float]],
    notes: list[str],
) -> TracePrediction:  # fmt: skip
    mean, std = pred.mean[i], pred.std[i]
    phys = unscale(mean, specs)
    lo, hi = unscale(mean - std, specs), unscale(mean + std, specs)
    params = [
        ParamEstimate(
            s[0], s[1], float(phys[j]), float(lo[j]), float(hi[j]), float(mean[j]), float(std[j])
        )  # fmt: skip
        for j, s in enumerate(specs)
    ]
    reasons: list[str] = []
    score = flag = at_limit = None
    if pred.score is not None and estimator.ood is not None:
        score, flag, at_limit = float(pred.score[i]), bool(pred.flag[i]), bool(pred.at_limit[i])
        comp = pred.components[i] if pred.components is not None else None
        if at_limit:
            names = [p.name for p in params if abs(p.z) >= estimator.ood.limit]
            reasons.append(f"estimate at the edge of the output range: {', '.join(names)}")
        if comp is not None and flag and comp[0] > estimator.ood.threshold:
            reasons.append("the trace is unlike the training traces (embedding distance)")
        if comp is not None and flag and comp[1] > estimator.ood.threshold:
            reasons.append("the ensemble members disagree")
        if comp is not None and flag and comp[2] > estimator.ood.threshold:
            reasons.append("the trace's shape is not spanned by the training traces")
        if comp is not None and flag and comp[3] > estimator.ood.threshold:
            reasons.append("the trace lies far from the training traces (input space)")
    return TracePrediction(params, score, flag, at_limit, reasons, notes)


def write_predictions_csv(
    path: str | Path, labels: list[str], preds: list[TracePrediction]
) -> None:
    """One row per trace: its label, the verdict and score, then each parameter's estimate
    and ±1σ bounds (columns ``NAME [UNIT]``, ``NAME low``, ``NAME high``), and the notes.
    Written to a temporary name, then renamed."""
    import csv
    import io

    from neurotwin.train.checkpoint import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["trace", "out_of_range", "ood_score"]
    for p in preds[0].params:
        head += [f"{p.name} [{p.unit}]", f"{p.name} low", f"{p.name} high"]
    w.writerow([*head, "notes"])
    for label, pr in zip(labels, preds, strict=True):
        row: list[Any] = [label, "" if pr.out_of_range is None else pr.out_of_range,
                          "" if pr.ood_score is None else f"{pr.ood_score:.4g}"]  # fmt: skip
        for p in pr.params:
            row += [f"{p.value:.6g}", f"{p.low_1sigma:.6g}", f"{p.high_1sigma:.6g}"]
        w.writerow([*row, "; ".join(pr.notes + pr.reasons)])
    atomic_write_text(Path(path), buf.getvalue())


def refine_prediction(
    estimator: Estimator, trace: Trace, *, tol_mV: float = 1.0, workers: int = 1, **opts: Any
) -> dict[str, Any]:
    """Fit the estimator's simulator to ``trace`` (:func:`neurotwin.inverse.refine.fit_trace`)
    from the ensemble's estimate and from each member's: the best fit's parameters (name,
    unit, value, z) with, over every fit that reproduces the trace to ``tol_mV`` RMS, each
    parameter's range (``low``, ``high``; None when no fit is that close); the trace RMS at
    the estimate and at the best fit (mV); starts, fits within ``tol_mV`` and simulations."""
    from neurotwin.inverse.refine import fit_many

    if not tol_mV > 0:
        raise ValueError(f"tol_mV must be > 0, got {tol_mV!r}")
    trace = fit_to_estimator(trace, estimator)
    pred = estimator.predict_traces(trace.v_mv[None])
    starts = np.concatenate([pred.mean, pred.members[:, 0]]) if len(pred.members) > 1 else pred.mean
    fits = fit_many(estimator.meta, np.repeat(trace.v_mv[None], len(starts), axis=0), starts,
                    workers=min(workers, len(starts)), **opts)  # fmt: skip
    best = min(fits, key=lambda f: f.rms_mV)
    close = np.array([f.z for f in fits if f.rms_mV <= tol_mV]).reshape(-1, len(best.z))
    specs = _param_specs(estimator)
    phys = unscale(best.z, specs)
    low = unscale(close.min(0), specs) if len(close) else [None] * len(specs)
    high = unscale(close.max(0), specs) if len(close) else [None] * len(specs)
    return {
        "params": [
            {
                "name": s[0],
                "unit": s[1],
                "value": float(v),
                "z": float(z),
                "low": None if lo is None else float(lo),
                "high": None if hi is None else float(hi),
            }
            for s, v, z, lo, hi in zip(specs, phys, best.z, low, high, strict=True)
        ],  # fmt: skip
        "rms_start_mV": fits[0].rms_start_mV,
        "rms_mV": best.rms_mV,
        "tol_mV": tol_mV,
        "n_starts": len(fits),
        "n_within_tol": len(close),
        "n_sims": int(sum(f.n_sims for f in fits)),
    }


def resimulate(estimator: Estimator, theta: np.ndarray) -> tuple[np.ndarray, float]:
    """Simulate the estimator's cell at physical ``theta`` (K,) or (N, K) under its stimulus:
    (V (T,) or (N, T), dt), all N in one batch."""
    from neurotwin.inverse.refine import estimator_simulator

    sim, stim = estimator_simulator(estimator.meta, str(estimator.path))
    theta = np.asarray(theta, dtype=np.float64)
    v = sim.simulate(np.atleast_2d(theta), stim)
    return (v[0] if theta.ndim == 1 else v), stim.dt_ms
