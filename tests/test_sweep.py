"""The Optuna sweep at a tiny scale: resume, stale trials, outputs, space validation, CLI."""

from __future__ import annotations

import contextlib
import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from typer.testing import CliRunner

from neurotwin.cli import app
from neurotwin.experiments.common import load_scale
from neurotwin.experiments.sweep import load_space, parse_space, requeue_stale, run_sweep
from neurotwin.interrupt import Interrupted
from neurotwin.plots.studies import pareto_front

pytestmark = pytest.mark.slow

TINY = """
complexity:
  smoke:
    data: {train: 4, valid: 2, test: 4, duration_ms: 1024}
    train: {steps: 2, batch_size: 2, window_ms: 256}
sweep:
  smoke:
    data: {train: 4, valid: 2, test: 4, duration_ms: 1024}
    train: {steps: 2, batch_size: 2, window_ms: 256, val_every: 2, val_max_sims: 2}
    eval: {window_ms: 256, protocols: [tutorial]}
    trials: 2
"""
SPACE = """
families:
  gru: {hidden_sizes: [[4], [8]]}
  tcn: {depth: 1, width: [4, 8], first_kernel_ms: 21, kernel_ms: {low: 5, high: 11, step: 2}}
lr: {low: 1e-3, high: 1e-2}
loss_weights: {soma: {low: 0.0, high: 0.5}}
"""


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sweep")
    (root / "tiny.yaml").write_text(TINY)
    (root / "space.yaml").write_text(SPACE)
    return {
        "config": root / "tiny.yaml",
        "space": root / "space.yaml",
        "results_root": root / "results",
        "data_root": root / "data",
        "runs_root": root / "runs",
    }


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run(roots: dict[str, Path], trials: int | None, name: str = "tiny", **kw) -> Path:
    return run_sweep(name, roots["space"], trials, scale="smoke", config=roots["config"],
                     results_root=roots["results_root"], data_root=roots["data_root"],
                     runs_root=roots["runs_root"], workers=1, **kw)  # fmt: skip


