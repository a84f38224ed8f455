"""What every study shares: scales, datasets made or reused, runs trained or resumed, tables.

A study at a scale reads its sizes from ``studies.yaml`` (or a user YAML of the same layout),
makes its datasets under ``data_root/<scale>/<name>`` (reusing any that exist with the same
config, resuming any that were interrupted), trains every twin under
``runs_root/<study>/<scale>/<name>`` (a finished run is not retrained, an interrupted one
resumes), evaluates it once, and writes its table, figures and report under
``results/<study>/<scale>``. Rerunning a study therefore only does the work that is missing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from neurotwin.train.checkpoint import atomic_write_text, write_json

log = logging.getLogger(__name__)

SCALES = ("smoke", "demo", "full")


class Bar(Protocol):
    def update(self, n: int = 1) -> Any: ...


BarFactory = Callable[[str, int | None], contextlib.AbstractContextManager[Bar]]


class _NoBar:
    def update(self, n: int = 1) -> None:
        return None


@contextlib.contextmanager
def no_bar(_desc: str, _total: int | None) -> Iterator[Bar]:
    yield _NoBar()


@dataclass(frozen=True)
class Scale:
    """One study at one scale: dataset sizes, training and evaluation settings, and the study's
    own entries (``extra``, e.g. the TCN configs of the complexity study)."""

    study: str
    name: str
    data: dict[str, int]
    train: dict[str, Any]
    eval: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {s: int(self.data[s]) for s in ("train", "valid", "test")}

    @property
    def duration_ms(self) -> int:
        return int(self.data["duration_ms"])

    def train_overrides(self, key: str) -> dict[str, Any]:
        """TrainConfig overrides for the twin ``key``: a value given as a mapping is looked up
        by ``key`` (``steps: {A: 600, D: 120}``), falling back to its ``default`` entry."""
        out: dict[str, Any] = {}
        for name, value in self.train.items():
            if isinstance(value, dict) and name not in ("loss_weights", "loss_weights_end"):
                if key not in value and "default" not in value:
                    raise ValueError(f"{self.study}/{self.name}: train.{name} has no entry {key!r}")
                value = value.get(key, value.get("default"))
            out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "scale": self.name,
            "data": self.data,
            "train": self.train,
            "eval": self.eval,
            **self.extra,
        }


def load_scale(study: str, scale: str, config: str | Path | None = None) -> Scale:
    """The settings of ``study`` at ``scale``, from ``config`` (a YAML file with the layout of
    ``studies.yaml``, or only the study's block) or from the built-in ``studies.yaml``."""
    if config is None:
        text = resources.files("neurotwin.experiments").joinpath("studies.yaml").read_text()
        source = "studies.yaml"
    else:
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"study config {path} does not exist")
        text, source = path.read_text(), str(path)
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: expected a mapping of studies or scales")
    block = doc.get(study, doc if scale in doc else None)
    if not isinstance(block, dict):
        raise ValueError(f"{source} has no settings for study {study!r}")
    if scale not in block:
        raise ValueError(
            f"{source}: study {study!r} has no scale {scale!r}; scales: {', '.join(block)}"
        )
    entry = dict(block[scale])
    data = entry.pop("data", None)
    if not isinstance(data, dict) or any(
        k not in data for k in ("train", "valid", "test", "duration_ms")
    ):
        raise ValueError(f"{source}: {study}.{scale}.data needs train, valid, test, duration_ms")
    for k in ("train", "valid", "test", "duration_ms"):
        if not isinstance(data[k], int) or data[k] < 1:
            raise ValueError(f"{source}: {study}.{scale}.data.{k} must be an int >= 1")
    train = dict(entry.pop("train", {}) or {})
    ev = dict(entry.pop("eval", {}) or {})
    return Scale(study, scale, dict(data), train, ev, entry)


# -- datasets --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    """A dataset a study needs: a cell preset with field overrides (and input overrides)."""

    name: str
    cell: str
    cell_sets: dict[str, Any] = field(default_factory=dict)
    input_sets: dict[str, Any] = field(default_factory=dict)
    label: str = ""


def ensure_dataset(
    spec: DataSpec,
    scale: Scale,
    data_root: Path,
    *,
    seed: int = 0,
    workers: int | None = None,
    bar: BarFactory = no_bar,
) -> Path:
    """Make (or resume, or reuse) the dataset of ``spec`` at ``scale``; returns its path."""
    from neurotwin.data.config import build_dataset_config
    from neurotwin.data.generate import make_dataset

    config = build_dataset_config(
        spec.cell,
        spec.cell_sets,
        None,
        spec.input_sets,
        scale.counts(),
        scale.duration_ms,
        seed,
        {},
    )
    path = Path(data_root) / scale.name / spec.name
    total = sum(config.counts.values())
    with bar(f"data {spec.name}", total) as b:
        make_dataset(config, path, workers=workers, progress=lambda n, _t: b.update(n))
    return path


