"""The LIF study at smoke scale (Beniaguev et al. Fig. 1): table, figures, report, rerun; the
learned linear filter against the cell's own kernel, with an untrained twin as the negative
control; the kernel comparison on exact filters; the command's errors."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from neurotwin import models
from neurotwin.cli import app
from neurotwin.evaluate.report import checkpoint_path, load_twin
from neurotwin.experiments.lif import (
    compare_kernels,
    fit_tau_ms,
    passes,
    run_lif,
    true_kernel,
    untrained_control,
)
from neurotwin.sim.cells import preset

pytestmark = pytest.mark.slow

CELL = preset("lif")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny twins on a shared 2-core machine: one torch thread, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lif")
    roots = {
        "results_root": root / "results",
        "data_root": root / "data",
        "runs_root": root / "runs",
    }
    report = run_lif("smoke", workers=1, **roots)
    return {"report": report, **roots}


def test_smoke_study_writes_table_figures_report(smoke: dict[str, Path]) -> None:
    out = smoke["report"].parent
    with open(out / "table.csv", newline="") as fh:
        rows = {r["model"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["linear", "tcn_A"]
    for col in ("twin", "params", "auc", "soma_ev", "receptive_field_ms"):
        assert col in rows["linear"]
    assert int(rows["linear"]["params"]) == 100 * 150 + 1 + 2  # filter, bias, soma gain/offset
    assert int(rows["tcn_A"]["params"]) > int(rows["linear"]["params"])
    assert float(rows["linear"]["auc"]) > 0.7  # a linear filter explains the LIF cell
    for name in ("filter_vs_kernel.png", "traces.png"):
        assert (out / name).stat().st_size > 5000
    summary = json.loads((out / "filter.json").read_text())
    assert summary["passes"] and not summary["control_passes"]
    assert summary["fit"]["tau_ms"] == CELL.tau_ms and summary["fit"]["gain_mV"] == CELL.gain_mV
    text = smoke["report"].read_text()
    assert "The **linear filter** twin (15,003 parameters" in text
    assert "The deep **TCN A**" in text
    assert "The learned filter has the kernel's shape" in text
    assert "Control: an untrained linear twin" in text and "failing the |r| > 0.5" in text
    assert "a small dataset and a CPU-sized training budget" in text
    assert json.loads((out / "config.json").read_text())["study"] == "lif"


def test_learned_filter_has_the_kernels_sign_and_shape(smoke: dict[str, Path]) -> None:
    run = smoke["runs_root"] / "lif" / "smoke" / "linear"
    model, _ = load_twin(checkpoint_path(run, "best"), torch.device("cpu"))
    fit = compare_kernels(model.filter_kernel(), CELL)
    assert fit["r_exc"] > 0.5 and fit["r_inh"] < -0.5 and passes(fit)
    assert fit["scale"] > 0  # excitation raises the logit as it raises the voltage
    assert 5.0 <= fit["tau_exc_ms"] <= 40.0
    # negative control: untrained twins of the same config and scaling do not pass
    for seed in range(5):
        control = compare_kernels(untrained_control(model, seed), CELL)
        assert not passes(control)
        assert abs(control["r_exc"]) < 0.5 or abs(control["r_inh"]) < 0.5


def test_rerun_reuses_runs(smoke: dict[str, Path]) -> None:
    runs = [smoke["runs_root"] / "lif" / "smoke" / n for n in ("linear", "tcn_A")]
    before = [(r / "checkpoints" / "best.pt").stat().st_mtime_ns for r in runs]
    run_lif("smoke", workers=1, **{k: v for k, v in smoke.items() if k != "report"})
    assert [(r / "checkpoints" / "best.pt").stat().st_mtime_ns for r in runs] == before


def test_compare_kernels_on_exact_filters() -> None:
    k = true_kernel(CELL, 150)
    assert k[0] == CELL.gain_mV and k[20] == pytest.approx(2.0 * np.exp(-1.0))
    assert k[CELL.kernel_len - 1] > 0 and not k[CELL.kernel_len :].any()
    learned = np.vstack([np.tile(k / 4.0, (80, 1)), np.tile(-k / 4.0, (20, 1))])  # (100, 150)
    fit = compare_kernels(learned, CELL)
    assert fit["r_exc"] == pytest.approx(1.0) and fit["r_inh"] == pytest.approx(-1.0)
    assert fit["scale"] == pytest.approx(4.0)
    assert fit["tau_exc_ms"] == fit["tau_inh_ms"] == 20.0
    assert passes(fit)
    # the wrong sign of inhibition fails; so does a time-reversed kernel
    assert not passes(compare_kernels(np.abs(learned), CELL))
    assert not passes(compare_kernels(learned[:, ::-1], CELL))
    assert fit_tau_ms(np.zeros(10)) is None
    with pytest.raises(ValueError, match=r"learned filter must be \(100, L\)"):
        compare_kernels(learned[:50], CELL)


def test_filter_kernel_orientation_through_a_twin() -> None:
    twin = models.build("linear", None, in_channels=100, num_dend=0, kernel_ms=150)
    k = true_kernel(CELL, 150)
    with torch.no_grad():
        w = np.vstack([np.tile(k, (80, 1)), np.tile(-k, (20, 1))])[:, ::-1]  # lag → time
        twin.filter.weight[0] = torch.from_numpy(w.copy() / twin.scaling.input_scale)
    fit = compare_kernels(twin.filter_kernel(), CELL)
    assert fit["r_exc"] > 0.999 and fit["scale"] == pytest.approx(1.0, rel=1e-5)


def test_command_errors(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["study", "lif", "--scale", "huge"])
    assert res.exit_code == 2 and "no scale 'huge'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "lif:\n  smoke:\n    data: {train: 2, valid: 1, test: 1, duration_ms: 100}\n    tcn: Q\n"
    )
    res = CliRunner().invoke(app, ["study", "lif", "--scale", "smoke", "--config", str(bad)])
    assert res.exit_code == 2 and "unknown TCN config 'Q'" in res.output
