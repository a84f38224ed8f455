"""The ablation study at smoke scale (shared runs, table, figures, report, rerun), its planning
of shared and own runs, the 2×2 main-effect arithmetic, firing statistics on hand-made spikes,
the sentences of the report, and the command's errors."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from neurotwin.cli import app
from neurotwin.data.config import build_dataset_config
from neurotwin.data.store import open_dataset
from neurotwin.experiments.ablation import (
    VARIANTS,
    effects_2x2,
    findings,
    firing_stats,
    plan_runs,
    run_ablation,
)
from neurotwin.experiments.common import Scale, load_scale
from neurotwin.experiments.complexity import NEURONS

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny twins on a shared 2-core machine: one torch thread, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ablation")
    roots = {
        "results_root": root / "results",
        "data_root": root / "data",
        "runs_root": root / "runs",
    }
    report = run_ablation("smoke", workers=1, **roots)
    return {"report": report, **roots}


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_smoke_study_writes_table_figures_report(smoke: dict[str, Path]) -> None:
    out = smoke["report"].parent
    rows = _csv(out / "table.csv")
    assert len(rows) == len(VARIANTS) * 2  # every variant × configs A, C
    for col in ("variant", "factor", "config", "params", "auc", "soma_ev", "rate_mean_hz"):
        assert col in rows[0]
    assert {r["config"] for r in rows} == {"A", "C"}
    shared = {r["variant"] for r in rows if r["run"] == "complexity"}
    assert shared == {"point_ampa", "cable_nmda"}
    assert {r["params"] for r in rows if r["config"] == "A"} == {"17628"}
    for name in ("auc_vs_params.png", "rate_hist.png", "effects_2x2.png"):
        assert (out / name).stat().st_size > 5000
    firing = {r["variant"]: r for r in _csv(out / "firing.csv")}
    assert set(firing) == {v.name for v in VARIANTS}
    for base in ("point_ampa", "cable_nmda"):  # SK_E2 is an adaptation current
        assert float(firing[f"{base}_ske2"]["rate_mean_hz"]) < float(firing[base]["rate_mean_hz"])
    effects = json.loads((out / "effects.json").read_text())["auc"]
    assert [e["config"] for e in effects] == ["A", "C"]
    for e in effects:
        assert e["total"] == pytest.approx(e["morphology"] + e["synapse"])
    text = smoke["report"].read_text()
    assert "SK_E2 on (cable_nmda → cable_nmda_ske2)** lowers the mean rate" in text
    assert "rodent NMDA (cable_nmda → cable_nmda_rodent)" in text
    assert "2×2 at config A" in text and "2×2 at config C" in text
    assert "Shared with the complexity study" in text and "point_ampa/A" in text
    assert "within run-to-run noise" in text  # honest about scale
    assert json.loads((out / "config.json").read_text())["study"] == "ablation"


def test_baselines_are_the_complexity_studys(smoke: dict[str, Path]) -> None:
    runs, data = smoke["runs_root"], smoke["data_root"]
    for neuron in ("point_ampa", "cable_nmda"):
        for c in ("A", "C"):
            assert (runs / "complexity" / "smoke" / neuron / f"tcn_{c}" / "summary.json").is_file()
        assert not (runs / "ablation" / "smoke" / neuron).exists()
    assert (runs / "ablation" / "smoke" / "point_nmda" / "tcn_C" / "summary.json").is_file()
    # the complexity study would find its own datasets: same config hash
    sc = load_scale("complexity", "smoke")
    for spec in NEURONS:
        cfg = build_dataset_config(
            spec.cell, spec.cell_sets, None, {}, sc.counts(), sc.duration_ms, 0, {}
        )
        assert open_dataset(data / "smoke" / spec.name).meta["config_hash"] == cfg.content_hash()
    store = open_dataset(data / "smoke" / "cable_ampa")
    assert store.config.cell.synapse == "ampa" and store.config.cell.dend_L_um == 2048.0


def test_rerun_reuses_runs(smoke: dict[str, Path]) -> None:
    ckpts = [
        smoke["runs_root"] / "complexity" / "smoke" / "cable_nmda" / "tcn_A",
        smoke["runs_root"] / "ablation" / "smoke" / "cable_ampa" / "tcn_C",
    ]
    before = [(p / "checkpoints" / "best.pt").stat().st_mtime_ns for p in ckpts]
    run_ablation("smoke", workers=1, **{k: v for k, v in smoke.items() if k != "report"})
    assert [(p / "checkpoints" / "best.pt").stat().st_mtime_ns for p in ckpts] == before


def _scale(name: str = "demo", steps: dict | None = None, train: int = 384) -> Scale:
    data = {"train": train, "valid": 32, "test": 64, "duration_ms": 2048}
    st = steps or {"A": 600, "B": 500, "C": 300, "D": 120, "E": 200}
    tr = {"steps": st, "batch_size": 16, "window_ms": 1024, "val_every": 100, "val_max_sims": 16}
    return Scale("ablation", name, data, tr, {"window_ms": 2048})


def test_plan_runs_shares_only_matching_settings(tmp_path: Path) -> None:
    cx = dataclasses.replace(_scale(), study="complexity")  # settings equal to _scale()'s
    names = ["point_ampa", "point_nmda", "cable_nmda"]
    plan = {(p.variant, p.config): p for p in plan_runs(_scale(), cx, names, ["A", "C"], tmp_path)}
    assert plan["point_ampa", "A"].shared and plan["cable_nmda", "C"].shared
    assert plan["point_ampa", "C"].run_dir == tmp_path / "complexity/demo/point_ampa/tcn_C"
    assert not plan["point_nmda", "A"].shared
    assert plan["point_nmda", "A"].run_dir == tmp_path / "ablation/demo/point_nmda/tcn_A"
    # another step budget for C: A is still shared, C trains its own baseline
    other = _scale(steps={"A": 600, "C": 40})
    plan = {(p.variant, p.config): p for p in plan_runs(other, cx, names, ["A", "C"], tmp_path)}
    assert plan["point_ampa", "A"].shared and not plan["point_ampa", "C"].shared
    assert plan["point_ampa", "C"].run_dir == tmp_path / "ablation/demo/point_ampa/tcn_C"
    # other data: nothing shared, and the baseline datasets get names of their own
    plan = plan_runs(_scale(train=100), cx, names, ["A"], tmp_path)
    assert not any(p.shared for p in plan)
    assert [p.data for p in plan] == ["ablation_point_ampa", "point_nmda", "ablation_cable_nmda"]
    # no complexity settings at this scale: nothing to collide with, nothing shared
    plan = plan_runs(_scale("mine"), None, names, ["A"], tmp_path)
    assert [p.data for p in plan] == names and not any(p.shared for p in plan)


def test_effects_2x2_arithmetic() -> None:
    cells = {"point_ampa": 0.99, "point_nmda": 0.98, "cable_ampa": 0.96, "cable_nmda": 0.90}
    e = effects_2x2(cells)
    assert e is not None
    assert e["morphology"] == pytest.approx(-0.055)  # (0.96 + 0.90 - 0.99 - 0.98) / 2
    assert e["synapse"] == pytest.approx(-0.035)  # (0.98 + 0.90 - 0.99 - 0.96) / 2
    assert e["interaction"] == pytest.approx(-0.025)  # (0.90 - 0.96 - 0.98 + 0.99) / 2
    assert e["total"] == pytest.approx(-0.09) == pytest.approx(e["morphology"] + e["synapse"])
    assert e["dominant"] == "morphology"
    # negative control: swap the off-diagonal cells and the synapse becomes the larger effect
    swapped = {**cells, "point_nmda": 0.96, "cable_ampa": 0.98}
    assert effects_2x2(swapped)["dominant"] == "synapse"  # type: ignore[index]
    assert effects_2x2({**cells, "cable_ampa": None}) is None
    assert effects_2x2({k: v for k, v in cells.items() if k != "point_nmda"}) is None


def _row(variant: str, config: str, auc: float) -> dict:
    return {"variant": variant, "config": config, "auc": auc}


def test_findings_read_the_numbers() -> None:
    aucs = {
        "point_ampa": 0.99,
        "point_nmda": 0.98,
        "cable_ampa": 0.96,
        "cable_nmda": 0.90,
        "cable_nmda_ske2": 0.85,
        "cable_nmda_rodent": 0.9005,
    }
    rows = [_row(v, "A", a) for v, a in aucs.items()]
    rates = {"point_ampa": 16, "point_nmda": 18, "cable_ampa": 3, "cable_nmda": 14}
    rates |= {"cable_nmda_ske2": 3, "cable_nmda_rodent": 15}
    stats = {v: {"rate_mean_hz": float(r)} for v, r in rates.items()}
    text = "\n".join(findings(rows, stats))
    assert (
        "**SK_E2 on (cable_nmda → cable_nmda_ske2)** lowers the mean rate from 14.00 to 3.00 Hz "
        "and lowers the twin AUC at config A from 0.9000 to 0.8500 (Δ = -0.0500)" in text
    )
    assert "raises the mean rate from 14.00 to 15.00 Hz and barely changes the twin AUC" in text
    assert "Δ = -0.0900 = morphology -0.0550 + synapse -0.0350" in text
    assert "the **morphology** explains most of the difference." in text
    assert "point_ampa_ske2" not in text  # no row, no sentence
    swapped = [
        {**r, "auc": {"point_nmda": 0.96, "cable_ampa": 0.98}.get(r["variant"], r["auc"])}
        for r in rows
    ]
    assert "the **synapse** explains most" in "\n".join(findings(swapped, stats))
    assert "long − short -8.50 Hz, NMDA − AMPA +6.50 Hz" in text


def test_firing_stats_on_hand_made_spikes() -> None:
    spikes = np.zeros((3, 1000), dtype=bool)
    spikes[0, [100, 105, 300, 700]] = True  # ISIs 5, 195, 400 ms: one burst ISI
    spikes[2, [200, 600]] = True  # 2 spikes: no CV
    soma = np.full((3, 1000), -70.0)
    soma[0, :50] = -30.0  # 50 of 3000 samples above -40 mV
    s = firing_stats(spikes, soma, dropped={"rate_below_min": 1, "rate_above_max": 2})
    assert s["rate_mean_hz"] == pytest.approx(2.0) and s["rate_median_hz"] == pytest.approx(2.0)
    assert s["silent_frac"] == pytest.approx(1 / 3) and s["bursting_frac"] == pytest.approx(1 / 3)
    assert s["burst_isi_frac"] == pytest.approx(1 / 4)
    isi = np.array([5.0, 195.0, 400.0])
    assert s["isi_cv"] == pytest.approx(isi.std() / isi.mean())
    assert s["depolarized_frac"] == pytest.approx(50 / 3000)
    assert s["accepted_frac"] == pytest.approx(0.5)  # 3 kept of 6 draws
    assert s["rejected_slow_frac"] == pytest.approx(1 / 6)
    assert s["rejected_fast_frac"] == pytest.approx(2 / 6)
    assert s["rejected_depolarized_frac"] == 0.0
    quiet = firing_stats(np.zeros((2, 500), dtype=bool))
    assert quiet["rate_mean_hz"] == 0.0 and quiet["isi_cv"] is None
    assert quiet["depolarized_frac"] is None and quiet["accepted_frac"] == 1.0
    with pytest.raises(ValueError, match="spikes must be"):
        firing_stats(np.zeros(10, dtype=bool))


def test_scales_and_command_errors(tmp_path: Path) -> None:
    for scale in ("smoke", "demo", "full"):
        sc, cx = load_scale("ablation", scale), load_scale("complexity", scale)
        assert sc.data == cx.data and sc.eval == cx.eval  # the studies share datasets
        if scale != "demo":  # demo: a shorter budget of its own, so only the data is shared
            for c in sc.extra["configs"]:
                assert sc.train_overrides(c) == cx.train_overrides(c)  # ... and runs
    assert load_scale("ablation", "demo").extra["configs"] == ["A", "C", "D"]
    assert load_scale("ablation", "full").counts()["train"] >= 5000
    res = CliRunner().invoke(app, ["study", "ablation", "--scale", "huge"])
    assert res.exit_code == 2 and "no scale 'huge'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "ablation:\n  smoke:\n    data: {train: 2, valid: 1, test: 1, duration_ms: 100}\n"
        "    configs: [A, Z]\n"
    )
    res = CliRunner().invoke(app, ["study", "ablation", "--scale", "smoke", "--config", str(bad)])
    assert res.exit_code == 2 and "unknown TCN configs ['Z']" in res.output
    bad.write_text(
        "ablation:\n  smoke:\n    data: {train: 2, valid: 1, test: 1, duration_ms: 100}\n"
        "    comparisons: [ske2, nope]\n"
    )
    res = CliRunner().invoke(app, ["study", "ablation", "--scale", "smoke", "--config", str(bad)])
    assert res.exit_code == 2 and "unknown comparisons" in res.output
