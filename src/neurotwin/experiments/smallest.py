"""The smallest-network study: which is the smallest twin that beats TCN config D?

On the cable neuron (``cable_nmda``, the complexity study's dataset at the same scale) the
biggest TCN of the complexity study, config D, sets the test AUC to beat. The study trains the
candidates of its scale (TCN, ELM, LSTM/GRU and Transformer sizes, listed in ``studies.yaml``),
scores each on the test split with the same protocol as D, and measures three notions of size:

* ``params`` — trainable parameters;
* ``inference_s`` — wall time to predict all test simulations whole (median of repeats, fixed
  torch threads; one batch on a CPU, chunks on CUDA; see :mod:`neurotwin.evaluate.cost`);
* ``peak_mem_MiB`` — peak memory of that prediction (peak RSS increase on a CPU, CUDA max
  allocated on a GPU), each twin measured in a fresh process.

D's run is the complexity study's (``runs_root/complexity/<scale>/cable_nmda/tcn_D``): reused
when it exists, otherwise trained there with the complexity study's settings, so both studies
share it. Outputs: ``table.csv``/``table.md``, one Pareto plot per notion and ``REPORT.md``
naming the smallest winner per notion and whether the three agree.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurotwin.experiments.common import (
    BarFactory,
    DataSpec,
    RunSpec,
    Scale,
    ensure_dataset,
    headline,
    load_scale,
    no_bar,
    train_and_evaluate,
    write_report,
    write_table,
)

__all__ = ["NOTIONS", "Candidate", "agreement", "parse_candidates", "run_smallest", "winners"]

log = logging.getLogger(__name__)

NEURON = DataSpec("cable_nmda", "cable_nmda", label="cable neuron (NMDA, 2048 µm × 1 µm)")
REFERENCE = "tcn_D"
# column, words, unit
NOTIONS: tuple[tuple[str, str, str], ...] = (
    ("params", "parameter count", "parameters"),
    ("inference_s", "inference time", "s"),
    ("peak_mem_MiB", "peak memory", "MiB"),
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Candidate:
    """A twin to try: a registry ``family``, an optional ``preset`` and config ``overrides``,
    and TrainConfig overrides of its own (``train``) on top of the scale's."""

    name: str
    family: str
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from neurotwin import models

        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"candidate name must be letters, digits, _ . -, got {self.name!r}")
        if self.name == REFERENCE:
            raise ValueError(f"candidate name {REFERENCE!r} is reserved for the reference")
        entry = models.get(self.family)  # ValueError naming the valid twins
        if self.preset is not None and self.preset not in entry.presets:
            raise ValueError(
                f"candidate {self.name}: unknown preset {self.preset!r} for {self.family}; "
                f"valid presets: {', '.join(entry.presets)}"
            )
        valid = [f.name for f in dataclasses.fields(entry.config_class)]
        unknown = sorted(set(self.overrides) - set(valid))
        if unknown:
            raise ValueError(
                f"candidate {self.name}: unknown {entry.config_class.__name__} field(s) "
                f"{', '.join(unknown)}; valid fields: {', '.join(valid)}"
            )

    def run_spec(self) -> RunSpec:
        return RunSpec(self.name, self.family, self.preset, dict(self.overrides), self.name,
                       dict(self.train))  # fmt: skip