def _study(roots: dict[str, Path], name: str = "tiny") -> optuna.Study:
    db = (roots["results_root"] / "sweeps" / name / "study.db").resolve()
    return optuna.load_study(study_name=name, storage=f"sqlite:///{db}")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_resume_requeue_and_outputs(roots: dict[str, Path]) -> None:
    report = _run(roots, None)  # the scale's 2 trials
    study = _study(roots)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2
    assert (roots["data_root"] / "smoke" / "cable_nmda").is_dir()  # complexity's dataset
    assert (roots["runs_root"] / "sweeps" / "tiny" / "trial_1" / "summary.json").is_file()
    # a trial whose process died (old heartbeat) and one that is alive (fresh heartbeat)
    # (each takes a finished trial's parameters, so its family and that family's fields agree)
    study.enqueue_trial(done[0].params)
    dead = study.ask(dict(done[0].distributions))
    dead.set_user_attr("heartbeat", time.time() - 3600)
    study.enqueue_trial(done[1].params)
    alive = study.ask(dict(done[1].distributions))
    alive.set_user_attr("heartbeat", time.time())

    report = _run(roots, 3)
    trials = {t.number: t for t in _study(roots).get_trials()}
    complete = [t for t in trials.values() if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[alive.number].state == TrialState.RUNNING  # not ours to fail
    repeat = [t for t in complete if t.user_attrs.get("requeued_from") == dead.number]
    assert len(repeat) == 1 and repeat[0].params == trials[dead.number].params

    out = report.parent
    rows = _rows(out / "table.csv")
    assert [int(r["trial"]) for r in rows] == sorted(t.number for t in complete)
    for col in ("family", "params", "config", "lr", "w_soma", "val_auc", "test_auc", "pareto"):
        assert col in rows[0]
    assert {r["family"] for r in rows} <= {"gru", "tcn"}
    assert all(1e-3 <= float(r["lr"]) <= 1e-2 and 0 <= float(r["val_auc"]) <= 1 for r in rows)
    front = pareto_front([int(r["params"]) for r in rows], [float(r["val_auc"]) for r in rows])
    assert [i for i, r in enumerate(rows) if r["pareto"] == "yes"] == sorted(front.tolist())
    best = max(rows, key=lambda r: (float(r["val_auc"]), -int(r["params"])))
    text = report.read_text()
    assert f"Trial **{best['trial']}**" in text and "validation AUC" in text
    assert "3 complete, 1 fail, 1 running" in text
    assert (out / "auc_vs_params.png").stat().st_size > 5000
    assert (out / "table.md").read_text().count("\n") == 2 + 3

    # asking again for 3 trains nothing; a smaller budget is a different sweep
    best_pt = roots["runs_root"] / "sweeps/tiny/trial_0/checkpoints/best.pt"
    before = best_pt.stat().st_mtime_ns
    _run(roots, 3)
    assert len(_study(roots).get_trials(states=(TrialState.COMPLETE,))) == 3
    assert best_pt.stat().st_mtime_ns == before
    other = roots["config"].with_name("other.yaml")
    other.write_text(TINY.replace("steps: 2, batch_size: 2, window_ms: 256, val", "steps: 3, "
                                  "batch_size: 2, window_ms: 256, val"))  # fmt: skip
    with pytest.raises(ValueError, match="was started with other settings"):
        _run({**roots, "config": other}, 3)

    # the CLI continues the same study (random sampler), and reports
    res = CliRunner().invoke(app, [
        "sweep", "--study", "tiny", "--space", str(roots["space"]), "--trials", "3",
        "--scale", "smoke", "--config", str(roots["config"]), "--sampler", "random",
        "--results", str(roots["results_root"]), "--data-root", str(roots["data_root"]),
        "--runs-root", str(roots["runs_root"]), "--quiet", "--threads", "1",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"report: {report}"

    # a second worker with its own --seed joins the study and shares its dataset
    _run(roots, 4, seed=1)
    assert len(_study(roots).get_trials(states=(TrialState.COMPLETE,))) == 4


def test_ctrl_c_requeues_and_resumes(roots: dict[str, Path]) -> None:
    class Bar:
        def __init__(self, desc: str) -> None:
            self.desc = desc

        def update(self, n: int = 1) -> None:
            if self.desc.startswith("train") and n > 0:
                raise KeyboardInterrupt  # like Ctrl-C after the first step

    @contextlib.contextmanager
    def ctrl_c(desc: str, _total: int | None) -> Iterator[Bar]:
        yield Bar(desc)

    with pytest.raises(Interrupted):
        _run(roots, 1, name="ctrlc", bar=ctrl_c)
    study = _study(roots, "ctrlc")
    (failed,) = study.get_trials(states=(TrialState.FAIL,))
    runs = roots["runs_root"] / "sweeps" / "ctrlc"
    assert (runs / "trial_0" / "checkpoints" / "last.pt").is_file()
    _run(roots, 1, name="ctrlc")
    (done,) = _study(roots, "ctrlc").get_trials(states=(TrialState.COMPLETE,))
    assert done.user_attrs["requeued_from"] == failed.number and done.params == failed.params
    assert not (runs / "trial_0").exists()  # the repeat took the folder over and resumed it
    assert (
        json.loads((runs / f"trial_{done.number}" / "summary.json").read_text())[
            "resumed_from_step"
        ]
        == 1
    )


def test_requeue_stale_only_old_heartbeats(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s")
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    old, new = study.ask(dist), study.ask(dist)
    old.set_user_attr("heartbeat", time.time() - 100)
    new.set_user_attr("heartbeat", time.time())
    assert requeue_stale(study, stale_after_s=50) == [old.number]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].system_attrs["fixed_params"] == old.params
    assert waiting[0].user_attrs["requeued_from"] == old.number
    assert requeue_stale(study, stale_after_s=0) == [new.number]  # 0: every running trial


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"families": {"gru": {}}, "lr": 1e-3, "lrr": 1}, "unknown key.s. lrr"),
        ({"families": {"grux": {}}, "lr": 1e-3}, "families.grux: unknown twin"),
        ({"families": {"gru": {"hidden": [4]}}, "lr": 1e-3}, "families.gru.hidden: unknown"),
        ({"families": {"gru": {"in_channels": 3}}, "lr": 1e-3}, "in_channels: unknown"),
        ({"families": {"tcn": {"depth": {"low": 3, "high": 1}}}, "lr": 1e-3}, "low must be <="),
        ({"families": {"tcn": {"depth": {"lo": 1}}}, "lr": 1e-3}, "depth: a range needs low"),
        ({"families": {"tcn": {"width": []}}, "lr": 1e-3}, "width: choices must be a non-empty"),
        (
            {
                "families": {
                    "transformer": {"d_model": [6]},
                },
                "lr": 1e-3,
            },
            "families.transformer:",
        ),
        ({"families": {"gru": {}}}, "lr is missing"),
        (
            {"families": {"gru": {}}, "lr": {"low": 0, "high": 1e-3}},
            "lr: a log range needs low > 0",
        ),  # noqa: E501
        ({"families": {"gru": {}}, "lr": "fast"}, "lr must be a number"),
        (
            {"families": {"gru": {}}, "lr": 1e-3, "loss_weights": {"somma": 1}},
            "somma: unknown head",
        ),  # noqa: E501
        ({"families": {"gru": {}}, "lr": 1e-3, "loss_weights": {"soma": -1}}, "must be >= 0"),
        ({"families": {}, "lr": 1e-3}, "families must be a non-empty mapping"),
    ],
)
def test_bad_space_names_the_key(doc: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_space(doc, "space.yaml")


def test_spaces_and_scales() -> None:
    example = Path(__file__).parents[1] / "configs" / "sweep_space.yaml"
    assert load_space(example).to_dict() == load_space(None).to_dict()
    sp = load_space(None)
    assert set(sp.families) == {"tcn", "elm", "gru", "lstm", "transformer"}
    assert sp.lr.log and set(sp.loss_weights) == {"soma", "near_spike", "dend"}
    for scale in ("smoke", "demo", "full"):
        sc = load_scale("sweep", scale)
        assert sc.data == load_scale("complexity", scale).data  # shares the dataset
        assert sc.extra["trials"] >= 1 and sc.eval["protocols"] == ["tutorial"]


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "space.yaml"
    bad.write_text("families: {gru: {hidden: [4]}}\nlr: 1.0e-3\n")
    args = ["--results", str(tmp_path), "--runs-root", str(tmp_path), "--data-root", str(tmp_path)]
    for extra, message in (
        (["--space", str(bad)], "families.gru.hidden: unknown RecurrentConfig field"),
        (["--space", str(tmp_path / "none.yaml")], "does not exist"),
        (["--sampler", "grid"], "sampler must be one of tpe, random"),
        (["--scale", "huge"], "no scale 'huge'"),
        (["--trials", "0", "--scale", "smoke"], "trials must be >= 1"),
    ):
        res = runner.invoke(app, ["sweep", "--study", "t", *extra, *args])
        assert res.exit_code == 2, (extra, res.output)
        assert message in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["sweep", "--study", "a/b", *args])
    assert res.exit_code == 2 and "--study must be" in res.output
