"""Parallel, resumable, deterministic dataset generation.

Slot ``i`` of split ``s`` is filled by draw ``a = 0, 1, ...`` of its own random stream
(``SeedSequence(seed, spawn_key=(s, 1, i, a))``) until a draw passes the filter; the per-chunk
input ranges come from ``SeedSequence(seed, spawn_key=(s, 0, i // sims_per_chunk))``. A slot's
content therefore never depends on the worker count, the batch size or the order of completion,
and a rerun recomputes exactly the slots that are not marked done.

Work is cut into tasks of a few slots, each simulated as one batch (for NEURON, several cells in
one model). Tasks run in this process (``workers=1``), in a local process pool, or on a Dask
cluster (``scheduler=ADDRESS``); only this process writes to the store.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data.config import SPLITS, DatasetConfig
from neurotwin.data.store import DatasetStore, sample_checksum
from neurotwin.interrupt import Interrupted, StopFlag
from neurotwin.sim.outputs import make_targets
from neurotwin.sim.run import simulate

log = logging.getLogger(__name__)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _rng(config: DatasetConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=key))


def draw_inputs(config: DatasetConfig, split: str, slot: int, attempt: int) -> np.ndarray:
    """The input of draw ``attempt`` of ``slot`` in ``split``: (*input_shape, T) float32."""
    s = SPLITS.index(split)
    chunk = config.inputs.chunk_params(_rng(config, s, 0, slot // config.sims_per_chunk))
    return config.inputs.sample(
        config.cell, config.duration_ms, chunk, _rng(config, s, 1, slot, attempt)
    )


@dataclass
class TaskResult:
    split: str
    slots: list[int]
    samples: list[dict[str, Any]]
    dropped: dict[str, int] = field(default_factory=dict)


def run_task(
    config: DatasetConfig, split: str, slots: list[int], backend: str = "auto"
) -> TaskResult:
    """Fill ``slots``: simulate a draw for every slot at once, redraw the rejected ones."""
    attempt = dict.fromkeys(slots, 0)
    accepted: dict[int, dict[str, Any]] = {}
    dropped: Counter[str] = Counter()
    filt = config.filter
    cell = config.cell
    while attempt:
        todo = sorted(attempt)
        inputs = np.stack([draw_inputs(config, split, i, attempt[i]) for i in todo])
        results = simulate(cell, inputs, backend=backend)
        assert isinstance(results, list)
        for i, x, res in zip(todo, inputs, results, strict=True):
            depolarized = float(np.mean(res.soma_v > filt.depolarized_mV))
            reason = filt.reject_reason(res.firing_rate_hz, depolarized)
            if reason is None:
                arrays = {"inputs": x.astype(np.float16), **make_targets(res, cell)}
                if cell.num_dend == 0:
                    arrays.pop("dend")
                accepted[i] = {
                    "arrays": arrays,
                    "attempt": attempt.pop(i),
                    "rate_hz": res.firing_rate_hz,
                    "checksum": sample_checksum(arrays),
                }
                continue
            dropped[reason] += 1
            attempt[i] += 1
            if attempt[i] >= filt.max_attempts:
                raise RuntimeError(
                    f"{split} slot {i}: no simulation passed the filter in {filt.max_attempts} "
                    f"draws (last: {reason}, {res.firing_rate_hz:.2f} Hz); relax the filter or "
                    "change the inputs"
                )
    return TaskResult(split, list(slots), [accepted[i] for i in slots], dict(dropped))


def plan_tasks(
    store: DatasetStore, workers: int, batch_size: int | None
) -> list[tuple[str, list[int]]]:
    pending = [(split, int(i)) for split in SPLITS for i in store.pending(split)]
    if not pending:
        return []
    if batch_size is None:  # enough tasks to keep every worker busy, batches of at most 16
        batch_size = max(1, min(16, math.ceil(len(pending) / (2 * workers))))
    tasks: list[tuple[str, list[int]]] = []
    for split in SPLITS:
        slots = [i for s, i in pending if s == split]
        tasks += [(split, slots[k : k + batch_size]) for k in range(0, len(slots), batch_size)]
    return tasks


def _run_local(
    config: DatasetConfig,
    tasks: list[tuple[str, list[int]]],
    workers: int,
    flag: StopFlag,
    backend: str,
) -> Iterator[TaskResult]:
    if workers <= 1:
        for split, slots in tasks:
            if flag.stop:
                return
            yield run_task(config, split, slots, backend)
        return
    # spawn: a fresh interpreter per worker, never a fork of a process that holds NEURON state
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker
    ) as pool:
        futures: set[Future[TaskResult]] = {
            pool.submit(run_task, config, s, sl, backend) for s, sl in tasks
        }
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
    config: DatasetConfig,
    tasks: list[tuple[str, list[int]]],
    scheduler: str,
    flag: StopFlag,
    backend: str,
) -> Iterator[TaskResult]:
    from dask.distributed import Client, as_completed

    with Client(scheduler) as client:  # as_completed() needs it as the default client
        futures = [client.submit(run_task, config, s, sl, backend, pure=False) for s, sl in tasks]
        try:
            for fut in as_completed(futures):
                yield fut.result()
                if flag.stop:
                    break
        finally:
            client.cancel(futures)


def _init_worker() -> None:
    """Pool workers ignore Ctrl-C (the parent stops them) and run single-threaded kernels: the
    pool already has one process per core."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["NUMBA_NUM_THREADS"] = "1"


@dataclass
class MakeReport:
    path: Path
    simulated: int
    dropped: dict[str, int]
    summary: dict[str, Any]


def make_dataset(
    config: DatasetConfig,
    path: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    backend: str = "auto",
) -> MakeReport:
    """Create or resume the dataset at ``path``.

    ``progress(n_new, total)`` is called with the number of slots just stored and the total
    pending at start. Raises :class:`Interrupted` after a Ctrl-C (the store stays consistent).
    ``backend`` is the simulation backend (see :func:`neurotwin.simulate`); backends give
    identical arrays, so it is not part of the dataset's config.
    """
    from neurotwin.sim.run import BACKENDS

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    store = DatasetStore.create_or_open(path, config)
    workers = workers or default_workers()
    tasks = plan_tasks(store, workers, batch_size)
    total = sum(len(sl) for _, sl in tasks)
    dropped: Counter[str] = Counter()
    simulated = 0
    with StopFlag() as flag:
        results = (
            _run_dask(config, tasks, scheduler, flag, backend)
            if scheduler
            else _run_local(config, tasks, workers, flag, backend)
        )
        for res in results:
            store.write_slots(res.split, res.slots, res.samples, res.dropped)
            dropped.update(res.dropped)
            simulated += len(res.slots)
            if progress is not None:
                progress(len(res.slots), total)
        if flag.stop and simulated < total:
            raise Interrupted(
                f"interrupted: {simulated} of {total} simulations stored in {path}; "
                "rerun the same command to resume"
            )
    return MakeReport(Path(path), simulated, dict(dropped), store.summary())
