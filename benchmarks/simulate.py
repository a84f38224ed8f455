"""Simulation speed, measured side by side in one run (a benchmark, not a test).

For each preset the same tutorial inputs (2048 ms each) are simulated these ways, and the figure
printed is simulated milliseconds per wall-clock second, with ratios:
  naive           one NEURON cell per simulation, one NetStim + NetCon per input event (spec
                  5.6), continuerun; timed on --n-naive simulations
  neuron          neurotwin.simulate(backend="neuron"): event queues, all cells in one NEURON
                  model, one core
  neuron-Np       the same split over N processes: the NEURON backend on all cores
  batched-bB      neurotwin.simulate(backend="batched") in batches of b simulations, all cores
                  (numba threads over blocks of 16 cells in vector registers)
  exact-b256      the batched backend with maths="exact" (the C library's exp/log, one cell at
                  a time: bit for bit NEURON's arithmetic), batches of 256
  dataset-Nw      `dataset make` with N workers and the default backend (writes the store)
The naive, neuron and batched outputs are checked to be identical. Also printed: the batched
kernel's JIT warm-up (compiling into an empty cache, and loading from the cache) and its memory
per cell.

    python benchmarks/simulate.py [--n 256] [--n-neuron 32] [--n-naive 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

import neurotwin
from neurotwin.cells import preset
from neurotwin.data.config import DatasetConfig, FilterConfig
from neurotwin.data.generate import default_workers, draw_inputs, make_dataset
from neurotwin.sim.batched import simulate_batched
from neurotwin.sim.cells.ball_and_stick import BallAndStickModel
from neurotwin.sim.inputs import make_inputs

DURATION_MS = 2048


def naive(cell, inputs: np.ndarray) -> list[np.ndarray]:
    """One model per simulation, one NetStim per event, continuerun like the seed notebooks."""
    from neuron import h

    h.load_file("stdrun.hoc")
    out = []
    for x in inputs:
        model = BallAndStickModel(cell, n=1)
        model.set_inputs_netstim(x[None])
        v = h.Vector()
        v.record(model.soma[0](0.5)._ref_v)
        h.dt = cell.dt_ms
        h.finitialize(-85.0)
        h.continuerun(float(x.shape[-1]))
        out.append(np.array(v))
        del model
    return out


def spike_counts(cell, inputs: np.ndarray, backend: str) -> list[int]:
    """neurotwin.simulate in a worker process; returns little, so pickling costs nothing."""
    return [len(r.spike_times_ms) for r in neurotwin.simulate(cell, inputs, backend=backend)]


def in_processes(cell, x: np.ndarray, workers: int, backend: str) -> float:
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        parts = np.array_split(x, workers)
        list(pool.map(spike_counts, [cell] * workers, parts, [backend] * workers))
    return time.perf_counter() - start


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def jit_warmup_s() -> tuple[float, float]:
    """Seconds for the first batched call in a fresh process: with an empty numba cache
    (compilation) and with the cache filled (loading). 17 cells: a block of 16 and one cell on
    the one-lane kernel, so both default kernels are compiled."""
    code = (
        "import time, numpy as np, neurotwin; from neurotwin.cells import preset; "
        "t = time.perf_counter(); "
        "neurotwin.simulate(preset('cable_nmda'), np.zeros((17, 2, 8, 5)), backend='batched'); "
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": tmp}
        run = [sys.executable, "-c", code]
        cold = float(
            subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.split()[
                -1
            ]
        )
        warm = float(
            subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.split()[
                -1
            ]
        )
    return cold, warm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="simulations for the batched backend")
    ap.add_argument("--n-neuron", type=int, default=32, help="simulations for the NEURON backend")
    ap.add_argument("--n-naive", type=int, default=8, help="simulations for the naive baseline")
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    w = args.workers
    cold, warm = jit_warmup_s()
    print(
        f"batched JIT warm-up: {cold:.1f} s compiling into an empty cache, {warm:.2f} s "
        "loading from the cache"
    )
    print(
        f"{'preset':11s} {'method':12s} {'sims':>5s} {'wall s':>8s} {'sim ms/s':>10s} "
        f"{'× naive':>8s} {'× neuron-' + str(w) + 'p':>12s}"
    )
    for name in ("point_ampa", "cable_nmda"):
        cell = preset(name)
        n = max(args.n, args.n_neuron)
        config = DatasetConfig(
            cell=cell,
            inputs=make_inputs("tutorial"),
            counts={"train": args.n_neuron, "valid": 0, "test": 0},
            duration_ms=DURATION_MS,
            filter=FilterConfig(min_rate_hz=0.0, max_rate_hz=1e9, max_depolarized_fraction=1.0),
        )
        x = np.stack([draw_inputs(config, "train", i, 0) for i in range(n)])
        neurotwin.simulate(cell, x[:1, ..., :10], backend="neuron")  # load mechanisms
        neurotwin.simulate(cell, x[:1, ..., :10], backend="batched")  # load the kernel

        rows: list[tuple[str, int, float]] = []
        ref, t = timed(naive, cell, x[: args.n_naive])
        rows.append(("naive", args.n_naive, t))
        x_n = x[: args.n_neuron]
        res_neuron, t = timed(neurotwin.simulate, cell, x_n, backend="neuron", keep_hr=True)
        rows.append(("neuron", args.n_neuron, t))
        rows.append((f"neuron-{w}p", args.n_neuron, in_processes(cell, x_n, w, "neuron")))
        for b in (1, 16, 256):
            m = min(args.n, 16) if b == 1 else args.n
            start = time.perf_counter()
            res_batched = []
            for k in range(0, m, b):
                res_batched += neurotwin.simulate(cell, x[k : k + b], backend="batched")
            rows.append((f"batched-b{b}", m, time.perf_counter() - start))
        simulate_batched(cell, x[:1, ..., :10], maths="exact")  # compile or load it
        res_exact, t = timed(simulate_batched, cell, x[: args.n], maths="exact")
        rows.append(("exact-b256", args.n, t))
        with tempfile.TemporaryDirectory() as tmp:
            _, t = timed(make_dataset, config, f"{tmp}/ds", workers=w)
        rows.append((f"dataset-{w}w", args.n_neuron, t))

        rates = {method: sims * DURATION_MS / wall for method, sims, wall in rows}
        for method, sims, wall in rows:
            r = rates[method]
            print(
                f"{name:11s} {method:12s} {sims:5d} {wall:8.2f} {r:10.0f} "
                f"{r / rates['naive']:8.2f} {r / rates[f'neuron-{w}p']:12.2f}"
            )
        same_naive = all(
            np.array_equal(r.soma_v_hr, v.astype(np.float32))
            for r, v in zip(res_neuron, ref, strict=False)
        )
        worst = max(
            float(np.abs(a.soma_v - b.soma_v).max())
            for a, b in zip(res_batched, res_neuron, strict=False)
        )
        same_spikes = all(
            np.array_equal(a.spikes, b.spikes)
            for a, b in zip(res_batched, res_neuron, strict=False)
        )
        exact_equal = all(
            np.array_equal(a.soma_v, b.soma_v) for a, b in zip(res_exact, res_neuron, strict=False)
        )
        print(
            f"{name:11s} naive == neuron: {same_naive}; batched vs neuron: max |dV| "
            f"{worst:.2g} mV, identical spike bins: {same_spikes}; exact == neuron (float32): "
            f"{exact_equal}"
        )
        tracemalloc.start()
        neurotwin.simulate(cell, x[:256], backend="batched")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"{name:11s} batched memory: {peak / min(256, len(x)) / 1024:.0f} KiB per cell "
            f"of {DURATION_MS} ms (inputs, outputs and state; peak of a 256-cell batch)"
        )


if __name__ == "__main__":
    main()
