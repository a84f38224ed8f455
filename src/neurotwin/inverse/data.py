"""Inverse datasets: θ drawn uniformly in the simulator's ranges, and the voltage traces it gives.

Layout of ``PATH`` (a Zarr v3 group)::

    zarr.json                   attrs["neurotwin_inverse"]: the metadata (:attr:`InverseStore.meta`)
    <split>/theta               (N, K) float32  physical units (ParamSpec.unit)
    <split>/theta_scaled        (N, K) float32  in [-1, 1] (:func:`to_scaled`)
    <split>/traces_mv           (N, T) float32  raw somatic voltage, mV, sample k at k·dt_ms
    <split>/done                (C,) bool       chunk c (rows c·chunk ...) is stored

for the splits train, valid, test. Chunk ``c`` of split ``s`` (``chunk`` rows, one task) draws
its θ from ``SeedSequence(seed, spawn_key=(s, c))``; θ is rounded to float32 before it is
simulated, so the stored θ is exactly the simulated one. A chunk's content therefore does not
depend on the worker count or the order of completion, and a rerun fills only the chunks not
marked done (each chunk's arrays are written before its ``done`` flag). The metadata is written
once, into a temporary folder that is renamed into place. The transform used for learning is
recorded, not applied: see :func:`transform_traces`.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from neurotwin.data.config import SPLITS
from neurotwin.data.generate import Interrupted, _init_worker, default_workers
from neurotwin.data.store import _DENSE, StoreError, _diff, _versions
from neurotwin.interrupt import StopFlag
from neurotwin.inverse.simulators import (
    InverseSimulator,
    get_simulator,
    sample_theta,
    to_scaled,
)
from neurotwin.inverse.stimuli import Stimulus

FORMAT = "neurotwin-inverse-dataset"
FORMAT_VERSION = 1
ATTR = "neurotwin_inverse"
TRANSFORMS: dict[str, dict[str, Any]] = {
    "log10_v81": {"name": "log10_v81", "offset_mV": 81.0, "clip_min_mV": 0.1},
    "log10_v121": {"name": "log10_v121", "offset_mV": 121.0, "clip_min_mV": 0.1},
    "identity": {"name": "identity"},
}
DEFAULT_CHUNK = {"izhikevich": 1000}
"""Rows per chunk (= per task) by simulator; NEURON simulators default to 50."""


def transform_spec(name: str = "log10_v81") -> dict[str, Any]:
    """The spec of a named trace transform.

    ``log10_v81``: ``log10(max(V + 81 mV, 0.1 mV))`` — compresses spikes, keeps subthreshold
    detail; values in [−1, ~2.1]; everything below −80.9 mV becomes one value.
    ``log10_v121``: the same with 121 mV, floor −120.9 mV: keeps afterhyperpolarisations towards
    E_K = −90 mV and hyperpolarising pulses (Mainen's default: under ``log10_v81`` 37 % of its
    samples sit on the floor). ``identity``: V in mV, unchanged.
    """
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; valid: {', '.join(TRANSFORMS)}")
    return dict(TRANSFORMS[name])


def transform_traces(v_mv: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Apply a transform spec (:func:`transform_spec`) to traces in mV; float32 out."""
    name = spec.get("name")
    v = np.asarray(v_mv, dtype=np.float32)
    if name == "identity":
        return v.copy()
    if name in TRANSFORMS and "offset_mV" in spec:
        shifted = v + np.float32(spec["offset_mV"])
        return np.log10(np.maximum(shifted, np.float32(spec["clip_min_mV"]))).astype(np.float32)
    raise ValueError(f"unknown transform {name!r}; valid: {', '.join(TRANSFORMS)}")


def floor_mV(spec: dict[str, Any]) -> float | None:
    """The voltage at and below which a transform spec maps every sample to one value (None:
    it has no floor)."""
    return spec["clip_min_mV"] - spec["offset_mV"] if "offset_mV" in spec else None


def floor_fraction(v_mv: np.ndarray, spec: dict[str, Any]) -> float:
    """The share of samples that a transform spec flattens onto its floor (0 for identity):
    detail there is lost to learning."""
    floor = floor_mV(spec)
    v = np.asarray(v_mv, dtype=np.float32)
    if floor is None or not v.size:
        return 0.0
    return float((v <= np.float32(floor)).mean())


