"""``simulate(cell, inputs)``: one entry point for every cell family."""

from __future__ import annotations

import threading

import numpy as np

from neurotwin.sim.cells.ball_and_stick import BallAndStickConfig, BallAndStickModel
from neurotwin.sim.cells.base import CellConfig
from neurotwin.sim.cells.lif import LIFConfig, simulate_lif
from neurotwin.sim.outputs import SimulationResult, detect_spikes

BACKENDS = ("auto", "batched", "neuron")
"""``neuron``: one NEURON model per batch (the reference); ``batched``: the compiled kernel of
:mod:`neurotwin.sim.batched`, identical outputs; ``auto`` (default): ``batched``."""
# NEURON holds one global model per process and is not thread-safe (e.g. Dask worker threads).
_NEURON_LOCK = threading.Lock()


def check_inputs(cell: CellConfig, inputs: np.ndarray) -> tuple[np.ndarray, bool]:
    """Validate ``inputs`` for ``cell``; return them as float64 (B, *input_shape, T) and whether
    a batch was given. Raises ValueError naming the problem."""
    arr = np.asarray(inputs)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"inputs must be a numeric array, got dtype {arr.dtype}")
    shape = cell.input_shape
    batched = arr.ndim == len(shape) + 2
    if not (
        arr.ndim in (len(shape) + 1, len(shape) + 2) and arr.shape[-1 - len(shape) : -1] == shape
    ):
        want = ", ".join(str(s) for s in shape)
        raise ValueError(
            f"inputs must have shape ({want}, T) or (B, {want}, T) for cell {cell.name!r}, "
            f"got {arr.shape}"
        )
    if arr.shape[-1] < 1:
        raise ValueError("inputs must cover at least 1 ms (T >= 1)")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("inputs contain NaN or infinite values")
    if np.any(arr < 0):
        raise ValueError(f"inputs must be >= 0 (event weights), found minimum {arr.min():g}")
    return (arr if batched else arr[None]), batched


def simulate_ball_and_stick(
    cell: BallAndStickConfig, inputs: np.ndarray, keep_hr: bool = False
) -> list[SimulationResult]:
    """Simulate a batch (B, 2, S, T) of inputs on NEURON, all cells in one model."""
    duration = inputs.shape[-1]
    with _NEURON_LOCK:
        model = BallAndStickModel(cell, n=inputs.shape[0])
        model.set_inputs(inputs)
        soma_hr, dend = model.run(duration)
        model.clear_inputs()
        del model
    results = []
    for v_hr, d in zip(soma_hr, dend, strict=True):
        times, spikes = detect_spikes(v_hr, cell.samples_per_ms, duration, cell.spike_threshold_mV)
        results.append(
            SimulationResult(
                soma_v=v_hr[:: cell.samples_per_ms][:duration].astype(np.float32),
                dend_v=d.astype(np.float32),
                spike_times_ms=times,
                spikes=spikes,
                soma_v_hr=v_hr.astype(np.float32) if keep_hr else None,
            )
        )
    return results


def simulate(
    cell: CellConfig, inputs: np.ndarray, *, backend: str = "auto", keep_hr: bool = False
) -> SimulationResult | list[SimulationResult]:
    """Simulate ``cell`` under ``inputs`` of weighted events per 1 ms bin.

    ``inputs`` has the cell's layout ``(*cell.input_shape, T)`` — ``(2, num_segments, T)`` for a
    ball-and-stick (channel 0 excitatory, 1 inhibitory), ``(100, T)`` for the LIF cell — or a
    batch ``(B, *cell.input_shape, T)``. A value w > 0 at bin t is one event at t ms of weight w.
    Returns one :class:`SimulationResult`, or a list of them for a batch.

    ``backend``: ``"neuron"`` runs NEURON with our NMODL; ``"batched"`` (what ``"auto"`` picks)
    runs the compiled batch kernel, which reproduces NEURON's outputs (tested to 1e-3 mV; in
    practice every float32 sample is identical). The LIF cell has one NumPy implementation.
    """
    if not isinstance(cell, CellConfig):
        raise TypeError(f"cell must be a cell config (see neurotwin.cells.preset), got {cell!r}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    batch, batched = check_inputs(cell, inputs)
    if isinstance(cell, BallAndStickConfig):
        if backend == "neuron":
            results = simulate_ball_and_stick(cell, batch, keep_hr=keep_hr)
        else:
            from neurotwin.sim.batched import simulate_batched

            results = simulate_batched(cell, batch, keep_hr=keep_hr)
    elif isinstance(cell, LIFConfig):
        results = simulate_lif(cell, batch)
    else:  # pragma: no cover - every family is listed above
        raise TypeError(f"no simulator for cell family {cell.family!r}")
    return results if batched else results[0]
