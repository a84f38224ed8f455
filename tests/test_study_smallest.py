"""The smallest-network study at a tiny scale, its answers, the inference-cost measurement."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from neurotwin.cli import app
from neurotwin.evaluate.cost import CostConfig
from neurotwin.experiments.common import load_scale
from neurotwin.experiments.smallest import (
    agreement,
    answer_lines,
    parse_candidates,
    run_smallest,
    winners,
)
from neurotwin.plots.studies import pareto_front

pytestmark = pytest.mark.slow

# Smaller than the smoke scale of studies.yaml (D trains in seconds); a complexity block of the
# same scale stands in for the complexity study's settings.
TINY = """
complexity:
  smoke:
    data: {train: 4, valid: 2, test: 4, duration_ms: 1024}
    train: {steps: 2, batch_size: 2, window_ms: 256, val_every: 2, val_max_sims: 2}
    eval: {window_ms: 256, protocols: [tutorial]}
smallest:
  smoke:
    data: {train: 4, valid: 2, test: 4, duration_ms: 1024}
    train: {steps: {default: 2, gru_8: 3}, batch_size: 2, window_ms: 256, val_every: 2,
            val_max_sims: 2}
    cost: {threads: 1, repeats: 2}
    candidates:
      - {name: tcn_A, family: tcn, preset: A}
      - {name: gru_8, family: gru, overrides: {hidden_sizes: [8]}}
      - {name: lstm_8, family: lstm, overrides: {hidden_sizes: [8]}}