def split_counts(n: int, fractions: tuple[float, float, float]) -> dict[str, int]:
    """Rows per split: valid and test rounded from their fractions, train the rest."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"n must be an integer > 0, got {n!r}")
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 or not math.isfinite(f) for f in fr) or abs(sum(fr) - 1) > 1e-6:
        raise ValueError(f"split_fractions must be 3 numbers >= 0 summing to 1, got {fractions}")
    valid, test = int(round(n * fr[1])), int(round(n * fr[2]))
    return {"train": int(n) - valid - test, "valid": valid, "test": test}


def _rebuild(meta: dict[str, Any]) -> tuple[InverseSimulator, Stimulus]:
    sim = get_simulator(meta["simulator"]["name"], **meta["simulator"]["settings"])
    return sim, Stimulus.from_dict(meta["stimulus"])


@dataclass
class InverseSplit:
    """One split, rows of stored chunks only (in order). Arrays are read on first access."""

    group: zarr.Group
    meta: dict[str, Any]
    name: str

    @cached_property
    def rows(self) -> np.ndarray:
        """Indices (in the split's arrays) of the stored rows."""
        chunk = int(self.meta["chunk"])
        n = min(int(self.group["theta"].shape[0]), int(self.meta["counts"][self.name]))
        done = np.asarray(self.group["done"][:], dtype=bool)
        keep = np.repeat(done, chunk)[:n]
        return np.flatnonzero(keep)

    def _read(self, key: str) -> np.ndarray:
        arr = self.group[key]
        if len(self.rows) == arr.shape[0]:
            return np.asarray(arr[:])
        return np.asarray(arr.get_orthogonal_selection((self.rows, slice(None))))  # type: ignore[union-attr]

    @cached_property
    def theta(self) -> np.ndarray:
        """(N, K) float32, physical units."""
        return self._read("theta")

    @cached_property
    def theta_scaled(self) -> np.ndarray:
        """(N, K) float32 in [-1, 1]."""
        return self._read("theta_scaled")

    @cached_property
    def traces_mv(self) -> np.ndarray:
        """(N, T) float32 somatic voltage in mV."""
        return self._read("traces_mv")

    def __len__(self) -> int:
        return int(len(self.rows))

    @property
    def stimulus(self) -> Stimulus:
        return Stimulus.from_dict(self.meta["stimulus"])

    def simulator(self) -> InverseSimulator:
        return _rebuild(self.meta)[0]

    def transformed(self) -> np.ndarray:
        """Traces under the dataset's recorded transform (N, T) float32."""
        return transform_traces(self.traces_mv, self.meta["transform"])


class InverseStore:
    """An inverse dataset on disk (:func:`open_inverse_dataset`)."""

    def __init__(self, path: Path, root: zarr.Group) -> None:
        meta = root.attrs.get(ATTR)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise StoreError(f"{path} is not a neurotwin inverse dataset")
        self.path = path
        self.root = root
        self.meta: dict[str, Any] = meta

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> InverseStore:
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise StoreError(f"no inverse dataset at {path}")
        try:
            root = zarr.open_group(str(path), mode=mode)
        except Exception as exc:  # noqa: BLE001 - zarr raises many kinds for a corrupt store
            raise StoreError(f"{path} is not a readable dataset store ({exc})") from exc
        return cls(path, root)

    def group(self, name: str) -> zarr.Group:
        if name not in SPLITS:
            raise StoreError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        return self.root[name]  # type: ignore[return-value]

    def split(self, name: str) -> InverseSplit:
        return InverseSplit(self.group(name), self.meta, name)

    def done_chunks(self, name: str) -> np.ndarray:
        return np.asarray(self.group(name)["done"][:], dtype=bool)

    def done_counts(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}

    @property
    def complete(self) -> bool:
        return all(self.done_chunks(s).all() for s in SPLITS)

    def simulator(self) -> InverseSimulator:
        return _rebuild(self.meta)[0]

    @property
    def stimulus(self) -> Stimulus:
        return Stimulus.from_dict(self.meta["stimulus"])


def open_inverse_dataset(path: str | Path) -> InverseStore:
    """Open an inverse dataset for reading (StoreError, a ValueError, if there is none)."""
    return InverseStore.open(path, mode="r")


def _definition(
    sim: InverseSimulator,
    stimulus: Stimulus,
    counts: dict[str, int],
    seed: int,
    chunk: int,
    transform: dict[str, Any],
    fractions: tuple[float, float, float],
) -> dict[str, Any]:
    """Everything that determines the arrays (compared on resume)."""
    return {
        "simulator": {"name": sim.name, "settings": sim.settings()},
        "params": [p.to_list() for p in sim.params],
        "stimulus": stimulus.to_dict(),
        "dt_ms": stimulus.dt_ms,
        "num_samples": stimulus.num_samples,
        "transform": transform,
        "seed": seed,
        "chunk": chunk,
        "counts": dict(counts),
        "split_fractions": list(fractions),
    }


def _create(path: Path, definition: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        root = zarr.open_group(str(tmp), mode="w")
        k, t, chunk = len(definition["params"]), definition["num_samples"], definition["chunk"]
        for split in SPLITS:
            n = definition["counts"][split]
            g = root.create_group(split)
            rows = max(min(chunk, n), 1)
            for name, width in (("theta", k), ("theta_scaled", k), ("traces_mv", t)):
                g.create_array(
                    name,
                    shape=(n, width),
                    chunks=(rows, width),
                    dtype="float32",
                    compressors=[_DENSE],
                    fill_value=0,
                )
            nc = math.ceil(n / chunk)
            g.create_array("done", shape=(nc,), chunks=(max(nc, 1),), dtype="bool", fill_value=0)
        root.attrs[ATTR] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **definition,
            "versions": _versions(),
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "seeding": "chunk c of split s: theta = uniform draws from "
            "SeedSequence(seed, spawn_key=(s, c)), rounded to float32 before simulation",
        }
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _run_chunk(
    definition: dict[str, Any], split: str, c: int
) -> tuple[str, int, np.ndarray, np.ndarray]:
    """Simulate chunk ``c`` of ``split``: returns (split, c, θ float32 (n, K), traces (n, T))."""
    sim, stimulus = _rebuild(definition)
    chunk, n = definition["chunk"], definition["counts"][split]
    size = min(chunk, n - c * chunk)
    rng = np.random.default_rng(
        np.random.SeedSequence(definition["seed"], spawn_key=(SPLITS.index(split), c))
    )
    theta = sample_theta(sim.params, size, rng).astype(np.float32)
    traces = sim.simulate(theta.astype(np.float64), stimulus)
    return split, c, theta, traces


def _run_local(
    definition: dict[str, Any], tasks: list[tuple[str, int]], workers: int, flag: StopFlag
) -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
    if workers <= 1:
        for split, c in tasks:
            if flag.stop:
                return
            yield _run_chunk(definition, split, c)
        return
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker
    ) as pool:
        futures: set[Future[Any]] = {pool.submit(_run_chunk, definition, s, c) for s, c in tasks}
        try:
            while futures:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                if flag.stop:
                    break
        finally:
            for fut in futures:
                fut.cancel()


