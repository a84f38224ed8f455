"""Somatic current clamp of many cells in one NEURON model (the inverse-problem cells).

Every cell gets its own IClamp playing the same piecewise-constant current (sample k held on
[k·Δ, (k+1)·Δ), Δ the sampling interval), and its soma voltage is recorded at every integration
step and kept at t = k·Δ. All cells are integrated together by one fixed-step ``psolve``, so a
batch of N parameter sets costs one NEURON run.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def steps_per_sample(sample_dt_ms: float, dt_ms: float) -> int:
    """Integration steps per output sample; ValueError unless ``dt_ms`` divides the sampling."""
    ratio = sample_dt_ms / dt_ms
    k = int(round(ratio))
    if k < 1 or abs(ratio - k) > 1e-6:
        raise ValueError(
            f"the integration step dt_ms={dt_ms} must divide the sampling interval "
            f"{sample_dt_ms} ms into a whole number of steps"
        )
    return k


def run_current_clamp(
    sites: list[Any],
    current_nA: np.ndarray,
    sample_dt_ms: float,
    *,
    dt_ms: float,
    v_init_mV: float,
    celsius_degC: float,
) -> np.ndarray:
    """Inject ``current_nA`` (T,) at every segment of ``sites`` (one per cell) and return their
    voltages (N, T) float32 in mV at t = k·``sample_dt_ms``, integrating at ``dt_ms``.
    Assumes that only these cells exist in NEURON (callers hold the NEURON lock)."""
    from neuron import h

    spk = steps_per_sample(sample_dt_ms, dt_ms)
    t_samples = len(current_nA)
    duration = t_samples * sample_dt_ms
    amp = np.asarray(current_nA, dtype=np.float64)
    clamps, plays, recs = [], [], []
    for seg in sites:
        stim = h.IClamp(seg)
        stim.delay, stim.dur, stim.amp = 0.0, 1e9, float(amp[0])
        vec = h.Vector(amp)
        vec.play(stim._ref_amp, sample_dt_ms)
        rec = h.Vector(t_samples * spk + 1)
        rec.record(seg._ref_v)
        clamps.append(stim)
        plays.append(vec)
        recs.append(rec)
    cvode = h.CVode()
    cvode.active(0)
    cvode.cache_efficient(1)
    h.secondorder = 0
    h.dt = dt_ms
    h.celsius = celsius_degC
    pc = h.ParallelContext()
    pc.set_maxstep(10)  # no NetCons between cells
    h.finitialize(v_init_mV)
    pc.psolve(duration)
    out = np.empty((len(sites), t_samples), dtype=np.float32)  # (N, T)
    for i, rec in enumerate(recs):
        v = rec.as_numpy()
        out[i] = v[: t_samples * spk : spk]
    for vec in plays:
        vec.play_remove()
    for rec in recs:
        rec.play_remove()
    return out