"""
COLUMNS = ["name", "family", "params", "inference_s", "peak_mem_MiB", "auc", "beats_D"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("smallest")
    (root / "tiny.yaml").write_text(TINY)
    roots = {
        "config": root / "tiny.yaml",
        "results_root": root / "results",
        "data_root": root / "data",
        "runs_root": root / "runs",
    }
    try:
        report = run_smallest("smoke", workers=1, **roots)
        yield {"report": report, **roots}
    finally:
        torch.set_num_threads(before)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_table_plots_report(tiny: dict[str, Path]) -> None:
    out = tiny["report"].parent
    rows = _rows(out / "table.csv")
    assert list(rows[0])[: len(COLUMNS)] == COLUMNS
    assert [r["name"] for r in rows] == ["tcn_D", "tcn_A", "gru_8", "lstm_8"]
    assert rows[0]["beats_D"] == "reference" and int(rows[0]["params"]) == 922892
    assert {r["beats_D"] for r in rows[1:]} <= {"yes", "no"}
    for r in rows:
        assert float(r["inference_s"]) > 0 and float(r["peak_mem_MiB"]) >= 0
        assert 0 <= float(r["auc"]) <= 1
    assert int(rows[2]["steps"]) == 3  # the per-candidate step budget
    assert (out / "table.md").read_text().count("\n") == 2 + 4
    for col in ("params", "inference_s", "peak_mem_MiB"):
        assert (out / f"pareto_{col}.png").stat().st_size > 5000
    text = tiny["report"].read_text()
    assert "By **parameter count**" in text and "By **peak memory**" in text
    assert "notions agree" in text or "notions disagree" in text or "No candidate" in text
    assert "1 torch thread(s)" in text and "cpu, batch 4" in text
    # D lives in the complexity study's run folder, the candidates in the study's own
    assert (tiny["runs_root"] / "complexity/smoke/cable_nmda/tcn_D/checkpoints/best.pt").is_file()
    assert (tiny["runs_root"] / "smallest/smoke/cable_nmda/gru_8/summary.json").is_file()


def test_rerun_reuses_runs_and_costs(tiny: dict[str, Path]) -> None:
    d = tiny["runs_root"] / "complexity/smoke/cable_nmda/tcn_D/checkpoints/best.pt"
    cost = tiny["report"].parent / "cost" / "gru_8.json"
    before = (d.stat().st_mtime_ns, cost.stat().st_mtime_ns)
    run_smallest("smoke", workers=1, **{k: v for k, v in tiny.items() if k != "report"})
    assert (d.stat().st_mtime_ns, cost.stat().st_mtime_ns) == before


def _row(name: str, params: int, t: float, mem: float, auc: float, beats: bool | None) -> dict:
    fam = name.split("_")[0]
    return {"name": name, "family": fam, "params": params, "inference_s": t,
            "peak_mem_MiB": mem, "auc": auc, "beats_D": beats}  # fmt: skip


def test_winners_and_agreement() -> None:
    d = _row("tcn_D", 922380, 1.0, 50.0, 0.90, None)
    agree = [d, _row("gru_8", 500, 0.1, 1.0, 0.91, True), _row("tcn_A", 100, 0.01, 0.5, 0.8, False),
             _row("elm_10", 900, 0.2, 2.0, 0.95, True)]  # fmt: skip
    w = winners(agree)
    assert {k: v["name"] for k, v in w.items()} == dict.fromkeys(w, "gru_8")
    assert agreement(w).startswith("The three notions agree: **gru_8**")
    # elm is fastest and leanest, gru has the fewest parameters: they disagree
    disagree = [*agree[:3], _row("elm_10", 900, 0.05, 0.8, 0.95, True)]
    w = winners(disagree)
    assert w["params"]["name"] == "gru_8" and w["inference_s"]["name"] == "elm_10"
    sentence = agreement(w)
    assert sentence.startswith("The three notions disagree")
    assert "by parameter count **gru_8**" in sentence and "by peak memory **elm_10**" in sentence
    none = [d, _row("tcn_A", 100, 0.01, 0.5, 0.8, False)]
    assert all(v is None for v in winners(none).values())
    assert agreement(winners(none)).startswith("No candidate beats D")
    lines = answer_lines(none, 0.9)
    assert lines[0] == "- By **parameter count**: no candidate beats D."
    assert (
        "**gru_8** (gru, 500 parameters; AUC 0.9100 vs D's 0.9000)" in answer_lines(agree, 0.9)[0]
    )


def test_pareto_front_on_the_table() -> None:
    rows = [_row("a", 10, 0, 0, 0.80, None), _row("b", 20, 0, 0, 0.90, None),
            _row("c", 30, 0, 0, 0.85, None), _row("d", 40, 0, 0, 0.95, None)]  # fmt: skip
    idx = pareto_front([r["params"] for r in rows], [r["auc"] for r in rows])
    assert [rows[i]["name"] for i in idx] == ["a", "b", "d"]


def test_candidates_and_scales_validate(tmp_path: Path) -> None:
    for scale in ("smoke", "demo", "full"):
        sc = load_scale("smallest", scale)
        cands = parse_candidates(sc.extra["candidates"])
        assert {c.family for c in cands} >= {"tcn", "elm", "gru", "lstm", "transformer"}
        assert sc.data == load_scale("complexity", scale).data
        CostConfig(**sc.extra["cost"])
        for c in cands:
            sc.train_overrides(c.name)  # every candidate has a step budget
    with pytest.raises(ValueError, match="unknown twin 'tcnn'"):
        parse_candidates([{"name": "x", "family": "tcnn"}])
    with pytest.raises(ValueError, match="unknown RecurrentConfig field"):
        parse_candidates([{"name": "x", "family": "gru", "overrides": {"hidden": 3}}])
    with pytest.raises(ValueError, match="duplicate name"):
        parse_candidates([{"name": "x", "family": "gru"}, {"name": "x", "family": "lstm"}])
    with pytest.raises(ValueError, match="reserved"):
        parse_candidates([{"name": "tcn_D", "family": "tcn", "preset": "D"}])
    with pytest.raises(ValueError, match="cost.threads must be an int >= 1"):
        CostConfig(threads=0)
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("test: 4, duration_ms: 1024}\n    train: {steps: {", "test: 3, "
                                "duration_ms: 1024}\n    train: {steps: {"))  # fmt: skip
    with pytest.raises(ValueError, match="must equal complexity.smoke.data"):
        run_smallest("smoke", config=bad, results_root=tmp_path, data_root=tmp_path,
                     runs_root=tmp_path)  # fmt: skip


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["study", "smallest", "--scale", "huge"])
    assert res.exit_code == 2 and "no scale 'huge'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["study", "smallest", "--scale", "smoke", "--cost-threads", "0"])
    assert res.exit_code == 2 and "--cost-threads must be >= 1" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("family: lstm", "family: lstmm"))
    res = runner.invoke(app, ["study", "smallest", "--scale", "smoke", "--config", str(bad)])
    assert res.exit_code == 2 and "unknown twin 'lstmm'" in res.output
