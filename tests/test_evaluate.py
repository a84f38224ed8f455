"""Tests of evaluation (neurotwin.evaluate.evaluate) and of the ``train`` / ``evaluate`` commands
on a tiny LIF dataset: metrics.json holds every key of both protocols, figures are written,
and the command line succeeds or fails with one readable line. The slow test checks that the
linear twin of the LIF demonstration reaches a test AUC above 0.9 within a minute."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from neurotwin.commands.train import register
from neurotwin.data import make_dataset
from neurotwin.data.config import build_dataset_config
from neurotwin.evaluate import EvalConfig, evaluate, key_metrics
from neurotwin.train import train

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = {"window_ms": 400, "batch_size": 4, "val_every": 10, "tensorboard": False, "lr": 0.03}
SPIKE_KEYS = {
    "num_bins",
    "num_spike_bins",
    "auc",
    "tpr_at_fpr_0.002",
    "tpr_at_fpr_0.001",
    "partial_auc_0.01_raw",
    "partial_auc_0.01_normalized",
    "partial_auc_0.01_mcclish",
    "youden",
    "gmean",
}
THRESHOLD_KEYS = {"threshold", "tpr", "fpr", "precision", "recall", "f1"}


def lif_dataset(path: Path, counts: dict[str, int], duration_ms: int) -> Path:
    cfg = build_dataset_config("lif", {}, None, {}, counts, duration_ms, 0, {}, sims_per_chunk=8)
    make_dataset(cfg, path, workers=1)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    data = lif_dataset(root / "lif", {"train": 8, "valid": 2, "test": 3}, 1000)
    run = root / "run"
    train(data, "linear", None, run, {"kernel_ms": 40}, {**FAST, "steps": 20})
    return data, run


def test_evaluate_writes_every_metric_and_figure(trained: tuple[Path, Path]) -> None:
    _, run = trained
    res = evaluate(run)
    out = run / "evaluate" / "test"
    assert json.loads((out / "metrics.json").read_text()) == res
    assert res["checkpoint"]["name"] == "best" and res["split"] == "test"
    assert res["model"]["name"] == "linear" and res["data"]["cell"] == "lif"
    assert set(res["protocols"]) == {"tutorial", "beniaguev"}
    tut, ben = res["protocols"]["tutorial"], res["protocols"]["beniaguev"]
    for p in (tut, ben):
        assert set(p["spike"]) == SPIKE_KEYS
        assert set(p["spike"]["youden"]) == THRESHOLD_KEYS | {"j"}
        assert set(p["spike"]["gmean"]) == THRESHOLD_KEYS | {"gmean"}
        assert set(p["soma"]) == {"explained_variance", "rmse", "mae", "unit"}
        assert p["soma"]["unit"] == "mV" and p["soma"]["rmse"] > 0
        assert set(p["calibration"]) >= {"pearson_r", "explained_variance", "bins_per_sim"}
        assert p["dend"] is None and p["inst_rate"] is None  # not heads of this twin
        assert 0 <= p["spike"]["auc"] <= 1
    # tutorial: one window per simulation starting 16–47 ms in, as long as the training window
    assert tut["num_sims"] == 3 and all(16 <= o <= 47 for o in tut["offsets_ms"])
    assert tut["num_bins"] == 3 * 400 and tut["window_ms"] == 400
    long = evaluate(run, config=EvalConfig(window_ms=5000), figures=False)["protocols"]
    assert long["tutorial"]["num_bins"] == sum(1000 - o for o in tut["offsets_ms"])  # to T
    # beniaguev: first 500 ms dropped
    assert ben["ignore_ms"] == 500 and ben["num_bins"] == 500 * ben["num_sims"]
    assert ben["num_sims"] + ben["num_sims_dropped"] == 3
    for name in ("roc", "roc_logx", "auc_hist", "traces"):
        png = out / f"tutorial_{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC, png
    assert all((run / f).is_file() for f in res["figures"])
    assert any("AUC" in line for line in key_metrics(res))
    # seeded offsets: same seed, same offsets; another seed, others
    again = evaluate(run, figures=False)
    assert again["protocols"]["tutorial"]["offsets_ms"] == tut["offsets_ms"]
    other = evaluate(run, checkpoint="last", config=EvalConfig(seed=5), figures=False)
    assert other["protocols"]["tutorial"]["offsets_ms"] != tut["offsets_ms"]
    assert (run / "evaluate" / "test-last" / "metrics.json").is_file()


def test_evaluate_errors(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, run = trained
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        evaluate(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        evaluate(run, checkpoint=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="tutorial_offset_ms"):
        EvalConfig(tutorial_offset_ms=(40, 10))


# -- command line ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


def test_cli_train_and_evaluate(trained: tuple[Path, Path], cli, tmp_path: Path) -> None:
    data, _ = trained
    runner = CliRunner()
    run = tmp_path / "cli_run"
    args = ["train", "--data", str(data), "--model", "linear", "--out", str(run), "--steps", "4"]
    args += ["--set", "kernel_ms=16", "--train-set", "window_ms=200", "--train-set", "lr=1e-2"]
    args += ["--train-set", "batch_size=4", "--train-set", "tensorboard=false", "-q"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, (res.output, res.exception)
    assert "4 steps" in res.stdout and "stopped by steps" in res.stdout
    cfg = (run / "config.yaml").read_text()
    assert "kernel_ms: 16" in cfg and "lr: 0.01" in cfg
    res = runner.invoke(cli, ["evaluate", str(run), "--no-figures"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "tutorial: 3 sims, AUC" in res.stdout and "beniaguev" in res.stdout
    assert (run / "evaluate" / "test" / "metrics.json").is_file()


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--set", "bogus=1"], "bogus"),
        (["--train-set", "lr=-1"], "lr must be > 0"),
        (["--set", "novalue"], "KEY=VALUE"),
    ],
)
def test_cli_bad_option_is_one_line(trained, cli, tmp_path: Path, option, fragment) -> None:
    data, _ = trained
    res = CliRunner().invoke(
        cli,
        ["train", "--data", str(data), "--model", "linear", "--out", str(tmp_path / "r"), *option],
    )
    assert res.exit_code == 2, (res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], lines
    assert not (tmp_path / "r").exists()


# -- the LIF demonstration ----------------------------------------------------------------------
@pytest.mark.slow
def test_lif_linear_twin_reaches_auc_above_0_9(tmp_path: Path) -> None:
    t0 = time.monotonic()
    data = lif_dataset(tmp_path / "lif", {"train": 64, "valid": 4, "test": 8}, 2000)
    run = tmp_path / "run"
    # the LIF kernel spans 141 ms; the twin's first step starts at the data's spike log-odds
    opts = {"window_ms": 1000, "batch_size": 16, "lr": 0.01, "val_every": 100}
    opts.update(tensorboard=False, max_minutes=0.5)
    train(data, "linear", None, run, {"kernel_ms": 150}, opts)
    res = evaluate(run, figures=False)
    auc = res["protocols"]["tutorial"]["spike"]["auc"]
    assert auc > 0.9, auc
    assert time.monotonic() - t0 < 60