def parse_candidates(entries: Any, where: str = "smallest") -> list[Candidate]:
    """The ``candidates`` list of a scale → validated candidates (unique names)."""
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}.candidates must be a non-empty list of mappings")
    out: list[Candidate] = []
    keys = {f.name for f in dataclasses.fields(Candidate)}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"{where}.candidates[{i}] must be a mapping, got {e!r}")
        unknown = sorted(set(e) - keys)
        if unknown:
            raise ValueError(
                f"{where}.candidates[{i}]: unknown key(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(keys))}"
            )
        if "family" not in e:
            raise ValueError(f"{where}.candidates[{i}] needs a family")
        name = e.get("name") or f"{e['family']}_{e.get('preset') or i}"
        for k in ("overrides", "train"):
            if not isinstance(e.get(k, {}), dict):
                raise ValueError(f"{where}.candidates[{i}].{k} must be a mapping")
        out.append(Candidate(**{**e, "name": str(name)}))
    names = [c.name for c in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{where}.candidates: duplicate name(s) {', '.join(dupes)}")
    return out


def reference_scale(scale: str, config: str | Path | None = None) -> Scale:
    """The complexity study's settings at ``scale`` (from ``config`` when it has a
    ``complexity`` block, else the built-in ones): D's training and the shared dataset."""
    if config is not None:
        import yaml

        doc = yaml.safe_load(Path(config).read_text()) or {}
        if isinstance(doc, dict) and "complexity" in doc:
            return load_scale("complexity", scale, config)
    return load_scale("complexity", scale)


def run_smallest(
    scale: str = "demo",
    *,
    config: str | Path | None = None,
    results_root: str | Path = "results",
    data_root: str | Path = "data/studies",
    runs_root: str | Path = "runs/studies",
    workers: int | None = None,
    seed: int = 0,
    bar: BarFactory = no_bar,
    command: str | None = None,
    threads: int | None = None,
) -> Path:
    """Run (or finish) the smallest-network study at ``scale``; returns its REPORT.md path.
    ``threads`` overrides the scale's ``cost.threads`` (torch threads of the timing)."""
    from neurotwin.evaluate.cost import CostConfig

    sc = load_scale("smallest", scale, config)
    ref = reference_scale(scale, config)
    if sc.data != ref.data:
        raise ValueError(
            f"smallest.{scale}.data {sc.data} must equal complexity.{scale}.data {ref.data}: "
            "both studies share the cable dataset and TCN D"
        )
    if sc.eval and sc.eval != ref.eval:
        raise ValueError(
            f"smallest.{scale}.eval must be omitted or equal complexity.{scale}.eval "
            f"{ref.eval}: the candidates are scored like D"
        )
    sc = dataclasses.replace(sc, eval=dict(ref.eval))
    extra = dict(sc.extra)
    candidates = parse_candidates(extra.get("candidates"), f"smallest.{scale}")
    cost_sets = dict(extra.get("cost") or {})
    if threads is not None:
        cost_sets["threads"] = threads
    cost_cfg = CostConfig(**cost_sets)
    margin = float(extra.get("margin", 0.0))
    if margin < 0:
        raise ValueError(f"smallest.{scale}.margin must be >= 0, got {margin}")
    sc = dataclasses.replace(sc, extra={**extra, "cost": cost_cfg.to_dict(), "margin": margin})

    out = Path(results_root) / "smallest" / scale
    data = ensure_dataset(NEURON, ref, Path(data_root), seed=seed, workers=workers, bar=bar)
    runs: list[tuple[str, str, Path, dict[str, Any]]] = []
    d_dir = Path(runs_root) / "complexity" / scale / NEURON.name / REFERENCE
    d_res = train_and_evaluate(RunSpec(REFERENCE, "tcn", "D", key="D"), data, d_dir, ref, bar=bar)
    runs.append((REFERENCE, "tcn", d_dir, d_res))
    for c in candidates:
        run_dir = Path(runs_root) / "smallest" / scale / NEURON.name / c.name
        res = train_and_evaluate(c.run_spec(), data, run_dir, sc, bar=bar, figures=False)
        runs.append((c.name, c.family, run_dir, res))
    costs = _costs(runs, data, out / "cost", cost_cfg, bar)

    auc_d = headline(d_res)["auc"]
    rows: list[dict[str, Any]] = []
    for (name, family, _, res), cost in zip(runs, costs, strict=True):
        h = headline(res)
        rows.append({
            "name": name, "family": family, "params": h["params"],
            "inference_s": cost["inference_s"], "peak_mem_MiB": cost["peak_mem_MiB"],
            "auc": h["auc"], "beats_D": None if name == REFERENCE else _beats(h["auc"], auc_d,
                                                                             margin),
            "receptive_field_ms": h["receptive_field_ms"], "steps": h["steps"],
            "train_min": h["train_min"],
        })  # fmt: skip
    shown = [{**r, "beats_D": _yes_no(r["beats_D"], r["name"])} for r in rows]
    table = write_table(shown, out / "table.csv")
    from neurotwin.train.checkpoint import atomic_write_text

    atomic_write_text(out / "table.md", table + "\n")
    figs = _plots(rows, auc_d, out)
    text = _report(rows, table, figs, out, sc, auc_d, costs[0], margin)
    command = command or f"neurotwin study smallest --scale {scale}"
    return write_report(out / "REPORT.md", text, sc, command)


def _beats(auc: float | None, auc_d: float | None, margin: float) -> bool | None:
    if auc is None or auc_d is None or not math.isfinite(auc) or not math.isfinite(auc_d):
        return None
    return bool(auc > auc_d + margin)


def _yes_no(v: bool | None, name: str) -> str:
    if name == REFERENCE:
        return "reference"
    return "–" if v is None else "yes" if v else "no"


# -- cost --------------------------------------------------------------------------------------
def _costs(
    runs: Sequence[tuple[str, str, Path, dict[str, Any]]],
    data: Path,
    cache: Path,
    cfg: Any,
    bar: BarFactory,
) -> list[dict[str, Any]]:
    """Inference cost of every run, cached in ``cache/<name>.json`` (measured again when the
    checkpoint, the settings or the machine changed)."""
    import platform

    from neurotwin.evaluate.cost import measure_cost
    from neurotwin.train.checkpoint import write_json

    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="neurotwin-smallest-") as tmp:
        inputs: Path | None = None
        with bar("cost", len(runs)) as b:
            for name, _, run_dir, _ in runs:
                ckpt = run_dir / "checkpoints" / "best.pt"
                st = ckpt.stat()
                key = {"checkpoint": str(ckpt.resolve()), "mtime_ns": st.st_mtime_ns,
                       "size": st.st_size, "data": str(Path(data).resolve()),
                       "host": platform.node(), **cfg.to_dict()}  # fmt: skip
                path = cache / f"{name}.json"
                cached = _read(path)
                if cached is not None and cached.get("key") == key:
                    out.append(cached["result"])
                    b.update(1)
                    continue
                if inputs is None:
                    inputs = _test_inputs(data, Path(tmp) / "test_inputs.npy")
                log.info("measuring the inference cost of %s", name)
                result = measure_cost(ckpt, inputs, cfg)
                write_json(path, {"key": key, "result": result})
                out.append(result)
                b.update(1)
    return out