def _run_dask(
    definition: dict[str, Any], tasks: list[tuple[str, int]], scheduler: str, flag: StopFlag
) -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
    from dask.distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = [client.submit(_run_chunk, definition, s, c, pure=False) for s, c in tasks]
        try:
            for fut in as_completed(futures):
                yield fut.result()
                if flag.stop:
                    break
        finally:
            client.cancel(futures)


def _growth(stored: Any, requested: dict[str, int]) -> bool:
    """Is ``requested`` a larger dataset than ``stored`` (every split at least as large)?"""
    if not isinstance(stored, dict) or set(stored) != set(requested) or stored == requested:
        return False
    return all(requested[s] >= int(stored[s]) for s in requested)


def _grow(store: InverseStore, counts: dict[str, int]) -> None:
    """Resize every split to ``counts`` rows. Chunk c of a split draws its θ from its own seed,
    so full chunks stay as they are and the grown dataset equals one made at the larger size;
    a split's last, partial chunk draws more rows now and is simulated again. The arrays grow
    first and the recorded counts last, so an interrupted grow is redone by the next run."""
    chunk = int(store.meta["chunk"])
    for split in SPLITS:
        g = store.group(split)
        old, n = int(store.meta["counts"][split]), counts[split]
        for name in ("theta", "theta_scaled", "traces_mv"):
            g[name].resize((n, g[name].shape[1]))
        done = store.done_chunks(split)
        grown = np.zeros(math.ceil(n / chunk), dtype=bool)
        grown[: len(done)] = done[: len(grown)]
        if old % chunk and old < n:
            grown[old // chunk] = False  # the partial last chunk: more rows to draw
        g["done"].resize(grown.shape)
        g["done"][:] = grown
    store.root.attrs[ATTR] = {**store.meta, "counts": dict(counts)}
    store.meta = dict(store.root.attrs[ATTR])


@dataclass
class InverseMakeReport:
    path: Path
    simulated: int
    counts: dict[str, int]
    done: dict[str, int]
    elapsed_s: float


def make_inverse_dataset(
    out: str | Path,
    simulator: InverseSimulator | str,
    n: int,
    *,
    stimulus: Stimulus | None = None,
    seed: int = 0,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    workers: int | None = None,
    scheduler: str | None = None,
    chunk: int | None = None,
    transform: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: StopFlag | None = None,
) -> InverseMakeReport:
    """Create or resume the inverse dataset at ``out`` with ``n`` rows split by
    ``split_fractions``. ``progress(n_new, total)`` gets the rows just stored and the rows
    pending at start. ``stop``: a StopFlag to honour (default: one installed for this call,
    so Ctrl-C stops cleanly); raises :class:`Interrupted` when stopped early. ``transform``
    (a :data:`TRANSFORMS` name) defaults to the simulator's ``default_transform`` for a new
    dataset and to the recorded one on resume; naming another re-records it. A larger ``n``
    with the same options grows an existing dataset: the rows stored are kept and the result
    equals a dataset made at the larger ``n`` from the start."""
    sim = get_simulator(simulator) if isinstance(simulator, str) else simulator
    if not isinstance(sim, InverseSimulator):
        raise TypeError(f"simulator must be a name or an InverseSimulator, got {simulator!r}")
    stimulus = stimulus if stimulus is not None else sim.default_stimulus()
    if not isinstance(stimulus, Stimulus):
        raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    chunk = chunk if chunk is not None else DEFAULT_CHUNK.get(sim.name, 50)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    counts = split_counts(n, split_fractions)
    fractions = tuple(float(f) for f in split_fractions)
    definition = _definition(
        sim,
        stimulus,
        counts,
        seed,
        chunk,
        transform_spec(transform or sim.default_transform),
        fractions,  # type: ignore[arg-type]
    )
    path = Path(out)
    if path.exists():
        store = InverseStore.open(path, mode="r+")
        stored = {k: store.meta.get(k) for k in definition}
        if isinstance(stored["stimulus"], dict):  # fields added since take their defaults
            stored["stimulus"] = Stimulus.from_dict(stored["stimulus"]).to_dict()
        # the transform only says how to read the raw traces: kept on resume unless one is named,
        # re-recorded (nothing re-simulated) when another is named
        stored["transform"] = definition["transform"] = (
            definition["transform"] if transform else stored["transform"]
        )
        grow = _growth(stored["counts"], definition["counts"])
        if grow:  # a larger n grows the dataset (checked below with everything else)
            stored["counts"] = definition["counts"]
        diffs = _diff(stored, definition)
        if diffs:
            raise StoreError(
                f"{path} was made with other options ({'; '.join(diffs[:4])}); "
                "use another output folder or the same options"
            )
        if grow:
            _grow(store, definition["counts"])
        if store.meta.get("transform") != definition["transform"]:
            store.root.attrs[ATTR] = {**store.meta, "transform": definition["transform"]}
            store.meta = dict(store.root.attrs[ATTR])
    else:
        _create(path, definition)
        store = InverseStore.open(path, mode="r+")
    tasks = [
        (split, int(c))
        for split in SPLITS
        for c in np.flatnonzero(~store.done_chunks(split))
        if c * chunk < counts[split]
    ]
    total = sum(min(chunk, counts[s] - c * chunk) for s, c in tasks)
    workers = min(workers or default_workers(), max(len(tasks), 1))
    simulated = 0
    t0 = time.perf_counter()
    own_flag = stop is None
    flag = StopFlag() if stop is None else stop
    try:
        if own_flag:
            flag.__enter__()
        results = (
            _run_dask(definition, tasks, scheduler, flag)
            if scheduler
            else _run_local(definition, tasks, workers, flag)
        )
        for split, c, theta, traces in results:
            g = store.group(split)
            rows = slice(c * chunk, c * chunk + len(theta))
            g["theta"][rows] = theta
            g["theta_scaled"][rows] = to_scaled(theta, sim.params).astype(np.float32)
            g["traces_mv"][rows] = traces
            done = store.done_chunks(split)
            done[c] = True
            g["done"][:] = done
            simulated += len(theta)
            if progress is not None:
                progress(len(theta), total)
        if flag.stop and simulated < total:
            raise Interrupted(
                f"interrupted: {simulated} of {total} simulations stored in {path}; "
                "rerun the same command to resume"
            )
    finally:
        if own_flag:
            flag.__exit__(None, None, None)
    return InverseMakeReport(path, simulated, counts, store.done_counts(), time.perf_counter() - t0)


__all__ = [
    "InverseMakeReport",
    "InverseSplit",
    "InverseStore",
    "floor_fraction",
    "floor_mV",
    "make_inverse_dataset",
    "open_inverse_dataset",
    "split_counts",
    "transform_spec",
    "transform_traces",
]
