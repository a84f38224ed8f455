"""Inference cost of a trained twin: wall time and peak memory to predict whole simulations.

:func:`measure_cost` runs one fresh Python process per twin, so that one twin's allocations,
thread pools and TorchScript caches never inflate the next one's numbers. The child

1. fixes torch's intra-op threads (``CostConfig.threads``) and inter-op threads (1);
2. loads the checkpoint and the inputs (``(N, 2, S, T)``, converted to float32);
3. warms up twice on a short slice (lazy library initialisation, TorchScript compilation);
4. measures memory over one full prediction of all ``N`` simulations: on a CPU the increase of
   the peak resident set size over the resident size just before (Linux: the peak is reset by
   ``/proc/self/clear_refs``; elsewhere the increase of ``ru_maxrss``, which can only
   under-count); on CUDA ``torch.cuda.max_memory_allocated`` (weights, inputs of a chunk and
   activations: what torch allocated at its peak);
5. times ``repeats`` more full predictions and reports their median.

A full prediction runs ``Twin.predict`` in float32 under ``torch.inference_mode`` on all
simulations at once on a CPU, in chunks of ``cuda_batch`` on CUDA (each chunk copied to the
device and its outputs back to the host: the time includes the transfers).

The module imports only the standard library at the top: the child loads this file by path,
without importing the ``neurotwin.evaluate`` package (its figures and metrics cost seconds of
start-up per twin).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["CostConfig", "measure_cost"]

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
_MODULE = "_neurotwin_cost_child"
_BOOT = (
    "import importlib.util, sys\n"
    f"spec = importlib.util.spec_from_file_location({_MODULE!r}, sys.argv[1])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    f"sys.modules[{_MODULE!r}] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "mod.child_main(sys.argv[2:])\n"
)
WARMUP_MS = 64  # length of the warm-up slice


@dataclass(frozen=True)
class CostConfig:
    """threads: torch intra-op threads of the child; repeats: timed full predictions (the
    median is reported); device: auto (CUDA when present) | cpu | cuda; cuda_batch:
    simulations per chunk on CUDA (a CPU predicts all at once); timeout_s: per twin."""

    threads: int = 1
    repeats: int = 3
    device: str = "auto"
    cuda_batch: int = 64
    timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("threads", "repeats", "cuda_batch"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"cost.{name} must be an int >= 1, got {v!r}")
        if self.device not in DEVICES:
            raise ValueError(
                f"cost.device must be one of {', '.join(DEVICES)}, got {self.device!r}"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"cost.timeout_s must be > 0, got {self.timeout_s!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_cost(checkpoint: str | Path, inputs: str | Path, config: CostConfig) -> dict[str, Any]:
    """Inference time and peak memory of the twin in ``checkpoint`` on the simulations in the
    ``.npy`` file ``inputs`` (``(N, 2, S, T)`` or ``(N, C, T)``), measured in a fresh process.
    Returns ``inference_s`` (median), ``times_s``, ``peak_mem_MiB``, ``memory_method``,
    ``device``, ``batch_size``, ``threads``, ``num_sims``, ``duration_ms``, ``num_params``."""
    checkpoint, inputs = Path(checkpoint), Path(inputs)
    for p in (checkpoint, inputs):
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist")
    with tempfile.TemporaryDirectory(prefix="neurotwin-cost-") as tmp:
        out = Path(tmp) / "cost.json"
        cmd = [sys.executable, "-c", _BOOT, str(Path(__file__).resolve()), str(checkpoint),
               str(inputs), str(out), json.dumps(config.to_dict())]  # fmt: skip
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=config.timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"measuring {checkpoint} took longer than {config.timeout_s:.0f} s"
            ) from exc
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"measuring {checkpoint} failed (exit {proc.returncode}): {tail[0]}")
        return json.loads(out.read_text())


# -- the child ---------------------------------------------------------------------------------
def child_main(argv: list[str]) -> None:
    """Entry point of the measuring process: ``CHECKPOINT INPUTS OUT CONFIG_JSON``."""
    checkpoint, inputs, out, cfg_json = argv
    cfg = CostConfig(**json.loads(cfg_json))
    import torch

    torch.set_num_threads(cfg.threads)
    with contextlib.suppress(RuntimeError):  # already set by an earlier parallel region
        torch.set_num_interop_threads(1)
    import numpy as np

    from neurotwin.models import from_spec

    device_name = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else cfg.device
    if device_name == "auto":
        device_name = "cpu"
    if device_name == "cuda" and not torch.cuda.is_available():
        raise ValueError("cost.device is cuda but CUDA is not available")
    device = torch.device(device_name)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = from_spec(state["model_spec"])
    model.load_state_dict(state["state_dict"])
    model = model.to(device).eval()
    x = torch.from_numpy(np.load(inputs).astype(np.float32))  # (N, 2, S, T) or (N, C, T)
    if device.type == "cuda":
        x = x.pin_memory()
    n, t_ms = int(x.shape[0]), int(x.shape[-1])
    batch = n if device.type == "cpu" else min(cfg.cuda_batch, n)

    warm = x[: min(n, batch), ..., : min(WARMUP_MS, t_ms)]
    for _ in range(2):
        _predict_all(model, warm, batch, device)
    result: dict[str, Any] = {
        "device": device_name,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": cfg.threads,
        "batch_size": batch,
        "num_sims": n,
        "duration_ms": t_ms,
        "num_params": int(model.num_params),
        "dtype": "float32",
    }
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        _predict_all(model, x, batch, device)
        result["peak_mem_MiB"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["memory_method"] = "cuda max_memory_allocated (weights + chunk + activations)"
    else:
        reset = _reset_peak_rss()
        before_kib = _rss_kib() if reset else _maxrss_kib()
        _predict_all(model, x, batch, device)
        result["peak_mem_MiB"] = max(0, _maxrss_kib() - before_kib) / 1024
        result["memory_method"] = (
            "peak RSS increase; peak reset by /proc/self/clear_refs"
            if reset
            else "ru_maxrss increase, a lower bound"
        )
    times = []
    for _ in range(cfg.repeats):
        start = time.perf_counter()
        _predict_all(model, x, batch, device)
        times.append(time.perf_counter() - start)
    result["times_s"] = times
    result["inference_s"] = statistics.median(times)
    tmp = Path(out).with_name(Path(out).name + ".partial")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, out)


def _predict_all(model: Any, x: Any, batch: int, device: Any) -> None:
    import torch

    with torch.inference_mode():
        for i in range(0, int(x.shape[0]), batch):
            out = model.predict(x[i : i + batch].to(device, non_blocking=True))
            _ = {h: v.cpu() for h, v in out.items()}  # the outputs land on the host
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _status_kib(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _rss_kib() -> int:
    v = _status_kib("VmRSS")
    return v if v is not None else _maxrss_kib()


def _maxrss_kib() -> int:
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r  # bytes on macOS, KiB on Linux


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS to its current RSS (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    hwm, rss = _status_kib("VmHWM"), _status_kib("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1024