def _test_inputs(data: Path, path: Path) -> Path:
    """All finished test simulations of ``data``, whole, as one ``(N, 2, S, T)`` float16 file."""
    import numpy as np

    from neurotwin.data.store import open_dataset
    from neurotwin.data.windows import FixedWindows

    store = open_dataset(data)
    w = FixedWindows(store, "test", window_ms=int(store.config.duration_ms), starts=0, targets=())
    x = np.stack([w[i][0].numpy() for i in range(len(w))]).astype(np.float16)
    np.save(path, x)
    return path


def _read(path: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return d if isinstance(d, dict) else None


# -- reading the table -------------------------------------------------------------------------
def winners(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """For each notion, the smallest row that beats D (``beats_D`` true), or None. Ties go to
    the higher AUC, then to the name."""
    out: dict[str, dict[str, Any] | None] = {}
    for col, _, _ in NOTIONS:
        ok = [r for r in rows if r.get("beats_D") and r.get(col) is not None]
        out[col] = min(ok, key=lambda r: (r[col], -(r["auc"] or 0.0), r["name"])) if ok else None
    return out


def agreement(win: dict[str, dict[str, Any] | None]) -> str:
    """One sentence: do the three notions name the same smallest winner?"""
    names = {col: (r["name"] if r else None) for col, r in win.items()}
    words = {col: w for col, w, _ in NOTIONS}
    if all(n is None for n in names.values()):
        return (
            "No candidate beats D at this scale, so none of the three notions has a winner "
            "to agree on."
        )
    if len(set(names.values())) == 1:
        n = next(iter(names.values()))
        return (
            f"The three notions agree: **{n}** is the smallest twin that beats D by parameter "
            "count, by inference time and by peak memory."
        )
    parts = ", ".join(f"by {words[c]} **{n or 'none'}**" for c, n in names.items())
    return f"The three notions disagree: {parts}."


def answer_lines(rows: Sequence[dict[str, Any]], auc_d: float | None) -> list[str]:
    """The report's answers: the smallest winner per notion and the agreement sentence."""
    win = winners(rows)
    lines = []
    for col, words, unit in NOTIONS:
        r = win[col]
        if r is None:
            lines.append(f"- By **{words}**: no candidate beats D.")
            continue
        lines.append(
            f"- By **{words}**: **{r['name']}** ({r['family']}, {_fmt(r[col], unit)}; AUC "
            f"{r['auc']:.4f} vs D's {auc_d:.4f})."
        )
    lines.append(f"- {agreement(win)}")
    return lines


def _fmt(v: float, unit: str) -> str:
    if unit == "parameters":
        return f"{int(v):,d} parameters"
    if unit == "s":
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"
    return f"{v:.2f} {unit}"


# -- figures and report ------------------------------------------------------------------------
def _plots(rows: list[dict[str, Any]], auc_d: float | None, out: Path) -> list[Path]:
    from neurotwin.plots.studies import plot_auc_vs_size
    from neurotwin.plots.weights import save

    figs = []
    for col, words, unit in NOTIONS:
        ok = [r for r in rows if r[col] is not None]
        ax = plot_auc_vs_size(ok, col, target=auc_d, size_label=f"{words} ({unit})")
        if any(r[col] <= 0 for r in ok):  # a peak-RSS increase below one page is 0
            ax.set_xscale("symlog", linthresh=0.1)
        ax.set_title(f"test AUC vs {words} (dashed: TCN D)", fontsize=9)
        figs.append(save(ax.figure, out / f"pareto_{col}.png"))
    return figs


def _report(
    rows: list[dict[str, Any]],
    table: str,
    figs: list[Path],
    out: Path,
    sc: Scale,
    auc_d: float | None,
    cost_d: dict[str, Any],
    margin: float,
) -> str:
    n = len(rows) - 1
    beat = f"AUC > D's + {margin}" if margin else "AUC above D's"
    lines = [
        f"# Smallest twin that beats TCN D ({sc.name} scale)",
        "",
        f"TCN config D ({rows[0]['params']:,} parameters) scores test AUC "
        f"{_num(auc_d)} on the {NEURON.label}. {n} candidates trained on the same training "
        f"split and scored with the same protocol (`tutorial`: spike ROC AUC over all 1 ms bins "
        f"of one window per test simulation); `beats_D` means {beat}.",
        "",
        "Three notions of size: `params` (trainable parameters); `inference_s` (wall time to "
        f"predict all {cost_d['num_sims']} test simulations of {cost_d['duration_ms']} ms whole, "
        f"{cost_d['device']}, batch {cost_d['batch_size']}, {cost_d['threads']} torch "
        f"thread(s), float32, median of {sc.extra['cost']['repeats']} runs after warm-up); "
        f"`peak_mem_MiB` ({cost_d['memory_method']}, each twin in a fresh process).",
        "",
        table,
        "",
        "## The smallest twin that beats D",
        "",
        *answer_lines(rows, auc_d),
    ]
    if sc.name != "full":
        lines.append(
            "- Scale: these twins trained for minutes on a CPU, so the ranking says little "
            "about fully trained twins; run `--scale full` on a GPU for that."
        )
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in figs]
    return "\n".join(lines) + "\n"


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}"
