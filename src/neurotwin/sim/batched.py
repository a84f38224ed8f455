"""The batched backend: many ball-and-stick cells integrated together by one compiled kernel.

The kernel (:mod:`neurotwin.sim.lanes`) implements exactly the scheme of the spec (§5.2, §5.7)
that NEURON runs for this cell, with the kinetics of :mod:`neurotwin.sim.kinetics` (written
once). On the CPU it advances blocks of 16 cells in lockstep with vector instructions, the blocks
spread over the cores (numba ``prange``); on a GPU one thread per cell. Every cell may carry its
own parameters (one row of the parameter matrix per cell).

``math="fast"`` (default) uses the vectorisable ``exp``/``log`` of :mod:`neurotwin.sim.fastmath`
(within 1-2 ulp of the C library's): traces agree with NEURON's to ~1e-9 mV and a cell's trace
does not depend on the batch it ran in. ``math="exact"`` uses the C library, one cell at a time:
the operation-for-operation twin of NEURON (every float32 sample equal), several times slower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from neurotwin.sim import kinetics as K
from neurotwin.sim import lanes
from neurotwin.sim.cells.ball_and_stick import (
    SOMA_DENSITIES_S_CM2,
    SOMA_DIAM_UM,
    SOMA_L_UM,
    SYNAPSES,
    V_INIT_MV,
    BallAndStickConfig,
)
from neurotwin.sim.lanes import (
    CHANNELS,
    NUM_PARAMS,
    P_AREA_DEND,
    P_AREA_SOMA,
    P_CADECAY,
    P_CAGAMMA,
    P_CM,
    P_DT,
    P_EPAS,
    P_F_AMPA,
    P_F_GABA,
    P_F_NMDA,
    P_GAMMA_NMDA,
    P_GMAX_AMPA,
    P_GMAX_GABA,
    P_GMAX_NMDA,
    P_GPAS_DEND,
    P_GPAS_SOMA,
    P_R01,
    P_RDD,
    TAU_AMPA,
    TAU_GABA,
    TAU_NMDA,
)
from neurotwin.sim.outputs import SimulationResult

MATHS = ("fast", "exact")


def axial_MOhm(length_um: float, diam_um: float, ra: float) -> float:
    return 0.01 * ra * length_um / (math.pi * (diam_um / 2) ** 2)


def param_row(cell: BallAndStickConfig) -> np.ndarray:
    """One cell's parameters in the kernel's layout."""
    p = np.zeros(NUM_PARAMS)
    for i, name in enumerate(CHANNELS):
        scale = cell.rho_factor * (cell.ske2_factor if name == "SK_E2" else 1.0)
        p[i] = SOMA_DENSITIES_S_CM2[name] * scale
    n = cell.num_segments
    syn = SYNAPSES[cell.synapse]
    p[P_GPAS_SOMA] = cell.soma_g_pas_S_cm2
    p[P_GPAS_DEND] = 1.0 / cell.dend_Rm_ohm_cm2
    p[P_EPAS] = V_INIT_MV
    p[P_CM] = cell.cm_uF_cm2
    p[P_DT] = cell.dt_ms
    p[P_AREA_SOMA] = math.pi * SOMA_L_UM * SOMA_DIAM_UM
    p[P_AREA_DEND] = math.pi * cell.dend_diam_um * cell.dend_L_um / n
    p[P_R01] = axial_MOhm(SOMA_L_UM / 2, SOMA_DIAM_UM, cell.Ra_ohm_cm) + axial_MOhm(
        cell.dend_L_um / (2 * n), cell.dend_diam_um, cell.Ra_ohm_cm
    )
    p[P_RDD] = axial_MOhm(cell.dend_L_um / n, cell.dend_diam_um, cell.Ra_ohm_cm)
    p[P_GMAX_AMPA] = syn["gmax_AMPA"]
    p[P_GMAX_NMDA] = syn["gmax_NMDA"]
    p[P_GAMMA_NMDA] = syn["gamma_NMDA"]
    p[P_GMAX_GABA] = cell.g_max_gaba_uS
    p[P_F_AMPA] = K.peak_factor(*TAU_AMPA)
    p[P_F_NMDA] = K.peak_factor(*TAU_NMDA)
    p[P_F_GABA] = K.peak_factor(*TAU_GABA)
    p[P_CAGAMMA] = 0.000509
    p[P_CADECAY] = 294.679571
    return p


def cuda_available() -> bool:
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - no CUDA target in this numba build
        return False


def _launch_cuda(
    params, x, duration, spm, threshold, soma, dend, hr, keep_hr, peaks, npeaks
) -> None:  # noqa: ANN001
    from numba import cuda

    kernel = _CUDA_KERNEL.get("kernel")
    if kernel is None:
        kernel = _CUDA_KERNEL["kernel"] = lanes.cuda_kernel()
    dev = {
        k: cuda.to_device(a)
        for k, a in (
            ("soma", soma),
            ("dend", dend),
            ("hr", hr),
            ("peaks", peaks),
            ("npeaks", npeaks),
        )
    }
    threads = 64
    blocks = (params.shape[0] + threads - 1) // threads
    kernel[blocks, threads](
        cuda.to_device(params),
        cuda.to_device(lanes.initial_gates()),
        cuda.to_device(x),
        duration,
        spm,
        threshold,
        dev["soma"],
        dev["dend"],
        dev["hr"],
        keep_hr,
        dev["peaks"],
        dev["npeaks"],
    )
    for name, host in (
        ("soma", soma),
        ("dend", dend),
        ("hr", hr),
        ("peaks", peaks),
        ("npeaks", npeaks),
    ):
        dev[name].copy_to_host(host)


_CUDA_KERNEL: dict[str, object] = {}


SCALAR_REST = 2
"""A remainder of up to this many cells (after the full blocks) runs on the one-lane kernel; a
larger one is padded to a full block, which costs less than 3 cells one lane at a time."""


def _launch_cpu(
    params, x, duration, spm, threshold, soma, dend, hr, keep_hr, peaks, npeaks, maths="fast"
) -> None:  # noqa: ANN001
    """Blocks of ``LANES`` cells with the vector kernel, the remainder with the one-lane twin
    or padded (the same arithmetic either way: a cell's result never depends on its batch)."""
    g0 = lanes.initial_gates()

    def run(variant: str, b0: int, b1: int) -> None:
        h = hr[b0:b1] if keep_hr else hr
        lanes.compile_variant(variant)(
            params[b0:b1], g0, x[b0:b1], duration, spm, threshold,
            soma[b0:b1], dend[b0:b1], h, keep_hr, peaks[b0:b1], npeaks[b0:b1],
        )  # fmt: skip

    if maths == "exact":
        run("exact", 0, params.shape[0])
        return
    width = lanes.VARIANTS["fast"][0]
    batch = params.shape[0]
    full = batch // width * width
    if full:
        run("fast", 0, full)
    rest = batch - full
    if 0 < rest <= SCALAR_REST:
        run("fast1", full, batch)
    elif rest:  # pad with copies of the last cell; only the real cells' outputs are kept
        idx = np.minimum(np.arange(full, full + width), batch - 1)
        out = [np.empty((width, *a.shape[1:]), a.dtype) for a in (soma, dend, peaks, npeaks)]
        h = np.empty((width, hr.shape[1])) if keep_hr else hr
        lanes.compile_variant("fast")(
            params[idx], g0, x[idx], duration, spm, threshold, *out[:2], h, keep_hr, *out[2:]
        )
        for dst, src in zip((soma, dend, peaks, npeaks), out, strict=True):
            dst[full:] = src[:rest]
        if keep_hr:
            hr[full:] = h[:rest]


def simulate_batched(
    cells: BallAndStickConfig | Sequence[BallAndStickConfig],
    inputs: np.ndarray,
    keep_hr: bool = False,
    device: str = "auto",
    maths: str = "fast",
) -> list[SimulationResult]:
    """Simulate a batch (B, 2, S, T) with one cell config or one per simulation (same S, dt
    and output settings). ``device``: ``"cpu"`` (numba threads over blocks of cells), ``"cuda"``
    (one GPU thread per cell), or ``"auto"`` (CUDA when a GPU is present). ``maths``
    (CPU): ``"fast"`` (vectorised) or ``"exact"`` (the C library's functions, bit for bit
    NEURON's arithmetic)."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if maths not in MATHS:
        raise ValueError(f"maths must be one of {', '.join(MATHS)}, got {maths!r}")
    use_cuda = device == "cuda" or (device == "auto" and cuda_available())
    batch = inputs.shape[0]
    cell_list = [cells] * batch if isinstance(cells, BallAndStickConfig) else list(cells)
    if len(cell_list) != batch:
        raise ValueError(f"got {len(cell_list)} cell configs for {batch} input arrays")
    first = cell_list[0]
    for c in cell_list:
        if (c.num_segments, c.dt_ms, c.spike_threshold_mV) != (
            first.num_segments,
            first.dt_ms,
            first.spike_threshold_mV,
        ):
            raise ValueError(
                "cells of one batch must share num_segments, dt_ms and spike_threshold_mV"
            )
    duration = inputs.shape[-1]
    spm = first.samples_per_ms
    params = np.stack([param_row(c) for c in cell_list])
    x = np.ascontiguousarray(inputs, dtype=np.float64)
    soma = np.empty((batch, duration))
    dend = np.empty((batch, first.num_segments, duration))
    hr = np.empty((batch if keep_hr else 1, duration * spm + 1))
    peaks = np.empty((batch, duration + 1), dtype=np.int64)
    npeaks = np.empty(batch, dtype=np.int64)
    args = (params, x, duration, spm, first.spike_threshold_mV, soma, dend, hr, keep_hr)
    if use_cuda:
        if first.num_segments + 1 > lanes.MAX_NODES_CUDA:
            raise ValueError(f"the CUDA kernel supports up to {lanes.MAX_NODES_CUDA - 1} segments")
        _launch_cuda(*args, peaks, npeaks)
    else:
        _launch_cpu(*args, peaks, npeaks, maths=maths)
    if np.any(npeaks > peaks.shape[1]):
        raise RuntimeError(f"more than {peaks.shape[1]} spike peaks in one simulation")
    results = []
    for b in range(batch):
        idx = peaks[b, : npeaks[b]]
        bins = idx // spm
        keep = bins < duration
        spikes = np.zeros(duration, dtype=bool)
        spikes[bins[keep]] = True
        results.append(
            SimulationResult(
                soma_v=soma[b].astype(np.float32),
                dend_v=dend[b].astype(np.float32),
                spike_times_ms=idx[keep] / float(spm),
                spikes=spikes,
                soma_v_hr=hr[b].astype(np.float32) if keep_hr else None,
            )
        )
    return results
