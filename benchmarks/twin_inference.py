"""Twin inference speed vs NEURON, measured side by side in one run (a benchmark, not a test).

For the cable_nmda cell, ``--n`` input arrays of ``--duration-ms`` ms (the tutorial generator)
are simulated by NEURON (``neurotwin.simulate(..., backend="neuron")``, all cells in one model)
on one core and, split in two, by two warmed-up worker processes (NEURON on both cores); for
reference also by the project's batched numba kernel (``backend="batched"``, identical outputs,
all cores). The same inputs run through one twin of each family (untrained: speed does not
depend on the weights) at batch 1 and at batch ``--batch``, under ``torch.inference_mode`` after
a warm-up pass. Twins with a compiled CPU path (the ELM's numba loop, the linear filter's
event-driven kernel) are timed on it and on their PyTorch path (``impl="torch"``). The figure
is simulated milliseconds per wall-clock second; the ratio compares like with like: twins on 1
thread against NEURON on one core, twins on 2 threads against NEURON on both cores. Each time is
the best of ``--repeats``.

A second table measures the ELM time loop: ms per 1000 steps at batch 16 for a naive eager
step loop (the full MLP per step), the twin's own torch path (traces and input projection for
all t at once, then the memory loop) in eager Python and with the TorchScript loops, and the
compiled numba loop.

    python benchmarks/twin_inference.py [--n 64] [--batch 64] [--duration-ms 2048] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import torch
import torch.nn.functional as F

import neurotwin
from neurotwin import models
from neurotwin.cells import preset
from neurotwin.data.config import DatasetConfig, FilterConfig
from neurotwin.data.generate import draw_inputs
from neurotwin.models.elm import ELM, memory_scan, scripted, trace_scan
from neurotwin.sim.inputs import make_inputs

TWINS = [
    ("tcn", "B"),
    ("resnet_tcn", "B"),
    ("fcn", "small"),
    ("linear", "short"),
    ("linear", "medium"),
    ("elm", "small"),
    ("elm", "medium"),
    ("elm_branch", "small"),
    ("gru", "small"),
    ("lstm", "small"),
    ("rnn", "small"),
    ("transformer", "tiny"),
]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def inputs(cell, n: int, duration_ms: int) -> np.ndarray:
    config = DatasetConfig(
        cell=cell,
        inputs=make_inputs("tutorial"),
        counts={"train": n, "valid": 0, "test": 0},
        duration_ms=duration_ms,
        filter=FilterConfig(min_rate_hz=0.0, max_rate_hz=1e9, max_depolarized_fraction=1.0),
    )
    return np.stack([draw_inputs(config, "train", i, 0) for i in range(n)])  # (n, 2, S, T)


def naive_elm_loop(model: ELM, x: torch.Tensor) -> torch.Tensor:
    """The textbook loop: traces, concatenation and the whole MLP at every step."""
    kappa_s = torch.exp(-torch.exp(-model.log_tau_syn))
    kappa_m = torch.exp(-1.0 / model.tau_mem_ms)
    lam = model.config.memory_lambda
    s = x.new_zeros(x.shape[0], x.shape[1])
    m = x.new_zeros(x.shape[0], model.config.num_memory)
    out = []
    for t in range(x.shape[-1]):
        s = kappa_s * s + x[..., t]
        hidden = F.relu(model.mlp_in(torch.cat([s, kappa_m * m], dim=-1)))
        m = kappa_m * m + lam * (1 - kappa_m) * torch.tanh(model.mlp_out(hidden))
        out.append(m)
    return torch.stack(out, dim=-1)


def precomputed_elm_loop(model: ELM, x: torch.Tensor, fast: bool) -> torch.Tensor:
    """The twin's own path: traces, one input matmul for all t, then the memory loop, either
    TorchScript-compiled (``fast``) or the same functions in eager Python."""
    kappa_s, kappa_m, gain, w_s, w_m, b_in = model._constants()
    traces, memory = (
        (scripted(trace_scan), scripted(memory_scan)) if fast else (trace_scan, memory_scan)
    )
    xs = x.permute(2, 0, 1)  # (T, B, C)
    s = traces(xs, kappa_s, xs.new_zeros(x.shape[0], x.shape[1]))
    m0 = xs.new_zeros(x.shape[0], model.config.num_memory)
    out = model.mlp_out
    return memory(F.linear(s, w_s, b_in), m0, kappa_m, gain, w_m, out.weight, out.bias)


def elm_loop_table(repeats: int, threads: int) -> None:
    print(f"\nELM time loop, batch 16, 1000 steps, {threads} thread(s): ms (best of {repeats})")
    print(
        f"{'preset':8s} {'naive eager':>12s} {'eager':>8s} {'script':>8s} {'numba':>8s} "
        f"{'numba vs naive':>15s} {'vs script':>10s}"
    )
    x = torch.rand(16, 16, 1000) * 0.2
    for preset_name in ("small", "medium", "large"):
        model = models.build("elm", preset_name).eval()
        with torch.inference_mode():
            for _ in range(2):  # compile and profile the scripted loops
                precomputed_elm_loop(model, x, fast=True)
            t_naive = best_time(lambda m=model: naive_elm_loop(m, x), repeats)
            t_eager = best_time(lambda m=model: precomputed_elm_loop(m, x, False), repeats)
            t_script = best_time(lambda m=model: precomputed_elm_loop(m, x, True), repeats)
            model.impl = "compiled"
            model(x)  # JIT-compile or load the kernel
            t_numba = best_time(lambda m=model: m(x), repeats)
        print(
            f"{preset_name:8s} {t_naive * 1e3:12.1f} {t_eager * 1e3:8.1f} {t_script * 1e3:8.1f} "
            f"{t_numba * 1e3:8.1f} {t_naive / t_numba:14.1f}× {t_script / t_numba:9.1f}×"
        )


def twin_rates(model: models.Twin, x: torch.Tensor, t_ms: int, repeats: int) -> float:
    """Simulated ms per wall second of ``model`` on inputs ``x`` (B, 2, S, T)."""
    with torch.inference_mode():
        model(x[..., :256])  # warm-up (TorchScript profiling, allocator)
        model(x)
        wall = best_time(lambda: model(x), repeats)
    return x.shape[0] * t_ms / wall


def neuron_counts(cell, x: np.ndarray) -> int:
    """A worker process's share: NEURON simulates ``x``; returns little, so pickling is free."""
    return sum(len(r.spike_times_ms) for r in neurotwin.simulate(cell, x, backend="neuron"))


