"""The complexity study at smoke scale, its findings, the first-layer weights plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from neurotwin import models
from neurotwin.cli import app
from neurotwin.experiments.common import load_scale
from neurotwin.experiments.complexity import findings, run_complexity
from neurotwin.plots.studies import pareto_front
from neurotwin.plots.weights import first_layer_filters

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("complexity")
    roots = {
        "results_root": root / "results",
        "data_root": root / "data",
        "runs_root": root / "runs",
    }
    report = run_complexity("smoke", workers=1, **roots)
    return {"report": report, **roots}


def test_smoke_study_writes_table_figures_report(smoke: dict[str, Path]) -> None:
    out = smoke["report"].parent
    rows = (out / "table.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2 * 5  # header + both neurons × A–E
    header = rows[0].split(",")
    for col in ("neuron", "config", "params", "receptive_field_ms", "auc", "soma_ev", "train_min"):
        assert col in header
    params = {r.split(",")[1]: int(r.split(",")[header.index("params")]) for r in rows[1:6]}
    assert params == {"A": 17628, "B": 47196, "C": 189804, "D": 922892, "E": 328972}
    for name in ("auc_by_config.png", "weights_point_ampa_A.png", "weights_cable_nmda_B.png"):
        assert (out / name).stat().st_size > 5000
    text = smoke["report"].read_text()
    assert "E vs D on cable_nmda" in text and "0.9756" in text  # honest about scale
    assert json.loads((out / "config.json").read_text())["scale"] == "smoke"


def test_rerun_reuses_runs(smoke: dict[str, Path]) -> None:
    run = smoke["runs_root"] / "complexity" / "smoke" / "cable_nmda" / "tcn_A"
    before = (run / "checkpoints" / "best.pt").stat().st_mtime_ns
    run_complexity("smoke", workers=1, **{k: v for k, v in smoke.items() if k != "report"})
    assert (run / "checkpoints" / "best.pt").stat().st_mtime_ns == before


def test_rerun_with_other_settings_is_refused(smoke: dict[str, Path], tmp_path: Path) -> None:
    """A finished run is reused only with the settings that made it (not silently stale)."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "complexity:\n  smoke:\n    data: {train: 8, valid: 2, test: 4, duration_ms: 1024}\n"
        "    train: {steps: 5, batch_size: 4, window_ms: 512, val_every: 4, val_max_sims: 2}\n"
        "    eval: {window_ms: 512, beniaguev_ignore_ms: 300}\n    configs: [A]\n"
    )
    roots = {k: v for k, v in smoke.items() if k != "report"}
    with pytest.raises(ValueError, match="train.steps: 4 there, 5 now"):
        run_complexity("smoke", config=cfg, workers=1, **roots)


def test_plot_weights_command(smoke: dict[str, Path], tmp_path: Path) -> None:
    run = smoke["runs_root"] / "complexity" / "smoke" / "point_ampa" / "tcn_B"
    out = tmp_path / "w.png"
    res = CliRunner().invoke(app, ["plot", "weights", str(run), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 5000
    bad = CliRunner().invoke(app, ["plot", "weights", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_first_layer_filters_orientation() -> None:
    twin = models.build("tcn", "A")
    conv = twin.convs[0]
    with torch.no_grad():
        conv.weight.zero_()
        k = conv.weight.shape[-1]
        conv.weight[0, 3, k - 1] = 1.0  # excitatory segment 3, the output's own bin
        conv.weight[1, 8 + 5, k - 11] = -2.0  # inhibitory segment 5, 10 ms before the output
    f = first_layer_filters(twin)
    assert f.shape == (8, 2, 8, 91)
    assert f[0, 0, 3, 0] == 1.0 and f[1, 1, 5, 10] == -2.0
    assert np.count_nonzero(f) == 2
    with pytest.raises(ValueError, match="no first convolution"):
        first_layer_filters(models.build("gru"))


def _row(neuron: str, config: str, auc: float, params: int, rf: int) -> dict:
    return {
        "neuron": neuron,
        "config": config,
        "auc": auc,
        "params": params,
        "receptive_field_ms": rf,
    }


def test_findings_read_the_numbers() -> None:
    rows = [
        _row("point", "A", 0.990, 17612, 181),
        _row("point", "D", 0.992, 922380, 241),
        _row("point", "E", 0.991, 328460, 81),
        _row("cable", "A", 0.90, 17612, 181),
        _row("cable", "D", 0.95, 922380, 241),
        _row("cable", "E", 0.93, 328460, 81),
    ]
    text = "\n".join(findings(rows))
    assert "**point**: best AUC 0.9920; the smallest config within 0.005 of it is **A**" in text
    assert "smallest config within 0.005 of it is **D**" in text  # cable
    assert "The **cable** needs the larger network" in text
    assert "E vs D on cable" in text and "E loses accuracy against D (Δ = -0.0200)" in text
    assert "E vs D on point" in text and "E matches D" in text
    # negative control: swap the neurons' scores and the verdict follows the numbers
    swapped = [{**r, "neuron": {"point": "cable", "cable": "point"}[r["neuron"]]} for r in rows]
    assert "The **point** needs the larger network" in "\n".join(findings(swapped))


def test_findings_do_not_over_read_an_undertrained_hard_neuron() -> None:
    # the demo-scale pattern: the point neuron gains up to E, the cable is stuck at every size
    rows = [
        _row("point", "A", 0.950, 17612, 181),
        _row("point", "D", 0.970, 922380, 241),
        _row("point", "E", 0.977, 328460, 81),
        _row("cable", "A", 0.862, 17612, 181),
        _row("cable", "C", 0.875, 189644, 201),
        _row("cable", "D", 0.878, 922380, 241),
        _row("cable", "E", 0.861, 328460, 81),
    ]
    text = "\n".join(findings(rows))
    assert "By that criterion the **point** needs the larger network" in text
    assert "this scale does not settle" in text and "gains only +0.0160" in text
    assert "The **point** needs the larger network" not in text
    # negative control: once the cable's best passes the point's smallest, the plain verdict
    lifted = [{**r, "auc": r["auc"] + 0.09} if r["neuron"] == "cable" else r for r in rows]
    assert "The **point** needs the larger network" in "\n".join(findings(lifted))


def test_pareto_front() -> None:
    sizes = [10, 20, 30, 40, 15]
    aucs = [0.80, 0.90, 0.85, 0.95, 0.80]
    assert pareto_front(sizes, aucs).tolist() == [0, 1, 3]


def test_scales_and_bad_config(tmp_path: Path) -> None:
    sc = load_scale("complexity", "demo")
    assert sc.counts()["train"] >= 100 and sc.extra["configs"] == ["A", "B", "C", "D", "E"]
    full = load_scale("complexity", "full")
    assert full.counts()["train"] >= 5000
    with pytest.raises(ValueError, match="no scale 'huge'"):
        load_scale("complexity", "huge")
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "complexity:\n  smoke:\n    data: {train: 0, valid: 1, test: 1, duration_ms: 10}\n"
    )
    with pytest.raises(ValueError, match="data.train must be an int >= 1"):
        load_scale("complexity", "smoke", bad)
    res = CliRunner().invoke(app, ["study", "complexity", "--scale", "huge"])
    assert res.exit_code == 2 and "no scale 'huge'" in res.output
