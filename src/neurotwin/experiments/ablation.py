"""The ablation study: which property of the cable neuron makes it the harder one to mimic?

Three comparisons of ball-and-stick variants, all on the same inputs, data budget and TCN
configs (A, C, D by default):

* ``ske2``: SK_E2 off vs on (``ske2_factor`` 0 → 1) on the point and on the cable neuron;
* ``nmda``: human vs rodent NMDA on the cable (2048 × 1 µm);
* ``morph_syn``: the 2×2 morphology (short 128 × 4 µm, long 2048 × 1 µm) × synapse (AMPA, human
  NMDA) design, which separates the two differences the assignment's two neurons confound. The
  point-to-cable AUC difference splits exactly into the two main effects (differences of the
  marginal means), ``cable − point = morphology + synapse``, the interaction aside.

For each variant: firing statistics of its dataset and the test AUC of every config against its
size. ``point_ampa`` (short/AMPA) and ``cable_nmda`` (long/NMDA) are the complexity study's
datasets and runs (same names and folders) whenever the two studies' settings agree, so they
are made once for both studies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
from neurotwin.experiments.complexity import TCN_CONFIGS
from neurotwin.train.checkpoint import atomic_write_text, write_json

__all__ = [
    "COMPARISONS",
    "VARIANTS",
    "Comparison",
    "PlannedRun",
    "Variant",
    "dataset_firing_stats",
    "effects_2x2",
    "findings",
    "firing_stats",
    "plan_runs",
    "run_ablation",
]

DEFAULT_CONFIGS = ("A", "C", "D")
SHARED = ("point_ampa", "cable_nmda")  # the complexity study's neurons
BURST_ISI_MS = 10.0  # an inter-spike interval this short is a burst
DEPOLARIZED_MV = -40.0
MAX_STAT_SIMS = 1000  # firing statistics read at most this many simulations per dataset
SMALL = 0.002  # AUC differences below this are "no difference"
STAT_COLUMNS = ("rate_mean_hz", "rate_median_hz", "isi_cv", "bursting_frac", "depolarized_frac")
REJECTS = (  # column, the filter's reason, words
    ("rejected_slow_frac", "rate_below_min", "too slow"),
    ("rejected_fast_frac", "rate_above_max", "too fast"),
    ("rejected_depolarized_frac", "depolarized", "too depolarised"),
)


@dataclass(frozen=True)
class Variant:
    """One ball-and-stick cell of the study: a preset (``point_ampa``: short 128 × 4 µm,
    ``cable_nmda``: long 2048 × 1 µm) with field overrides, and what it changes against its
    baseline."""

    name: str
    cell: str
    sets: dict[str, Any]
    factor: str

    @property
    def morphology(self) -> str:
        return "short" if self.cell == "point_ampa" else "long"

    @property
    def synapse(self) -> str:
        return str(self.sets.get("synapse", "ampa" if self.cell == "point_ampa" else "nmda_human"))

    @property
    def ske2_factor(self) -> float:
        return float(self.sets.get("ske2_factor", 0.0))

    @property
    def spec(self) -> DataSpec:
        # the baselines are exactly the complexity study's DataSpecs (same config hash)
        return DataSpec(self.name, self.cell, dict(self.sets), label=self.factor)


VARIANTS = tuple(
    Variant(*row)
    for row in (
        ("point_ampa", "point_ampa", {}, "baseline: point neuron"),
        ("point_ampa_ske2", "point_ampa", {"ske2_factor": 1.0}, "SK_E2 on"),
        ("point_nmda", "point_ampa", {"synapse": "nmda_human"}, "human NMDA, short dendrite"),
        ("cable_ampa", "cable_nmda", {"synapse": "ampa"}, "AMPA, long dendrite"),
        ("cable_nmda", "cable_nmda", {}, "baseline: cable neuron"),
        ("cable_nmda_rodent", "cable_nmda", {"synapse": "nmda_rodent"}, "rodent NMDA"),
        ("cable_nmda_ske2", "cable_nmda", {"ske2_factor": 1.0}, "SK_E2 on"),
    )
)
BY_NAME = {v.name: v for v in VARIANTS}


@dataclass(frozen=True)
class Comparison:
    """One ablation: the variants drawn in its panels; ``pairs`` (baseline, changed) read in
    the report."""

    name: str
    title: str
    variants: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...] = ()


COMPARISONS = (
    Comparison(
        "ske2",
        "SK_E2 off vs on (ske2_factor 0 → 1)",
        ("point_ampa", "point_ampa_ske2", "cable_nmda", "cable_nmda_ske2"),
        (("point_ampa", "point_ampa_ske2"), ("cable_nmda", "cable_nmda_ske2")),
    ),
    Comparison(
        "nmda",
        "human vs rodent NMDA on the cable",
        ("cable_nmda", "cable_nmda_rodent"),
        (("cable_nmda", "cable_nmda_rodent"),),
    ),
    Comparison(
        "morph_syn",
        "morphology × synapse (2×2)",
        ("point_ampa", "point_nmda", "cable_ampa", "cable_nmda"),
    ),
)
CELLS_2X2 = {  # (morphology, synapse) → variant
    ("short", "ampa"): "point_ampa",
    ("short", "nmda"): "point_nmda",
    ("long", "ampa"): "cable_ampa",
    ("long", "nmda"): "cable_nmda",
}


# -- firing statistics --------------------------------------------------------------------------
def firing_stats(
    spikes: np.ndarray,
    soma_mV: np.ndarray | None = None,
    *,
    dropped: dict[str, int] | None = None,
    num_stored: int | None = None,
    burst_isi_ms: float = BURST_ISI_MS,
    depolarized_mV: float = DEPOLARIZED_MV,
) -> dict[str, Any]:
    """Firing statistics of ``spikes`` (N, T) bool at 1 ms bins (and the soma voltage (N, T)
    in mV, and the dataset filter's rejections ``dropped`` by reason, when given).

    Rates in Hz per simulation; ``silent_frac``: simulations without a spike;
    ``bursting_frac``: simulations with at least one ISI <= ``burst_isi_ms``;
    ``burst_isi_frac``: fraction of all ISIs that short; ``isi_cv``: median over simulations
    with >= 3 spikes of std/mean of their ISIs; ``depolarized_frac``: fraction of time above
    ``depolarized_mV``; ``accepted_frac``: stored simulations / draws, and ``rejected_*`` the
    fraction of draws the filter refused as too slow, too fast or too depolarised
    (``num_stored``: the simulations the dataset holds, default N)."""
    s = np.asarray(spikes, dtype=bool)
    if s.ndim != 2:
        raise ValueError(f"spikes must be (N, T), got shape {s.shape}")
    n, t_ms = s.shape
    counts = s.sum(axis=1)  # (N,)
    rates = counts / (t_ms / 1000.0) if t_ms else np.zeros(n)
    cvs, short, total, bursting = [], 0, 0, 0
    for row in s:
        isi = np.diff(np.flatnonzero(row)).astype(float)  # ms
        total += isi.size
        k = int(np.count_nonzero(isi <= burst_isi_ms))
        short += k
        bursting += k > 0
        if isi.size >= 2:
            cvs.append(float(isi.std() / isi.mean()))
    out: dict[str, Any] = {
        "num_sims": int(n),
        "rate_mean_hz": float(rates.mean()) if n else None,
        "rate_median_hz": float(np.median(rates)) if n else None,
        "rate_std_hz": float(rates.std()) if n else None,
        "silent_frac": float(np.mean(counts == 0)) if n else None,
        "bursting_frac": bursting / n if n else None,
        "burst_isi_frac": short / total if total else None,
        "isi_cv": float(np.median(cvs)) if cvs else None,
        "depolarized_frac": None,
        "soma_mean_mV": None,
    }
    if soma_mV is not None and np.size(soma_mV):
        v = np.asarray(soma_mV, dtype=float)
        out["depolarized_frac"] = float(np.mean(v > depolarized_mV))
        out["soma_mean_mV"] = float(v.mean())
    drops = {k: int(v) for k, v in (dropped or {}).items()}
    stored = n if num_stored is None else int(num_stored)
    draws = stored + sum(drops.values())
    out["accepted_frac"] = stored / draws if draws else None
    for key, reason, _ in REJECTS:
        out[key] = drops.get(reason, 0) / draws if draws else None
    return out


def dataset_firing_stats(
    path: str | Path, max_sims: int = MAX_STAT_SIMS
) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`firing_stats` of a dataset (its first ``max_sims`` finished simulations over the
    splits, the filter's rejections of all splits), and the rate (Hz) of every simulation."""
    from neurotwin.data.config import SPLITS
    from neurotwin.data.store import open_dataset

    store = open_dataset(path)
    spikes, somas, rates = [], [], []
    dropped: dict[str, int] = {}
    left = max_sims
    for split in SPLITS:
        a = store.split(split)
        done = np.flatnonzero(a.done_mask())
        rates.append(np.asarray(a["rate_hz"][:], dtype=float)[done])
        for reason, k in dict(a.group.attrs.get("dropped", {})).items():
            dropped[reason] = dropped.get(reason, 0) + int(k)
        take = done[: max(left, 0)]
        if take.size:
            spikes.append(np.asarray(a["spikes"][take]))  # (n, T)
            somas.append(np.asarray(a["soma_uncapped"][take]))  # (n, T)
            left -= take.size
    t_ms = int(store.config.duration_ms)
    s = np.concatenate(spikes) if spikes else np.zeros((0, t_ms), dtype=bool)
    v = np.concatenate(somas) if somas else None
    n_all = int(sum(r.size for r in rates))
    stats = firing_stats(s, v, dropped=dropped, num_stored=n_all)
    return stats, np.concatenate(rates) if rates else np.zeros(0)


# -- the 2×2 --------------------------------------------------------------------------------
def effects_2x2(values: dict[str, float | None]) -> dict[str, Any] | None:
    """Main effects of the 2×2 from one value per cell (keys: the variants of
    :data:`CELLS_2X2`); None when a cell is missing.

    ``morphology`` = mean(long) − mean(short), ``synapse`` = mean(NMDA) − mean(AMPA),
    ``interaction`` = half the difference of the NMDA effect on long and on short,
    ``total`` = cable − point = morphology + synapse (exactly); ``dominant``: the larger main
    effect in magnitude."""
    v = {k: values.get(name) for k, name in CELLS_2X2.items()}
    if any(x is None or not math.isfinite(float(x)) for x in v.values()):
        return None
    sa, sn = float(v["short", "ampa"]), float(v["short", "nmda"])  # type: ignore[arg-type]
    la, ln = float(v["long", "ampa"]), float(v["long", "nmda"])  # type: ignore[arg-type]
    morph = (la + ln - sa - sn) / 2
    syn = (sn + ln - sa - la) / 2
    return {
        "short_ampa": sa,
        "short_nmda": sn,
        "long_ampa": la,
        "long_nmda": ln,
        "morphology": morph,
        "synapse": syn,
        "interaction": (ln - la - sn + sa) / 2,
        "total": ln - sa,
        "dominant": "morphology" if abs(morph) >= abs(syn) else "synapse",
    }


# -- planning: which datasets and runs, shared with the complexity study or not ---------------
@dataclass(frozen=True)
class PlannedRun:
    """One twin of the study: where it lives, the settings it trains with, whether it is the
    complexity study's run."""

    variant: str
    config: str
    data: str  # dataset name under data_root/<scale>
    run_dir: Path
    scale: Scale
    shared: bool = False


def _overrides(sc: Scale, key: str) -> dict[str, Any] | None:
    try:
        return sc.train_overrides(key)
    except ValueError:
        return None


def plan_runs(
    sc: Scale,
    cx: Scale | None,
    variants: list[str],
    configs: list[str],
    runs_root: Path,
) -> list[PlannedRun]:
    """The runs of ``variants`` × ``configs``. A baseline's dataset is the complexity study's
    when both studies ask for the same data (otherwise it is named ``ablation_<name>``, so the
    two never collide), and its run of config C is the complexity study's
    (``runs_root/complexity/<scale>/<neuron>/tcn_C``) when, in addition, config C trains and is
    scored with the same settings in both. Everything else lives under
    ``runs_root/ablation/<scale>/<variant>/tcn_C``."""
    data_shared = cx is not None and cx.data == sc.data
    out = []
    for name in variants:
        base = name in SHARED
        data = name if (not base or data_shared or cx is None) else f"ablation_{name}"
        for c in configs:
            shared = (
                base
                and data_shared
                and cx is not None
                and cx.eval == sc.eval
                and _overrides(cx, c) is not None
                and _overrides(cx, c) == _overrides(sc, c)
            )
            study = "complexity" if shared else "ablation"
            run_dir = Path(runs_root) / study / sc.name / data / f"tcn_{c}"
            out.append(PlannedRun(name, c, data, run_dir, sc, shared))
    return out


# -- the study ------------------------------------------------------------------------------
def run_ablation(
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
    """Run (or finish) the ablation study at ``scale``; returns the path of its REPORT.md."""
    from neurotwin.evaluate.figures import save_figure
    from neurotwin.plots.ablation import panels, plot_auc_lines, plot_effects, plot_rate_hist

    sc = load_scale("ablation", scale, config)
    configs = [str(c) for c in sc.extra.get("configs", DEFAULT_CONFIGS)]
    unknown = sorted(set(configs) - set(TCN_CONFIGS))
    if unknown or not configs:
        raise ValueError(
            f"ablation: unknown TCN configs {unknown or configs}; valid: {TCN_CONFIGS}"
        )
    names = [str(c) for c in sc.extra.get("comparisons", [c.name for c in COMPARISONS])]
    comps = [c for c in COMPARISONS if c.name in names]
    if len(comps) != len(set(names)) or not comps:
        raise ValueError(
            f"ablation: unknown comparisons in {names}; valid: {[c.name for c in COMPARISONS]}"
        )
    figures = bool(sc.extra.get("run_figures", True))
    try:
        cx: Scale | None = load_scale("complexity", scale)
    except ValueError:
        cx = None
    wanted = {v for c in comps for v in c.variants}
    variants = [v.name for v in VARIANTS if v.name in wanted]
    plan = plan_runs(sc, cx, variants, configs, Path(runs_root))
    out = Path(results_root) / "ablation" / scale

    stats: dict[str, dict[str, Any]] = {}
    rates: dict[str, np.ndarray] = {}
    paths: dict[str, Path] = {}
    for p in plan:
        if p.variant in paths:
            continue
        spec = BY_NAME[p.variant].spec
        spec = DataSpec(p.data, spec.cell, spec.cell_sets, spec.input_sets, spec.label)
        paths[p.variant] = ensure_dataset(
            spec, p.scale, Path(data_root), seed=seed, workers=workers, bar=bar
        )
        stats[p.variant], rates[p.variant] = dataset_firing_stats(paths[p.variant])
    rows: list[dict[str, Any]] = []
    for p in plan:
        res = train_and_evaluate(
            RunSpec(f"tcn_{p.config}", "tcn", p.config, key=p.config),
            paths[p.variant],
            p.run_dir,
            p.scale,
            bar=bar,
            figures=figures,
        )
        h = headline(res)
        v, st = BY_NAME[p.variant], stats[p.variant]
        rows.append(
            {
                "variant": v.name,
                **{k: getattr(v, k) for k in ("factor", "morphology", "synapse", "ske2_factor")},
                "config": p.config,
                **{k: h[k] for k in ("params", "auc", "auc_beniaguev", "soma_ev")},
                **{k: st[k] for k in (*STAT_COLUMNS, "accepted_frac")},
                "steps": h["steps"],
                "run": "complexity" if p.shared else "ablation",
            }
        )

    table = write_table(rows, out / "table.csv")
    atomic_write_text(out / "table.md", table + "\n")
    firing_table = write_table([{"variant": n, **stats[n]} for n in variants], out / "firing.csv")
    effects = _effects_by_config(rows, configs)
    rate_effects = effects_2x2({n: s["rate_mean_hz"] for n, s in stats.items()})
    write_json(out / "effects.json", {"auc": effects, "rate_mean_hz": rate_effects})

    figs = []
    fig, axes = panels(len(comps))
    for ax, comp in zip(axes, comps, strict=True):
        mine = [r for r in rows if r["variant"] in comp.variants]
        plot_auc_lines(mine, ax=ax, title=comp.title, order=variants)
    figs.append(save_figure(fig, out / "auc_vs_params.png"))
    fig, axes = panels(len(comps))
    for ax, comp in zip(axes, comps, strict=True):
        plot_rate_hist(
            {n: rates[n] for n in comp.variants}, ax=ax, title=comp.title, order=variants
        )
    figs.append(save_figure(fig, out / "rate_hist.png"))
    if effects:
        ax = plot_effects(effects, title="morphology × synapse: effects on test AUC")
        figs.append(save_figure(ax.figure, out / "effects_2x2.png"))
    text = _report(rows, table, firing_table, stats, effects, comps, figs, out, sc)
    command = command or f"neurotwin study ablation --scale {scale}"
    return write_report(out / "REPORT.md", text, sc, command)


def _effects_by_config(rows: list[dict[str, Any]], configs: list[str]) -> list[dict[str, Any]]:
    out = []
    for c in configs:
        e = effects_2x2({r["variant"]: r["auc"] for r in rows if r["config"] == c})
        if e is not None:
            out.append({"config": c, **e})
    return out


# -- reading the numbers ----------------------------------------------------------------------
def _verb(before: float, after: float, tol: float = 0.0) -> str:
    if abs(after - before) <= tol:
        return "barely changes"
    return "lowers" if after < before else "raises"


def _pair(
    base: str,
    alt: str,
    by: dict[tuple[str, str], dict[str, Any]],
    stats: dict[str, dict[str, Any]],
    configs: list[str],
) -> str | None:
    r0, r1 = stats[base]["rate_mean_hz"], stats[alt]["rate_mean_hz"]
    aucs = [(c, by[(base, c)]["auc"], by[(alt, c)]["auc"]) for c in configs]
    aucs = [(c, a, b) for c, a, b in aucs if a is not None and b is not None]
    if r0 is None or r1 is None or not aucs:
        return None
    c, a0, a1 = aucs[0]
    rest = "; ".join(f"{k}: {x:.4f} → {y:.4f}" for k, x, y in aucs[1:])
    factor = BY_NAME[alt].factor
    return (
        f"- **{factor} ({base} → {alt})** {_verb(r0, r1)} the mean rate from {r0:.2f} to "
        f"{r1:.2f} Hz and {_verb(a0, a1, SMALL)} the twin AUC at config {c} from {a0:.4f} to "
        f"{a1:.4f} (Δ = {a1 - a0:+.4f}{'; ' + rest if rest else ''})."
    )


def findings(
    rows: list[dict[str, Any]],
    stats: dict[str, dict[str, Any]],
    comps: tuple[Comparison, ...] | list[Comparison] = COMPARISONS,
) -> list[str]:
    """Sentences that read the table: each pair's change of rate and AUC, and the 2×2's split
    of the point-to-cable AUC difference into morphology and synapse at every config."""
    by = {(r["variant"], r["config"]): r for r in rows}
    configs = list(dict.fromkeys(r["config"] for r in rows))
    lines: list[str] = []
    for comp in comps:
        for base, alt in comp.pairs:
            if base in stats and alt in stats:
                line = _pair(base, alt, by, stats, configs)
                if line:
                    lines.append(line)
    for e in _effects_by_config(rows, configs):
        c, total, m, s = e["config"], e["total"], e["morphology"], e["synapse"]
        head = (
            f"- **2×2 at config {c}**: cable (long/NMDA) {e['long_nmda']:.4f} vs point "
            f"(short/AMPA) {e['short_ampa']:.4f}, Δ = {total:+.4f} = morphology {m:+.4f} + "
            f"synapse {s:+.4f} (interaction {e['interaction']:+.4f}): "
        )
        if max(abs(total), abs(m), abs(s)) < SMALL:
            lines.append(head + "no difference to explain at this config.")
            continue
        dom, other = (m, s) if e["dominant"] == "morphology" else (s, m)
        tail = f"the **{e['dominant']}** explains most of the difference"
        if dom * other < 0:
            weaker = "synapse" if e["dominant"] == "morphology" else "morphology"
            tail += f" (the {weaker} works the other way)"
        if abs(total) >= SMALL and dom * total < 0:
            tail = f"the {e['dominant']} has the larger effect, against the net difference"
        lines.append(head + tail + ".")
    rate = effects_2x2({n: s["rate_mean_hz"] for n, s in stats.items()})
    if rate is not None:
        lines.append(
            f"- **2×2 on the firing rate**: long − short {rate['morphology']:+.2f} Hz, "
            f"NMDA − AMPA {rate['synapse']:+.2f} Hz (interaction {rate['interaction']:+.2f} Hz)."
        )
    return lines


def _filter_notes(stats: dict[str, dict[str, Any]]) -> list[str]:
    kept = []
    for name, s in stats.items():
        acc = s.get("accepted_frac")
        if acc is not None and acc < 0.9:
            why = ", ".join(f"{s[k]:.0%} {words}" for k, _, words in REJECTS if s[k])
            kept.append(f"**{name}** {acc:.0%} ({why})")
    if not kept:
        return []
    return [
        "- The dataset filter (0.4–20 Hz, ≤ 5 % of the time above −40 mV) kept, of the draws: "
        + "; ".join(kept)
        + ". Firing statistics and twins describe the accepted simulations only."
    ]


def _report(
    rows: list[dict[str, Any]],
    table: str,
    firing_table: str,
    stats: dict[str, dict[str, Any]],
    effects: list[dict[str, Any]],
    comps: list[Comparison],
    figs: list[Path],
    out: Path,
    sc: Scale,
) -> str:
    shared = sorted({f"{r['variant']}/{r['config']}" for r in rows if r["run"] == "complexity"})
    lines = [
        f"# Ablation study ({sc.name} scale)",
        "",
        "Ball-and-stick variants on the same synaptic inputs and data budget, each with TCN "
        f"configs {', '.join(dict.fromkeys(r['config'] for r in rows))} trained for the same "
        "steps and scored on its test split (`tutorial` protocol; `auc_beniaguev`: first 500 ms "
        "dropped, 0–24 spikes). short = 128 × 4 µm, long = 2048 × 1 µm dendrite; `ampa`, "
        "`nmda_rodent` (0.4 nS, γ 0.062/mV), `nmda_human` (0.8 nS, γ 0.08/mV); SK_E2 at "
        "`ske2_factor` × 0.09965 S/cm². Comparisons: "
        + "; ".join(f"**{c.name}**: {c.title}" for c in comps)
        + ".",
        "",
        "## Findings",
        "",
        *findings(rows, stats, comps),
        *_filter_notes(stats),
    ]
    if shared:
        lines.append(
            f"- Shared with the complexity study (its datasets and runs): {', '.join(shared)}."
        )
    if sc.name != "full":
        lines.append(
            f"- Scale: `{sc.name}`: small datasets and CPU-sized training budgets, so AUC "
            "differences of a few thousandths (at smoke scale: all of them) are within "
            "run-to-run noise. `--scale full` (GPU) has the assignment's sizes."
        )
    lines += ["", "## Twins", "", table, "", "## Firing statistics (per dataset)", ""]
    lines += [
        f"Bursting: at least one inter-spike interval ≤ {BURST_ISI_MS:.0f} ms; ISI CV: median "
        "over simulations with ≥ 3 spikes; depolarized: fraction of time above −40 mV; "
        "accepted: stored simulations / draws of the dataset filter.",
        "",
        firing_table,
    ]
    if effects:
        lines += [
            "",
            "## Morphology × synapse: main effects on AUC",
            "",
            "| config | short/AMPA | short/NMDA | long/AMPA | long/NMDA | morphology | synapse "
            "| interaction | cable − point |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {e['config']} | {e['short_ampa']:.4f} | {e['short_nmda']:.4f} | "
            f"{e['long_ampa']:.4f} | {e['long_nmda']:.4f} | {e['morphology']:+.4f} | "
            f"{e['synapse']:+.4f} | {e['interaction']:+.4f} | {e['total']:+.4f} |"
            for e in effects
        ]
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in figs]
    return "\n".join(lines) + "\n"