# -- runs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """A twin a study trains: registry name, preset, config overrides, a key for the scale's
    per-twin settings (``steps: {A: 600}``) and a label for tables."""

    name: str
    model: str
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    key: str = "default"
    train_sets: dict[str, Any] = field(default_factory=dict)


def train_and_evaluate(
    run: RunSpec,
    data: Path,
    run_dir: Path,
    scale: Scale,
    *,
    split: str = "test",
    bar: BarFactory = no_bar,
    figures: bool = True,
) -> dict[str, Any]:
    """Train ``run`` on ``data`` into ``run_dir`` (resuming; a finished run is kept) and score its
    best checkpoint on ``split`` (once: the metrics are cached in the run folder). Returns
    ``{"summary": training summary, "metrics": evaluation result}``."""
    from neurotwin.evaluate import EvalConfig, evaluate
    from neurotwin.train import train

    summary_path = run_dir / "summary.json"
    summary = _read_json(summary_path)
    overrides = {**scale.train_overrides(run.key), **run.train_sets}
    if summary is not None:
        _check_same_run(run_dir, run, overrides)
    if summary is None or summary.get("stopped_by") == "interrupted":
        total = overrides.get("steps")
        with bar(f"train {run_dir.parent.name}/{run_dir.name}", total) as b:
            last = [0]

            def progress(event: Any) -> None:
                b.update(event.step - last[0])
                last[0] = event.step

            summary = train(
                data,
                run.model,
                run.preset,
                run_dir,
                run.overrides,
                overrides,
                progress=progress,
            ).to_dict()
    tag = split
    metrics_path = run_dir / "evaluate" / tag / "metrics.json"
    metrics = _read_json(metrics_path)
    if metrics is None:
        cfg = EvalConfig(**_tuples(scale.eval))
        metrics = evaluate(run_dir, split, config=cfg, figures=figures)
    return {"summary": summary, "metrics": metrics}


def _check_same_run(run_dir: Path, run: RunSpec, overrides: dict[str, Any]) -> None:
    """A finished run is reused only if it was made with the settings asked for now."""
    from neurotwin.train import read_run_config

    stored = read_run_config(run_dir)
    differ = [
        f"train.{k}: {stored['train'].get(k)!r} there, {v!r} now"
        for k, v in overrides.items()
        if _tuples({k: stored["train"].get(k)}) != _tuples({k: v})
    ]
    model = stored["model"]
    if (model.get("name"), model.get("preset")) != (run.model, run.preset):
        differ.append(f"model {model.get('name')}/{model.get('preset')} there")
    if _tuples(dict(model.get("overrides") or {})) != _tuples(dict(run.overrides)):
        differ.append(f"model overrides {model.get('overrides')} there, {run.overrides} now")
    if differ:
        raise ValueError(
            f"{run_dir} holds a finished run made with other settings ({'; '.join(differ)}): "
            "delete it or choose another --runs-root"
        )


def headline(result: dict[str, Any], protocol: str = "tutorial") -> dict[str, Any]:
    """The numbers a study table shows for one trained and evaluated twin."""
    m = result["metrics"]
    s = result["summary"]
    p = m["protocols"].get(protocol, {})
    spike = p.get("spike") or {}
    soma = p.get("soma") or {}
    beniaguev = m["protocols"].get("beniaguev", {})
    return {
        "params": int(m["model"]["num_params"]),
        "receptive_field_ms": m["model"]["receptive_field_ms"],
        "auc": spike.get("auc"),
        "tpr_at_fpr_0.002": spike.get("tpr_at_fpr_0.002"),
        "tpr_at_fpr_0.001": spike.get("tpr_at_fpr_0.001"),
        "soma_ev": soma.get("explained_variance"),
        "soma_rmse_mV": soma.get("rmse"),
        "auc_beniaguev": (beniaguev.get("spike") or {}).get("auc"),
        "steps": int(s["steps"]),
        "train_min": float(s["elapsed_s"]) / 60.0,
    }


# -- output helpers --------------------------------------------------------------------------
def write_table(rows: Sequence[dict[str, Any]], path_csv: Path) -> str:
    """Write ``rows`` as CSV (atomically) and return them as a markdown table."""
    if not rows:
        raise ValueError("no rows to write")
    columns = list(rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows({c: _cell(r.get(c), csv=True) for c in columns} for r in rows)
    path_csv.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path_csv, buf.getvalue())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_report(path: Path, text: str, scale: Scale, command: str) -> Path:
    """Write a study's REPORT.md (with the command and settings that made it) and
    ``config.json`` beside it."""
    settings = json.dumps(scale.to_dict(), indent=1)
    full = (
        text.rstrip()
        + "\n\n## How this was made\n\n"
        + f"```\n{command}\n```\n\nSettings (`{scale.study}` at scale `{scale.name}`):\n\n"
        + f"```json\n{settings}\n```\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, full)
    write_json(path.parent / "config.json", scale.to_dict())
    return path


def _cell(v: Any, csv: bool = False) -> str:
    if v is None:
        return "" if csv else "–"
    if isinstance(v, float):
        if csv:
            return f"{v:.6g}"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int) and not csv:
        return f"{v:,d}"
    return str(v)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        out = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return out if isinstance(out, dict) else None


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def minutes(self) -> float:
        return (time.perf_counter() - self.start) / 60.0
