"""The complexity study: how large a TCN does each neuron need?

For the point neuron (``point_ampa``: short wide dendrite, AMPA synapses) and the cable neuron
(``cable_nmda``: long thin dendrite, human NMDA synapses), train TCN configs A–E on the same
data budget, score them on the test split and compare: a table, the side-by-side AUC bars, the
first-layer filters of configs A and B, and a report that reads the numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.experiments.common import (
    BarFactory,
    DataSpec,
    RunSpec,
    ensure_dataset,
    headline,
    load_scale,
    no_bar,
    train_and_evaluate,
    write_report,
    write_table,
)

__all__ = ["NEURONS", "run_complexity"]

NEURONS = (
    DataSpec("point_ampa", "point_ampa", label="point neuron (AMPA, 128 µm × 4 µm)"),
    DataSpec("cable_nmda", "cable_nmda", label="cable neuron (NMDA, 2048 µm × 1 µm)"),
)
TCN_CONFIGS = ("A", "B", "C", "D", "E")
NMDA_DECAY_MS = 70.0  # spec: the NMDA conductance's decay time constant
NEAR_BEST = 0.005  # "reaches its best": AUC within this of the neuron's best config


def run_complexity(
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
) -> Path:
    """Run (or finish) the complexity study at ``scale``; returns the path of its REPORT.md."""
    from neurotwin.plots.studies import plot_auc_bars
    from neurotwin.plots.weights import save, weights_figure

    sc = load_scale("complexity", scale, config)
    configs = [str(c) for c in sc.extra.get("configs", TCN_CONFIGS)]
    unknown = sorted(set(configs) - set(TCN_CONFIGS))
    if unknown:
        raise ValueError(f"complexity: unknown TCN configs {unknown}; valid: {TCN_CONFIGS}")
    out = Path(results_root) / "complexity" / scale
    rows: list[dict[str, Any]] = []
    runs: dict[tuple[str, str], Path] = {}
    for neuron in NEURONS:
        data = ensure_dataset(neuron, sc, Path(data_root), seed=seed, workers=workers, bar=bar)
        for c in configs:
            run_dir = Path(runs_root) / "complexity" / scale / neuron.name / f"tcn_{c}"
            res = train_and_evaluate(
                RunSpec(f"tcn_{c}", "tcn", c, key=c), data, run_dir, sc, bar=bar
            )
            cfg = _tcn_shape(run_dir)
            rows.append({"neuron": neuron.name, "config": c, **cfg, **headline(res)})
            runs[(neuron.name, c)] = run_dir
    table = write_table(rows, out / "table.csv")
    (out / "table.md").parent.mkdir(parents=True, exist_ok=True)
    _atomic(out / "table.md", table + "\n")
    figs = [save(plot_auc_bars(rows).figure, out / "auc_by_config.png")]
    for (neuron, c), run_dir in sorted(runs.items()):
        if c in ("A", "B"):
            model = _load_best(run_dir)
            fig = weights_figure(model, title=f"{neuron} · TCN {c}: first-layer filters")
            figs.append(save(fig, out / f"weights_{neuron}_{c}.png"))
    text = _report(rows, table, figs, out, sc.name)
    command = command or f"neurotwin study complexity --scale {scale}"
    return write_report(out / "REPORT.md", text, sc, command)


def _tcn_shape(run_dir: Path) -> dict[str, Any]:
    from neurotwin.train import read_run_config

    spec = read_run_config(run_dir)["model"]["spec"]
    cfg = spec.get("config", spec)
    return {"D": cfg.get("depth"), "W": cfg.get("width"), "T": cfg.get("kernel_ms")}


def _load_best(run_dir: Path) -> Any:
    import torch

    from neurotwin.evaluate.report import checkpoint_path, load_twin

    model, _ = load_twin(checkpoint_path(run_dir, "best"), torch.device("cpu"))
    return model


def _atomic(path: Path, text: str) -> None:
    from neurotwin.train.checkpoint import atomic_write_text

    atomic_write_text(path, text)


def findings(rows: list[dict[str, Any]]) -> list[str]:
    """Sentences that read the table: which neuron needs the larger network, E against D."""
    by = {(r["neuron"], r["config"]): r for r in rows}
    neurons = list(dict.fromkeys(r["neuron"] for r in rows))
    lines: list[str] = []
    smallest: dict[str, dict[str, Any]] = {}
    for n in neurons:
        mine = [r for r in rows if r["neuron"] == n and r["auc"] is not None]
        if not mine:
            continue
        best = max(r["auc"] for r in mine)
        enough = min((r for r in mine if r["auc"] >= best - NEAR_BEST), key=lambda r: r["params"])
        smallest[n] = enough
        lines.append(
            f"- **{n}**: best AUC {best:.4f}; the smallest config within {NEAR_BEST} of it is "
            f"**{enough['config']}** ({enough['params']:,} parameters, AUC {enough['auc']:.4f})."
        )
    if len(smallest) == 2:
        (n1, r1), (n2, r2) = smallest.items()
        a1 = [by[(n1, c)]["auc"] for c in ("A",) if (n1, c) in by]
        a2 = [by[(n2, c)]["auc"] for c in ("A",) if (n2, c) in by]
        bigger = n1 if r1["params"] > r2["params"] else n2 if r2["params"] > r1["params"] else None
        harder = easier = None
        if a1 and a2:
            harder, easier = (n1, n2) if a1[0] < a2[0] else (n2, n1)
        best = {
            n: max(r["auc"] for r in rows if r["neuron"] == n and r["auc"] is not None)
            for n in smallest
        }
        floor = {n1: a1[0] if a1 else None, n2: a2[0] if a2 else None}
        if bigger and harder and bigger != harder and best[harder] < floor[easier]:
            # The size criterion points at the easier neuron only because the harder one is
            # stuck at every size: that says the budget limits it, not which needs more size.
            lines.append(
                f"- By that criterion the **{bigger}** needs the larger network, but the "
                f"{harder} is worse at every size: its best ({best[harder]:.4f}) stays below "
                f"the {easier}'s smallest twin ({floor[easier]:.4f}) and gains only "
                f"{best[harder] - floor[harder]:+.4f} from A to its best. Its twins are "
                "limited by the training budget, not by their size, so this scale does not "
                "settle which neuron needs the larger network."
            )
        elif bigger:
            lines.append(
                f"- The **{bigger}** needs the larger network to come near its best score."
            )
        else:
            lines.append("- Both neurons come near their best score with the same config.")
        if harder:
            lines.append(
                f"- With the smallest twin (A), AUC is {a1[0]:.4f} on {n1} and {a2[0]:.4f} on "
                f"{n2}: the {harder} is the harder one to mimic with a small network."
            )
    for n in neurons:
        d, e = by.get((n, "D")), by.get((n, "E"))
        if d and e and d["auc"] is not None and e["auc"] is not None:
            diff = e["auc"] - d["auc"]
            verdict = (
                "loses accuracy against D"
                if diff < -NEAR_BEST
                else "matches D"
                if abs(diff) <= NEAR_BEST
                else "beats D"
            )
            lines.append(
                f"- **E vs D on {n}**: E (receptive field {e['receptive_field_ms']} ms, "
                f"{e['params']:,} parameters) scores {e['auc']:.4f} against D's {d['auc']:.4f} "
                f"(receptive field {d['receptive_field_ms']} ms): E {verdict} "
                f"(Δ = {diff:+.4f})."
            )
    return lines


def _memory_note(rows: list[dict[str, Any]]) -> list[str]:
    rf = {r["config"]: r["receptive_field_ms"] for r in rows}
    if "D" not in rf or "E" not in rf:
        return []
    return [
        f"- The NMDA conductance decays with τ = {NMDA_DECAY_MS:.0f} ms: E's {rf['E']} ms "
        f"receptive field spans {rf['E'] / NMDA_DECAY_MS:.1f} decay times of an NMDA input, "
        f"D's {rf['D']} ms spans {rf['D'] / NMDA_DECAY_MS:.1f}. A twin that sees less than the "
        "NMDA memory must infer it from the recent input alone; the AMPA point neuron forgets "
        "its input within a few ms, so the same cut costs it little."
    ]


def _report(rows: list[dict[str, Any]], table: str, figs: list[Path], out: Path, scale: str) -> str:
    aucs = np.array([r["auc"] for r in rows if r["auc"] is not None])
    lines = [
        f"# Complexity study ({scale} scale)",
        "",
        "TCN configs A–E (D+1 causal conv layers of width W and kernel T ms) trained with the same "
        "step budget on each neuron's training split and scored on its test split "
        "(`tutorial` protocol: one window per test simulation; `auc_beniaguev`: first 500 ms "
        "dropped, 0–24 spikes). AUC is the spike ROC AUC over all 1 ms bins; "
        "`tpr_at_fpr_*` the true-positive rate at that false-positive rate; `soma_ev` the "
        "explained variance of the soma voltage.",
        "",
        table,
        "",
        "## What the figures show",
        "",
        *findings(rows),
        *_memory_note(rows),
    ]
    if scale != "full" and aucs.size:
        lines.append(
            f"- Scale: these twins trained for minutes on a CPU (best AUC here {aucs.max():.4f}). "
            "The reference figures for config C trained on the full reference datasets are AUC "
            "0.9990 (point neuron) and 0.9756 (cable neuron); run `--scale full` on a GPU to "
            "compare like with like."
        )
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in figs]
    return "\n".join(lines) + "\n"
