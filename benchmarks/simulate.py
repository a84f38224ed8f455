"""Simulation speed, measured side by side in one run (a benchmark, not a test).

For each preset, the same input arrays are simulated these ways:
  naive        one NEURON cell per simulation, one NetStim + NetCon per input event (spec 5.6),
               continuerun; timed on --n-naive simulations and scaled to --n
  simulate     neurotwin.simulate on one core: event queues, all cells in one NEURON model
  simulate-Np  the same split over N independent processes: the machine's parallel ceiling
  dataset-Nw   `dataset make` with N workers (filter off, writes the Zarr store)
The figure printed is simulated milliseconds per wall-clock second, with ratios to the naive
baseline. The naive and simulate outputs are checked to be identical.

    python benchmarks/simulate.py [--n 128] [--n-naive 8] [--duration-ms 2048] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

import neurotwin
from neurotwin.cells import preset
from neurotwin.data.config import DatasetConfig, FilterConfig
from neurotwin.data.generate import default_workers, draw_inputs, make_dataset
from neurotwin.sim.cells.ball_and_stick import BallAndStickModel
from neurotwin.sim.inputs import make_inputs


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


def spike_counts(cell, inputs: np.ndarray) -> list[int]:
    """neurotwin.simulate in a worker process; returns little, so pickling costs nothing."""
    return [len(r.spike_times_ms) for r in neurotwin.simulate(cell, inputs)]


def simulate_in_processes(cell, x: np.ndarray, workers: int) -> float:
    """Wall time of ``workers`` independent processes each simulating a share of ``x``: the
    machine's own parallel ceiling, with no dataset machinery."""
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(spike_counts, [cell] * workers, np.array_split(x, workers)))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128, help="simulations for neurotwin's methods")
    ap.add_argument("--n-naive", type=int, default=8, help="simulations for the slow baseline")
    ap.add_argument("--duration-ms", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    n, t_ms, n_naive = args.n, args.duration_ms, min(args.n_naive, args.n)
    print(
        f"{n} simulations of {t_ms} ms per preset ({n_naive} for the naive baseline); "
        f"dataset on {args.workers} workers"
    )
    print(f"{'preset':12s} {'method':10s} {'wall s':>8s} {'sim ms/s':>10s} {'× naive':>8s}")
    for name in ("point_ampa", "cable_nmda"):
        cell = preset(name)
        config = DatasetConfig(
            cell=cell,
            inputs=make_inputs("tutorial"),
            counts={"train": n, "valid": 0, "test": 0},
            duration_ms=t_ms,
            filter=FilterConfig(min_rate_hz=0.0, max_rate_hz=1e9, max_depolarized_fraction=1.0),
        )
        x = np.stack([draw_inputs(config, "train", i, 0) for i in range(n)])
        neurotwin.simulate(cell, x[:1, ..., :10])  # compile/load mechanisms outside the timing

        start = time.perf_counter()
        ref = naive(cell, x[:n_naive])
        t_naive = (time.perf_counter() - start) * n / n_naive  # scaled to n simulations

        start = time.perf_counter()
        res = neurotwin.simulate(cell, x, keep_hr=True)
        t_sim = time.perf_counter() - start
        identical = all(
            np.array_equal(r.soma_v_hr, v.astype(np.float32))
            for r, v in zip(res[:n_naive], ref, strict=True)
        )

        t_data = {}
        for workers in sorted({1, args.workers}):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                make_dataset(config, f"{tmp}/ds", workers=workers)
                t_data[workers] = time.perf_counter() - start

        total = n * t_ms
        t_procs = simulate_in_processes(cell, x, args.workers)
        rows = [("naive", t_naive), ("simulate", t_sim), (f"simulate-{args.workers}p", t_procs)]
        rows += [(f"dataset-{w}w", t) for w, t in t_data.items()]
        for method, wall in rows:
            print(f"{name:12s} {method:10s} {wall:8.2f} {total / wall:10.0f} {t_naive / wall:8.2f}")
        print(
            f"{name:12s} outputs identical to naive: {identical}; dataset on {args.workers} "
            f"workers vs simulate on 1 core: {t_sim / t_data[args.workers]:.2f}×"
        )


if __name__ == "__main__":
    main()
