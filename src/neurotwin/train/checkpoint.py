"""Run folders and checkpoints: atomic writes, resolved configs, resume checks.

A run folder holds::

    config.yaml            resolved config: data (path, config hash), model (spec), train, seed,
                           versions
    checkpoints/last.pt    latest state (written at every validation, at the end, on Ctrl-C)
    checkpoints/best.pt    state at the best validation spike BCE
    metrics.csv            one row per logged step
    summary.json           the run summary of the latest session
    tb/                    TensorBoard events

A checkpoint is a dict of tensors and plain Python values (loadable with
``torch.load(weights_only=True)``): ``format``, ``model_spec``, ``state_dict``, ``optimizer``,
``scaler``, ``scheduler`` (step, progress, elapsed_s, lr), ``step``, ``elapsed_s``, ``best``
(metric name, value, step), ``rng`` (torch CPU and CUDA generator states), ``train_config``.
"""

from __future__ import annotations

import json
import os
import platform
import uuid
from pathlib import Path
from typing import Any

import torch
import yaml

CHECKPOINT_FORMAT = "neurotwin-checkpoint"
CHECKPOINT_VERSION = 1
CONFIG_NAME = "config.yaml"
# resolved-config entries that may change between sessions of one run
RESUME_FREE = ("versions", "data.path", "train.device", "model.num_params")


def temp_path(path: Path) -> Path:
    """A unique temporary name next to ``path`` (same folder, so a rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``."""
    tmp = temp_path(path)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, tuple | set):
        return list(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


def plain(obj: Any) -> Any:
    """``obj`` as JSON/YAML-ready builtins (tuples become lists)."""
    return json.loads(json.dumps(obj, default=_json_default))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save atomically (temporary name, then rename)."""
    tmp = temp_path(path)
    try:
        with open(tmp, "xb") as fh:
            torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one message
        raise ValueError(f"{path} is not a readable checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a neurotwin checkpoint")
    return state


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("neurotwin", "torch", "numpy", "scikit-learn", "zarr"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {CONFIG_NAME})")
    with open(path) as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict) or "model" not in cfg or "train" not in cfg:
        raise ValueError(f"{path} is not a neurotwin run config")
    return cfg


def write_run_config(run_dir: Path, config: dict[str, Any]) -> None:
    text = yaml.safe_dump(plain(config), sort_keys=False, default_flow_style=None)
    atomic_write_text(run_dir / CONFIG_NAME, text)


def config_differences(stored: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """Entries that differ between two resolved configs, as ``key: stored X, requested Y``,
    ignoring those allowed to change between sessions (:data:`RESUME_FREE`)."""
    out: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        key = prefix.rstrip(".")
        if any(key == f or key.startswith(f + ".") for f in RESUME_FREE):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k), b.get(k), f"{prefix}{k}.")
        elif a != b:
            out.append(f"{key}: stored {a!r}, requested {b!r}")

    walk(plain(stored), plain(requested), "")
    return out
