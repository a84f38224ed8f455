"""Tests of training (neurotwin.train) on a tiny LIF dataset: the config and its schedules, a
short run (spike loss goes down, the run folder holds every file), budgets, refusal of another
config in the same folder, and resume after an interruption ending with exactly the weights of
an uninterrupted run."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from neurotwin.data import make_dataset, open_dataset
from neurotwin.data.config import build_dataset_config
from neurotwin.data.windows import RandomWindows
from neurotwin.models import build, for_cell
from neurotwin.train import TrainConfig, TrainEvent, TrainingInterrupted, load_checkpoint, train
from neurotwin.train.bias_init import head_bias_values, init_head_bias

FAST = {"window_ms": 200, "batch_size": 4, "log_every": 2, "val_every": 4, "tensorboard": False}
# a small TCN with every kind of layer (first conv, a block with norm and activation, heads)
TCN = {"depth": 1, "width": 4, "first_kernel_ms": 9, "kernel_ms": 9}


@pytest.fixture(scope="module")
def lif_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train") / "lif"
    cfg = build_dataset_config(
        "lif", {}, None, {}, {"train": 8, "valid": 2, "test": 2}, 1000, 0, {}, sims_per_chunk=4
    )
    make_dataset(cfg, path, workers=1)
    return path


def read_metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# -- config -------------------------------------------------------------------------------------
def test_train_config_validates_and_coerces() -> None:
    cfg = TrainConfig()
    assert (cfg.window_ms, cfg.batch_size, cfg.lr, cfg.weight_decay) == (2048, 16, 3e-4, 1e-3)
    assert cfg.resolved().epochs == 100.0  # the default budget
    c = cfg.replace(lr="3e-4", steps=10.0, epochs=2, **{"loss_weights.soma": 1})
    assert c.lr == 3e-4 and c.steps == 10 and c.epochs == 2.0
    assert c.loss_weights["soma"] == 1.0 and c.loss_weights["spike"] == 1.0
    for bad, fragment in (
        ({"lr": -1.0}, "lr must be > 0, got -1.0"),
        ({"batch_size": 0}, "batch_size"),
        ({"cooldown": "step"}, "cooldown"),
        ({"warmup_frac": 0.6, "cooldown_frac": 0.6}, r"warmup_frac \+ cooldown_frac"),
        ({"loss_weights": {"axon": 1.0}}, "unknown head"),
        ({"device": "tpu"}, "device"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"nope": 1}, "unknown TrainConfig field 'nope'"),
    ):
        with pytest.raises(ValueError, match=fragment):
            cfg.replace(**bad)
    assert TrainConfig.from_dict(c.to_dict()) == c


def test_schedules() -> None:
    cfg = TrainConfig(lr=1.0, warmup_frac=0.1, cooldown_frac=0.5, final_lr_frac=0.0)
    assert cfg.lr_at(0.0) == 0.0 and cfg.lr_at(0.05) == pytest.approx(0.5)
    assert cfg.lr_at(0.3) == 1.0 and cfg.lr_at(0.5) == 1.0
    assert cfg.lr_at(0.75) == pytest.approx(0.5)  # cosine halfway down
    assert cfg.lr_at(1.0) == pytest.approx(0.0)
    lin = cfg.replace(cooldown="linear", final_lr_frac=0.2)
    assert lin.lr_at(0.75) == pytest.approx(0.6) and lin.lr_at(1.0) == pytest.approx(0.2)
    ramp = cfg.replace(loss_weights={"spike": 1.0, "soma": 1.0}, ramp_frac=0.5)
    ramp = ramp.replace(**{"loss_weights_end.soma": 0.0})
    assert ramp.weights_at(0.25)["soma"] == pytest.approx(0.5)
    assert ramp.weights_at(0.9)["soma"] == 0.0 and ramp.weights_at(0.9)["spike"] == 1.0
    assert ramp.weights_at(0.0)["dend"] == 0.0  # heads without a weight count 0
    assert TrainConfig(steps=50, epochs=3).total_steps(num_train_sims=40) == 8  # ⌈3 · 40 / 16⌉


# -- a short run --------------------------------------------------------------------------------
def test_short_run_writes_run_folder_and_learns(lif_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    events: list[TrainEvent] = []
    s = train(
        lif_data,
        "linear",
        None,
        run,
        {"kernel_ms": 40},
        # from a logit of 0 (no output-bias initialisation) the spike loss must fall fast
        {**FAST, "steps": 30, "lr": 0.03, "tensorboard": True, "init_head_bias": False},
        progress=events.append,
    )
    assert (s.steps, s.stopped_by, s.best_metric) == (30, "steps", "val_spike")
    for name in ("config.yaml", "metrics.csv", "summary.json", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints/best.pt").is_file()
    assert list((run / "tb").glob("events.out.tfevents.*"))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["spec"]["name"] == "linear" and cfg["seed"] == 0
    assert len(cfg["data"]["config_hash"]) == 16 and cfg["train"]["steps"] == 30
    assert {"torch", "neurotwin", "numpy"} <= set(cfg["versions"])
    rows = read_metrics(run)
    train_rows = [r for r in rows if r["loss_spike"]]
    assert [int(r["step"]) for r in train_rows] == list(range(2, 31, 2))
    first, last = float(train_rows[0]["loss_spike"]), float(train_rows[-1]["loss_spike"])
    assert last < 0.5 * first, (first, last)
    val_rows = [r for r in rows if r["val_spike"]]
    assert [int(r["step"]) for r in val_rows] == [4, 8, 12, 16, 20, 24, 28, 30]
    assert float(val_rows[-1]["val_spike"]) < float(val_rows[0]["val_spike"])
    ck = load_checkpoint(run / "checkpoints/last.pt")
    for key in ("model_spec", "state_dict", "optimizer", "scheduler", "step", "rng", "best"):
        assert key in ck, key
    assert ck["step"] == 30 and ck["best"]["metric"] == "val_spike"
    best = load_checkpoint(run / "checkpoints/best.pt")
    assert best["step"] == s.best_step and best["best"]["value"] == pytest.approx(s.best_value)
    assert [e.step for e in events if e.validated][-1] == 30
    assert events[-1].progress == 1.0


def test_output_bias_starts_at_the_data_means(lif_data: Path) -> None:
    store = open_dataset(lif_data)
    model = build("tcn", None, **for_cell(store.config.cell), **TCN)
    windows = RandomWindows(store, window_ms=1000, targets=model.config.heads)
    values = head_bias_values(windows, model)
    rate = float(np.mean(np.asarray(store.split("train")["spikes"][:])))
    assert float(torch.sigmoid(values["spike"])) == pytest.approx(rate, rel=0.3)
    assert init_head_bias(model, values)
    x, t = windows.batch(range(8))
    with torch.no_grad():
        model.apply(lambda m: torch.nn.init.zeros_(m.weight) if hasattr(m, "kernel_size") else None)
        out = model(x)
    # with the conv weights zeroed, every head outputs its bias: the data means
    assert float(out["spike"].mean()) == pytest.approx(float(values["spike"]), rel=1e-5)
    assert float(out["soma"].mean()) == pytest.approx(float(values["soma"]), rel=1e-5)
    # negative control: a twin without an output bias to set is left alone
    assert not init_head_bias(torch.nn.Module(), values)  # type: ignore[arg-type]


def test_budgets_epochs_and_minutes(lif_data: Path, tmp_path: Path) -> None:
    s = train(lif_data, "linear", None, tmp_path / "e", {"kernel_ms": 8}, {**FAST, "epochs": 1})
    assert (s.steps, s.stopped_by) == (2, "epochs")  # 8 training sims, batch 4
    s = train(
        lif_data, "linear", None, tmp_path / "m", {"kernel_ms": 8}, {**FAST, "max_minutes": 0.01}
    )
    assert s.stopped_by == "max_minutes" and s.elapsed_s >= 0.6


# -- resume -------------------------------------------------------------------------------------
def _interrupt_at(step: int):
    def progress(ev: TrainEvent) -> None:
        if ev.step == step:
            raise KeyboardInterrupt

    return progress


def test_resume_gives_the_uninterrupted_weights(lif_data: Path, tmp_path: Path) -> None:
    args = (lif_data, "tcn", None)
    opts = {**FAST, "steps": 12, "lr": 3e-3}
    straight = train(*args, tmp_path / "a", TCN, opts)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 6"):
        train(*args, tmp_path / "b", TCN, opts, progress=_interrupt_at(6))
    assert load_checkpoint(tmp_path / "b/checkpoints/last.pt")["step"] == 6
    resumed = train(*args, tmp_path / "b", TCN, opts)
    assert resumed.resumed_from_step == 6 and resumed.steps == straight.steps == 12
    a = load_checkpoint(tmp_path / "a/checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    for pa, pb in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    assert straight.best_step == resumed.best_step
    assert straight.best_value == pytest.approx(resumed.best_value, abs=0, rel=0)
    # metrics.csv holds each step once, as in the straight run
    assert [r["step"] for r in read_metrics(tmp_path / "b")] == [
        r["step"] for r in read_metrics(tmp_path / "a")
    ]
    # negative control: another seed gives other weights
    other = {**opts, "seed": 1}
    train(*args, tmp_path / "c", TCN, other)
    c = load_checkpoint(tmp_path / "c/checkpoints/last.pt")
    assert not all(torch.equal(t, c["state_dict"][n]) for n, t in a["state_dict"].items())
    # rerunning a finished run changes nothing
    again = train(*args, tmp_path / "a", TCN, opts)
    assert again.steps == 12 and again.resumed_from_step == 12
    a2 = load_checkpoint(tmp_path / "a/checkpoints/last.pt")
    assert all(torch.equal(t, a2["state_dict"][n]) for n, t in a["state_dict"].items())


def test_other_config_in_the_same_folder_is_refused(lif_data: Path, tmp_path: Path) -> None:
    opts = {**FAST, "steps": 2}
    train(lif_data, "linear", None, tmp_path / "r", {"kernel_ms": 8}, opts)
    with pytest.raises(ValueError, match=r"another config \(.*train\.lr: stored 0\.0003"):
        train(lif_data, "linear", None, tmp_path / "r", {"kernel_ms": 8}, {**opts, "lr": 1e-2})
    with pytest.raises(ValueError, match="model.spec.config.kernel_ms: stored 8, requested 9"):
        train(lif_data, "linear", None, tmp_path / "r", {"kernel_ms": 9}, opts)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        train(lif_data, "linear", None, tmp_path / "full", {"kernel_ms": 8}, opts)


def test_bad_model_override_is_a_value_error(lif_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bogus"):
        train(lif_data, "tcn", "A", tmp_path / "x", {"bogus": 1}, {**FAST, "steps": 1})
    assert not (tmp_path / "x").exists()  # nothing written for a refused model
    assert math.isfinite(TrainConfig().lr_at(0.5))