def neuron_all_cores(cell, x: np.ndarray, workers: int) -> float:
    """Wall seconds for NEURON on ``workers`` processes, already started and warmed up (the
    mechanisms loaded), each simulating its share of ``x`` as one model."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(neuron_counts, [cell] * workers, [x[:1, ..., :10]] * workers))
        parts = np.array_split(x, workers)
        start = time.perf_counter()
        list(pool.map(neuron_counts, [cell] * workers, parts))
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="simulations NEURON runs for the batch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--duration-ms", type=int, default=2048)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    t_ms, batch, threads = args.duration_ms, args.batch, args.threads
    cell = preset("cable_nmda")
    x_np = inputs(cell, max(batch, args.n), t_ms)

    def simulator_rates(backend: str) -> dict[int, float]:
        def run(n: int) -> None:
            neurotwin.simulate(cell, x_np[:n], backend=backend)

        run(1)  # NEURON: compile/load the mechanisms; batched: JIT-compile the kernel
        return {
            1: t_ms / best_time(lambda: run(1), args.repeats),
            batch: args.n * t_ms / best_time(lambda: run(args.n), 1),
        }

    neuron = {1: simulator_rates("neuron")}  # NEURON rate by cores used, then by batch
    for n in threads:
        if n > 1:
            wall = neuron_all_cores(cell, x_np[: args.n], n)
            neuron[n] = {1: neuron[1][1], batch: args.n * t_ms / wall}  # batch 1: one core
    kernel = simulator_rates("batched")
    print(
        f"cable_nmda, {t_ms} ms per simulation. Simulated ms per wall second, and × NEURON at "
        f"the same batch size on as many cores as the twin has threads ({threads})"
    )
    head = "".join(f" {f'{n} thr ms/s':>13s} {'×':>7s}" for n in threads)
    print(f"{'model':12s} {'preset':7s} {'params':>8s} {'path':>9s} {'batch':>6s}{head}")
    for b in (1, batch):
        cells = "".join(f" {neuron[n][b]:13,.0f} {1:7.2f}" for n in threads)
        print(f"{'NEURON':12s} {'':7s} {'':8s} {'':>9s} {b:6d}{cells}")
    for b in (1, batch):
        rate = kernel[b]
        print(
            f"{'batched sim':12s} {'numba':7s} {'':8s} {'all cores':>9s} {b:6d} {rate:13,.0f} "
            f"{rate / neuron[max(threads)][b]:7.2f}"
        )
    x = torch.from_numpy(x_np).float()
    for name, preset_name in TWINS:
        model = models.build(name, preset_name, **models.for_cell(cell)).eval()
        for impl in ("compiled", "torch") if model.has_compiled else ("torch",):
            model.impl = impl
            for b in (1, batch):
                cells = ""
                for n in threads:
                    torch.set_num_threads(n)
                    rate = twin_rates(model, x[:b], t_ms, args.repeats)
                    cells += f" {rate:13,.0f} {rate / neuron[n][b]:7.2f}"
                row = f"{name:12s} {preset_name:7s} {model.num_params:8,d} {impl:>9s} {b:6d}"
                print(row + cells, flush=True)
    torch.set_num_threads(threads[0])
    elm_loop_table(args.repeats, threads[0])


if __name__ == "__main__":
    main()
