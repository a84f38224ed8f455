"""Tests of inverse learning (neurotwin.inverse.{regressor,fit,ensemble,ood,evaluate,predict})
on a synthetic problem with a known answer: a trace ``x(t) = (0.8 + 0.5 z0) sin(2π t (3 +
1.5 z1)) + z2 t + noise`` of 128 samples from three scaled parameters z ∈ [-1, 1]³."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from neurotwin.inverse.ensemble import EnsembleConfig, load_estimator, train_ensemble
from neurotwin.inverse.evaluate import (
    calibration_curve,
    coverage,
    r2_per_param,
    residual_correlation,
    sample_coverage,
    traded_pairs,
)
from neurotwin.inverse.fit import FitConfig, FitInterrupted, fit_regressor, predict_array
from neurotwin.inverse.ood import perturb_traces
from neurotwin.inverse.regressor import InverseCNN, RegressorConfig

T = 128
MODEL = RegressorConfig(n_inputs=T, n_outputs=3, conv_filters=(8, 16), fc_sizes=(32,))
FIT = FitConfig(max_epochs=25, batch_size=64, lr=3e-3, patience=6)
META = {
    "params": [["amp", "mV", 0.0, 10.0], ["freq", "Hz", 1.0, 5.0], ["slope", "mV/s", -1, 1]],
    "dt_ms": 0.5,
    "transform": {"name": "identity"},
}


def synth(n: int, seed: int = 0, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    t = np.linspace(0, 1, T, dtype=np.float32)
    x = (0.8 + 0.5 * z[:, :1]) * np.sin(2 * np.pi * t * (3 + 1.5 * z[:, 1:2])) + z[:, 2:3] * t
    return (x + rng.normal(0, noise, x.shape)).astype(np.float32), z


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: on a small shared machine it is the fastest; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def estimator_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("inv") / "est"
    x, z = synth(1200)
    xv, zv = synth(400, seed=2)
    train_ensemble(out, x, z, xv, zv, model_cfg=MODEL, fit_cfg=FIT,
                   ens_cfg=EnsembleConfig(n_members=3), meta=META)  # fmt: skip
    torch.set_num_threads(before)
    yield out


# -- the regressor --------------------------------------------------------------------------
def test_regressor_shapes_and_bounded_output() -> None:
    net = InverseCNN(MODEL)
    x = torch.randn(5, T) * 1000  # huge inputs saturate the tanh but never pass ±1.2
    y = net(x)
    assert y.shape == (5, 3)
    assert bool((y.abs() < 1.2 + 1e-6).all())
    assert net.embed(x).shape == (5, MODEL.embedding_dim)
    with pytest.raises(ValueError, match=r"\(B, 128\)"):
        net(torch.randn(2, 100))


def test_regressor_config_validates() -> None:
    with pytest.raises(ValueError, match="kernel must be odd"):
        RegressorConfig(n_inputs=T, n_outputs=3, kernel=4)
    with pytest.raises(ValueError, match="too short"):
        RegressorConfig(n_inputs=8, n_outputs=3, conv_filters=(4, 4, 4, 4))
    with pytest.raises(ValueError, match="unknown regressor field"):
        RegressorConfig.from_dict({"n_inputs": 8, "n_outputs": 1, "width": 3})
    assert MODEL.replace(conv_filters=[4, 8]).conv_filters == (4, 8)
    assert FitConfig(lr="2e-3", max_epochs="5").lr == 2e-3  # YAML reads 2e-3 as a string
    with pytest.raises(ValueError, match="lr must be a number"):
        FitConfig(lr="fast")


def pulse_widths(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Traces with one pulse of width 1, 2 or 4 samples and area 4, inside one bin of 4
    samples: their 4-sample averages are identical, only the shape within the bin differs."""
    rng = np.random.default_rng(seed)
    width = rng.choice([1, 2, 4], n)
    x = np.zeros((n, T), np.float32)
    for row, w, start in zip(x, width, 4 * rng.integers(1, T // 4 - 1, n), strict=True):
        row[start : start + w] = 4.0 / w
    return x + rng.normal(0, 0.02, x.shape).astype(np.float32), ((width - 2.0) / 2)[:, None]


def test_input_conv_sees_within_a_bin_what_averaging_loses() -> None:
    """The learnable strided input stage (``input_conv``) tells pulse widths apart that an
    average pool of the same factor maps to the same features (the negative control)."""
    x, z = pulse_widths(1500, 0)
    xv, zv = pulse_widths(300, 1)
    xt, zt = pulse_widths(300, 2)
    base = RegressorConfig(n_inputs=T, n_outputs=1, input_pool=4, conv_filters=(8, 16),
                           fc_sizes=(32,))  # fmt: skip
    fit = FIT.replace(max_epochs=15, patience=15)
    r2 = {}
    for conv in (0, 8):
        cfg = base.replace(input_conv=conv)
        assert InverseCNN(cfg)(torch.as_tensor(xt[:2])).shape == (2, 1)
        res = fit_regressor(cfg, fit, x, z.astype(np.float32), xv, zv.astype(np.float32))
        r2[conv] = float(r2_per_param(zt, predict_array(res.model, xt))[0])
    assert r2[8] > 0.9, r2
    assert r2[0] < 0.2, r2  # averaging 4 samples erases the width
    with pytest.raises(ValueError, match="input_conv must be >= 0"):
        base.replace(input_conv=-1)


# -- training -------------------------------------------------------------------------------
@pytest.mark.slow
def test_fit_learns_known_answer_and_not_shuffled_targets() -> None:
    x, z = synth(1200)
    xv, zv = synth(300, seed=1)
    xt, zt = synth(300, seed=2)
    res = fit_regressor(MODEL, FIT, x, z, xv, zv)
    r2 = r2_per_param(zt, predict_array(res.model, xt))
    assert r2.min() > 0.95, r2
    # negative control: targets shuffled across traces carry no information
    zs = z[np.random.default_rng(3).permutation(len(z))]
    res = fit_regressor(MODEL, FIT.replace(max_epochs=10), x, zs, xv, zv)
    assert r2_per_param(zt, predict_array(res.model, xt)).max() < 0.2


def test_fit_resumes_with_identical_weights(tmp_path: Path) -> None:
    x, z = synth(200)
    xv, zv = synth(50, seed=1)
    cfg = FIT.replace(max_epochs=4, patience=10)
    ref = fit_regressor(MODEL, cfg, x, z, xv, zv)

    def stop_after_two(row: dict[str, float]) -> None:
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    ckpt = tmp_path / "state.pt"
    with pytest.raises(FitInterrupted):
        fit_regressor(MODEL, cfg, x, z, xv, zv, checkpoint=ckpt, progress=stop_after_two)
    res = fit_regressor(MODEL, cfg, x, z, xv, zv, checkpoint=ckpt)
    assert res.epochs == 4 and len(res.history) == 4
    for k, v in ref.model.state_dict().items():
        torch.testing.assert_close(res.model.state_dict()[k], v)
    with pytest.raises(ValueError, match="another configuration"):
        fit_regressor(MODEL, cfg.replace(lr=1e-4), x, z, xv, zv, checkpoint=ckpt)


def test_fit_rejects_bad_arrays() -> None:
    x, z = synth(20)
    with pytest.raises(ValueError, match="does not match"):
        fit_regressor(MODEL, FIT, x[:, :64], z, x[:, :64], z)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_regressor(MODEL, FIT, bad, z, x, z)
    with pytest.raises(ValueError, match="optimizer"):
        FitConfig(optimizer="sgd")


# -- metrics --------------------------------------------------------------------------------
def test_coverage_on_hand_made_cases() -> None:
    z = np.array([[0.0], [0.5], [1.0], [3.0]])
    mean = np.zeros((4, 1))
    std = np.ones((4, 1))
    assert coverage(z, mean, std, 1.0)[0] == 0.75  # |3| > 1
    assert coverage(z, mean, std, 0.4)[0] == 0.25
    rng = np.random.default_rng(0)
    zt = rng.normal(size=(20000, 2))
    nominal, observed = calibration_curve(zt, np.zeros_like(zt), np.ones_like(zt))
    np.testing.assert_allclose(observed, nominal, atol=0.01)
    _, over = calibration_curve(zt, np.zeros_like(zt), 3 * np.ones_like(zt))
    assert (over > nominal).all()
    samples = rng.normal(size=(400, 500, 2))
    nominal, observed = sample_coverage(rng.normal(size=(500, 2)), samples)
    np.testing.assert_allclose(observed, nominal, atol=0.04)
    np.testing.assert_allclose(r2_per_param(zt, zt), [1.0, 1.0])


def test_traded_pairs_name_the_parameters_the_trace_cannot_separate() -> None:
    """An estimator that recovers a + b but splits it wrongly (as when a trace fixes only a
    product, in log units): the residuals of a and b anticorrelate, c's are independent."""
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(5000, 3))
    shift = rng.normal(scale=0.3, size=5000)  # the unresolved direction, a − b
    pred = z + np.stack([shift, -shift, rng.normal(scale=0.3, size=5000)], axis=1)
    corr = residual_correlation(z, pred)
    pairs = traded_pairs(corr, ["a", "b", "c"])
    assert [p[:2] for p in pairs] == [("a", "b")]
    assert pairs[0][2] == pytest.approx(-1.0, abs=1e-9)
    assert traded_pairs(corr, ["a", "b", "c"], threshold=1.01) == []  # threshold respected
    # negative control: independent errors trade nothing
    independent = z + rng.normal(scale=0.3, size=z.shape)
    assert traded_pairs(residual_correlation(z, independent), ["a", "b", "c"]) == []
    with pytest.raises(ValueError, match=r"\(2, 2\) correlation matrix"):
        traded_pairs(corr, ["a", "b"])


# -- the ensemble, its calibration and the OOD flag ------------------------------------------
@pytest.mark.slow
def test_ensemble_accuracy_coverage_and_ood(estimator_dir: Path) -> None:
    est = load_estimator(estimator_dir)
    xt, zt = synth(600, seed=5)
    p = est.predict_features(xt)
    assert p.members.shape == (3, 600, 3) and p.std.shape == (600, 3)
    assert r2_per_param(zt, p.mean).mean() > 0.97
    c1 = coverage(zt, p.mean, p.std, 1.0).mean()
    c2 = coverage(zt, p.mean, p.std, 2.0).mean()
    assert abs(c1 - 0.683) < 0.1 and abs(c2 - 0.954) < 0.06, (c1, c2)
    assert p.flag.mean() < 0.12  # target 5%; 400 validation traces set the threshold
    # out of distribution: time-reversed traces, pure noise, a flat line
    rng = np.random.default_rng(6)
    rev = xt[:200, ::-1].copy()
    noise = rng.normal(0, 1, (200, T)).astype(np.float32)
    assert est.predict_features(rev).flag.mean() > 0.9
    assert est.predict_features(noise).flag.mean() > 0.9
    flat = np.full((3, T), 5.0, np.float32)
    pf = est.predict_features(flat)
    assert pf.flag.all()
    bad = xt[:2].copy()
    bad[:, 3] = np.nan
    assert est.predict_features(bad).flag.all()


@pytest.mark.slow
def test_ensemble_resumes_without_duplicating_work(tmp_path: Path) -> None:
    x, z = synth(300)
    xv, zv = synth(100, seed=1)
    fit = FIT.replace(max_epochs=3)
    ens = EnsembleConfig(n_members=3)
    out = tmp_path / "est"
    calls: list[tuple[int, int]] = []

    def stop_in_member_one(member: int, row: dict[str, float]) -> None:
        calls.append((member, int(row["epoch"])))
        if member == 1 and row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(FitInterrupted):
        train_ensemble(out, x, z, xv, zv, model_cfg=MODEL, fit_cfg=fit, ens_cfg=ens,
                       meta=META, progress=stop_in_member_one)  # fmt: skip
    assert (out / "members" / "member_00.pt").is_file()
    assert (out / "members" / "member_01.state.pt").is_file()
    with pytest.raises(ValueError, match="unfinished"):
        load_estimator(out)
    mtime = (out / "members" / "member_00.pt").stat().st_mtime_ns
    calls.clear()
    train_ensemble(out, x, z, xv, zv, model_cfg=MODEL, fit_cfg=fit, ens_cfg=ens, meta=META,
                   progress=lambda m, r: calls.append((m, int(r["epoch"]))))  # fmt: skip
    assert calls == [(1, 3), (2, 1), (2, 2), (2, 3)]  # member 0 skipped, member 1 resumed
    assert (out / "members" / "member_00.pt").stat().st_mtime_ns == mtime
    assert not (out / "members" / "member_01.state.pt").exists()
    assert load_estimator(out).manifest["complete"]
    # another OOD target only recalibrates: no member is trained again
    calls.clear()
    ens10 = EnsembleConfig(n_members=3, ood_false_alarm=0.1)
    train_ensemble(out, x, z, xv, zv, model_cfg=MODEL, fit_cfg=fit, ens_cfg=ens10, meta=META,
                   progress=lambda m, r: calls.append((m, int(r["epoch"]))))  # fmt: skip
    assert calls == [] and load_estimator(out).ood.false_alarm == 0.1
    with pytest.raises(ValueError, match="another fit configuration"):
        train_ensemble(out, x, z, xv, zv, model_cfg=MODEL, fit_cfg=fit.replace(lr=1e-2),
                       ens_cfg=ens, meta=META)  # fmt: skip


@pytest.mark.slow
def test_parallel_members_match_serial_ones_and_resume(tmp_path: Path) -> None:
    """jobs=2 trains members in two processes with the weights of one at a time, reports every
    epoch, and after a stop resumes each member from its saved epoch."""
    from neurotwin.interrupt import StopFlag

    x, z = synth(300)
    xv, zv = synth(100, seed=1)
    kw = {"model_cfg": MODEL, "fit_cfg": FIT.replace(max_epochs=3),
          "ens_cfg": EnsembleConfig(n_members=3), "meta": META}  # fmt: skip
    serial = train_ensemble(tmp_path / "serial", x, z, xv, zv, **kw)
    stopped = StopFlag()
    stopped.stop = True  # as if Ctrl-C came at once: every running member stops after an epoch
    out = tmp_path / "parallel"
    with pytest.raises(FitInterrupted):
        train_ensemble(out, x, z, xv, zv, jobs=2, stop=stopped, **kw)
    assert len(list((out / "members").glob("member_*.state.pt"))) >= 2
    assert not list((out / "members").glob(".arrays.*"))  # the shared arrays are removed
    calls: set[tuple[int, int]] = set()
    par = train_ensemble(out, x, z, xv, zv, jobs=2,
                         progress=lambda m, r: calls.add((m, int(r["epoch"]))), **kw)  # fmt: skip
    assert {(m, 3) for m in range(3)} <= calls and (0, 1) not in calls  # resumed, not redone
    for a, b in zip(serial.members, par.members, strict=True):
        for k, v in a.state_dict().items():
            torch.testing.assert_close(b.state_dict()[k], v, rtol=0, atol=0)
    with pytest.raises(ValueError, match="jobs must be"):
        train_ensemble(out, x, z, xv, zv, jobs=0, **kw)


def test_perturbations_change_traces() -> None:
    rng = np.random.default_rng(0)
    v = np.linspace(-80, 20, 100, dtype=np.float32)[None].repeat(2, 0)
    assert perturb_traces(v, "clipped", rng).max() == -30.0
    tr = perturb_traces(v, "truncated", rng)
    assert (tr[:, 60:] == v[:, 59:60]).all()
    assert not np.allclose(perturb_traces(v, "noise", rng), v)
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb_traces(v, "bogus", rng)


# -- predict: trace files and the command ---------------------------------------------------
def _write_nwb(path: Path, *sweeps: np.ndarray, rate_hz: float) -> None:
    """Sweeps (mV) as current-clamp series ccs, ccs1, ccs2, ..."""
    from datetime import datetime

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.icephys import CurrentClampSeries

    nwb = NWBFile("test", "t1", datetime(2024, 1, 1, tzinfo=UTC))
    dev = nwb.create_device("amp")
    elec = nwb.create_icephys_electrode(name="e0", description="soma", device=dev)
    for i, v_mv in enumerate(sweeps):
        nwb.add_acquisition(CurrentClampSeries(name=f"ccs{i or ''}", data=v_mv / 1e3,
                                               electrode=elec, rate=rate_hz, gain=1.0,
                                               starting_time=0.0))  # fmt: skip
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_load_trace_formats_and_resampling(tmp_path: Path, estimator_dir: Path) -> None:
    from neurotwin.inverse.predict import fit_to_estimator, load_trace

    est = load_estimator(estimator_dir)
    x, _ = synth(1, seed=9)
    v = x[0]
    np.save(tmp_path / "a.npy", v)
    tr = load_trace(tmp_path / "a.npy", dt_ms=0.5)
    np.testing.assert_allclose(tr.v_mv, v)
    t = np.arange(T) * 0.5
    np.savetxt(tmp_path / "b.csv", np.c_[t, v], delimiter=",", header="t_ms,v_mV", comments="")
    tr = load_trace(tmp_path / "b.csv")
    assert tr.dt_ms == pytest.approx(0.5)
    np.testing.assert_allclose(tr.v_mv, v, atol=1e-5)
    _write_nwb(tmp_path / "c.nwb", v.astype(np.float64), rate_hz=2000.0)
    tr = load_trace(tmp_path / "c.nwb")
    assert tr.dt_ms == pytest.approx(0.5)
    np.testing.assert_allclose(tr.v_mv, v, atol=1e-4)
    # the same trace sampled twice as finely is resampled, with a note
    fine = np.interp(np.arange(2 * T) * 0.25, t, v).astype(np.float32)
    np.save(tmp_path / "fine.npy", fine)
    tr = fit_to_estimator(load_trace(tmp_path / "fine.npy", dt_ms=0.25), est)
    assert len(tr.v_mv) == T and any("resampled from 0.25 ms" in n for n in tr.notes)
    np.testing.assert_allclose(tr.v_mv[5:-5], v[5:-5], atol=0.15)
    with pytest.raises(ValueError, match="expects 128 samples"):
        fit_to_estimator(load_trace(tmp_path / "a.npy", dt_ms=1.0), est)


def test_load_trace_layouts_sweeps_and_window(tmp_path: Path, estimator_dir: Path) -> None:
    from neurotwin.inverse.predict import fit_to_estimator, load_trace

    est = load_estimator(estimator_dir)
    x, _ = synth(2, seed=9)
    v, w = x[0].astype(np.float64), x[1].astype(np.float64)
    t = np.arange(T) * 0.5
    # separators other than commas, a header, and rows instead of columns
    for sep in (";", "\t", " "):
        np.savetxt(tmp_path / "s.csv", np.c_[t, v], delimiter=sep, header="t_ms V_mV",
                   comments="")  # fmt: skip
        tr = load_trace(tmp_path / "s.csv")
        assert tr.dt_ms == pytest.approx(0.5)
        np.testing.assert_allclose(tr.v_mv, v, atol=1e-5)
    np.save(tmp_path / "rows.npy", np.stack([t, v]))
    np.testing.assert_allclose(load_trace(tmp_path / "rows.npy").v_mv, v, atol=1e-6)
    # an NWB file with two sweeps: the first by default (with a note), the other by name
    _write_nwb(tmp_path / "two.nwb", v, w, rate_hz=2000.0)
    tr = load_trace(tmp_path / "two.nwb")
    np.testing.assert_allclose(tr.v_mv, v, atol=1e-4)
    assert any("2 current-clamp series" in n and "ccs1" in n for n in tr.notes)
    np.testing.assert_allclose(load_trace(tmp_path / "two.nwb", series="ccs1").v_mv, w, atol=1e-4)
    with pytest.raises(ValueError, match="no current-clamp series 'x'; it holds ccs, ccs1"):
        load_trace(tmp_path / "two.nwb", series="x")
    with pytest.raises(ValueError, match="applies to .nwb files only"):
        load_trace(tmp_path / "rows.npy", series="ccs")
    # a recording with 10 ms of baseline before the stimulus and 20 ms after: its window
    rec = np.r_[np.full(20, v[0]), v, np.full(40, v[-1])]
    np.save(tmp_path / "rec.npy", rec)
    tr = fit_to_estimator(load_trace(tmp_path / "rec.npy", dt_ms=0.5, start_ms=10.0), est)
    np.testing.assert_array_equal(tr.v_mv, v.astype(np.float32))
    assert any("used 10–74 ms of the 94 ms trace" in n for n in tr.notes)
    wrong = fit_to_estimator(load_trace(tmp_path / "rec.npy", dt_ms=0.5, start_ms=9.0), est)
    assert not np.array_equal(wrong.v_mv, v.astype(np.float32))  # negative control
    with pytest.raises(ValueError, match="--start-ms"):  # the hint names the way out
        fit_to_estimator(load_trace(tmp_path / "rec.npy", dt_ms=0.5), est)
    with pytest.raises(ValueError, match="needs it to reach 95 ms"):
        fit_to_estimator(load_trace(tmp_path / "rec.npy", dt_ms=0.5, start_ms=31.0), est)
    with pytest.raises(ValueError, match="start_ms must be >= 0"):
        load_trace(tmp_path / "rec.npy", start_ms=-1.0)


def test_predict_command(tmp_path: Path, estimator_dir: Path) -> None:
    from neurotwin.cli import app

    runner = CliRunner()
    x, z = synth(1, seed=11)
    np.save(tmp_path / "t.npy", x[0])
    r = runner.invoke(app, ["inverse", "predict", "--estimator", str(estimator_dir),
                            "--trace", str(tmp_path / "t.npy"), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [p["name"] for p in out["params"]] == ["amp", "freq", "slope"]
    np.testing.assert_allclose([p["z"] for p in out["params"]], z[0], atol=0.2)
    amp = out["params"][0]
    assert amp["low_1sigma"] < amp["value"] < amp["high_1sigma"]
    assert out["out_of_range"] is False
    r = runner.invoke(app, ["inverse", "predict", "--estimator", str(estimator_dir),
                            "--trace", str(tmp_path / "t.npy")])  # fmt: skip
    assert r.exit_code == 0 and "verdict: in range" in r.output and "amp" in r.output
    # bad input: one line, exit 2
    np.save(tmp_path / "short.npy", x[0, :50])
    (tmp_path / "t.txt").write_text("1,2")
    for args, msg in (
        (["--estimator", str(tmp_path / "nope"), "--trace", str(tmp_path / "t.npy")],
         "not an estimator folder"),
        (["--estimator", str(estimator_dir), "--trace", str(tmp_path / "short.npy")],
         "expects 128 samples"),
        (["--estimator", str(estimator_dir), "--trace", str(tmp_path / "t.txt")],
         "unsupported trace format"),
        (["--estimator", str(estimator_dir), "--trace", str(tmp_path / "missing.npy")],
         "does not exist"),
    ):  # fmt: skip
        r = runner.invoke(app, ["inverse", "predict", *args])
        assert r.exit_code == 2, r.output
        assert msg in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_predict_many_traces_table_csv_json(tmp_path: Path, estimator_dir: Path) -> None:
    """A folder of traces and every sweep of an NWB file: one batch, one row each, the same
    estimates as one trace at a time; a bad trace stops the batch before anything is written."""
    import csv

    from neurotwin.cli import app

    runner = CliRunner()
    x, _ = synth(4, seed=12)
    folder = tmp_path / "cells"
    folder.mkdir()
    np.save(folder / "a.npy", x[0])
    np.save(folder / "b.npy", x[1])
    (folder / "readme.txt").write_text("not a trace")  # skipped: not a trace format
    _write_nwb(tmp_path / "two.nwb", x[2].astype(np.float64), x[3].astype(np.float64),
               rate_hz=2000.0)  # fmt: skip
    est = ["--estimator", str(estimator_dir)]
    many = ["--trace", str(folder), "--trace", str(tmp_path / "two.nwb"), "--all-series"]
    table = tmp_path / "est.csv"
    r = runner.invoke(app, ["inverse", "predict", *est, *many, "--out", str(table)])
    assert r.exit_code == 0, r.output
    labels = [str(folder / "a.npy"), str(folder / "b.npy"), f"{tmp_path / 'two.nwb'}[ccs]",
              f"{tmp_path / 'two.nwb'}[ccs1]"]  # fmt: skip
    for label in labels:
        assert any(line.startswith(label + " ") for line in r.stdout.splitlines()), label
    assert "4 traces, " in r.stdout and f"wrote {table}" in r.stdout
    rows = list(csv.DictReader(table.open()))
    assert [row["trace"] for row in rows] == labels
    amp = [c for c in rows[0] if c.startswith("amp [")]
    assert amp and {"amp low", "amp high"} <= set(rows[0])
    # each row equals the single-trace estimate of the same trace
    for k, (label, row) in enumerate(zip(labels, rows, strict=True)):
        path = folder / f"{'ab'[k]}.npy" if k < 2 else tmp_path / "two.nwb"
        single = ["--trace", str(path)] + (["--series", "ccs" + ("1" if k == 3 else "")]
                                           if k >= 2 else [])  # fmt: skip
        one = json.loads(runner.invoke(app, ["inverse", "predict", *est, *single, "--json"]).stdout)
        assert float(row[amp[0]]) == pytest.approx(one["params"][0]["value"], rel=1e-5), label
    assert float(rows[0][amp[0]]) != pytest.approx(float(rows[1][amp[0]]), rel=1e-3)  # control
    r = runner.invoke(app, ["inverse", "predict", *est, *many, "--json"])
    out = json.loads(r.stdout)
    assert [o["trace"] for o in out] == labels and len(out[0]["params"]) == 3
    # without --all-series an NWB file gives its first sweep
    r = runner.invoke(app, ["inverse", "predict", *est, *many[:-1], "--json"])
    assert [o["trace"] for o in json.loads(r.stdout)] == labels[:3]
    # bad input: one line, exit 2, no table
    np.save(folder / "c_short.npy", x[0, :50])
    (tmp_path / "empty").mkdir()
    table.unlink()
    for args, msg in (
        ([*many, "--out", str(table)], "c_short.npy: the trace has 50 samples"),
        ([*many, "--refine"], "--refine takes one trace; got 5"),
        ([*many, "--series", "ccs"], "--series and --all-series exclude each other"),
        (["--trace", str(folder / "a.npy"), "--out", str(tmp_path / "e.txt")], "must end in .csv"),
        (["--trace", str(tmp_path / "empty")], "holds no trace files"),
    ):  # fmt: skip
        r = runner.invoke(app, ["inverse", "predict", *est, *args])
        assert r.exit_code == 2, r.output
        assert msg in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not table.exists() and not list(tmp_path.glob(".est.csv*"))


# -- end to end on Izhikevich traces (part 1's simulator and dataset) -------------------------
TINY = ["--set", "model.input_pool=16", "--set", "model.conv_filters=[4,8]",
        "--set", "model.fc_sizes=[16]", "--set", "fit.max_epochs=3",
        "--set", "fit.batch_size=32"]  # fmt: skip


@pytest.mark.slow
def test_izhikevich_make_train_evaluate_predict(tmp_path: Path) -> None:
    from neurotwin.cli import app
    from neurotwin.inverse.data import make_inverse_dataset, open_inverse_dataset

    data = tmp_path / "izh"
    make_inverse_dataset(data, "izhikevich", 200, seed=0, workers=1)
    runner = CliRunner()
    est = tmp_path / "inv_izh"
    r = runner.invoke(app, ["inverse", "train", "--data", str(data), "--out", str(est),
                            "--members", "2", "-q", *TINY])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "mean R²" in r.output and (est / "eval" / "metrics.json").is_file()
    manifest = json.loads((est / "estimator.json").read_text())
    assert manifest["meta"]["simulator"]["name"] == "izhikevich"
    assert manifest["meta"]["transform"]["name"] == "log10_v81"
    r = runner.invoke(app, ["inverse", "evaluate", "--estimator", str(est), "--data", str(data),
                            "--out", str(tmp_path / "ev")])  # fmt: skip
    assert r.exit_code == 0, r.output
    for png in ("scatter", "corner", "residual_corr", "calibration"):
        assert (tmp_path / "ev" / f"{png}.png").is_file()
    # predict a test trace given as (time, V) CSV at twice the sampling interval, with --plot
    v = open_inverse_dataset(data).split("test").traces_mv[0]
    t = np.arange(len(v)) * 0.1
    np.savetxt(tmp_path / "tr.csv", np.c_[t[::2], v[::2]], delimiter=",")
    args = ["--estimator", str(est), "--trace", str(tmp_path / "tr.csv")]
    r = runner.invoke(app, ["inverse", "predict", *args, "--plot", str(tmp_path / "fit.png")])
    assert r.exit_code == 0, r.output
    assert "resampled from 0.2 ms to 0.1 ms" in r.output and "verdict:" in r.output
    assert (tmp_path / "fit.png").is_file()
    # a longer recording gives the same estimate once --start-ms cuts the window out of it
    np.save(tmp_path / "tr.npy", v)
    np.save(tmp_path / "rec.npy", np.r_[np.full(500, v[0]), v, np.full(300, v[-1])])
    outs = []
    for extra in ([str(tmp_path / "tr.npy")], [str(tmp_path / "rec.npy"), "--start-ms", "50"]):
        r = runner.invoke(app, ["inverse", "predict", "--estimator", str(est), "--json",
                                "--trace", *extra])  # fmt: skip
        assert r.exit_code == 0, r.output
        outs.append(json.loads(r.output)["params"])
    assert outs[0] == outs[1]
    # many traces with --plot: one panel each, all re-simulated in one batch (= one at a time)
    from neurotwin.inverse.ensemble import load_estimator
    from neurotwin.inverse.predict import resimulate

    np.save(tmp_path / "tr2.npy", open_inverse_dataset(data).split("test").traces_mv[1])
    r = runner.invoke(app, ["inverse", "predict", "--estimator", str(est), "--trace",
                            str(tmp_path / "tr.npy"), "--trace", str(tmp_path / "tr2.npy"),
                            "--plot", str(tmp_path / "many.png"), "--json"])  # fmt: skip
    assert r.exit_code == 0 and f"wrote {tmp_path / 'many.png'}" in r.stderr, r.output
    assert len(json.loads(r.stdout)) == 2  # the note about the figure stays off stdout
    assert (tmp_path / "many.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    theta = np.array([[p["value"] for p in outs[0]], [0.02, 0.2, -65.0, 8.0]])
    both, _ = resimulate(load_estimator(est), theta)
    for k in range(2):
        np.testing.assert_array_equal(both[k], resimulate(load_estimator(est), theta[k])[0])
    assert not np.array_equal(both[0], both[1])  # two cells, two traces
    # a trace in volts is refused in one line
    np.save(tmp_path / "volts.npy", v / 1000)
    r = runner.invoke(app, ["inverse", "predict", "--estimator", str(est), "--trace",
                            str(tmp_path / "volts.npy")])  # fmt: skip
    assert r.exit_code == 2 and "must be in mV, not volts" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    # --refine: the fit reproduces the trace at least as well as the estimate
    args = ["--estimator", str(est), "--trace", str(tmp_path / "tr.npy"), "--refine", "--json"]
    r = runner.invoke(app, ["inverse", "predict", *args])
    assert r.exit_code == 0, r.output
    refined = json.loads(r.output)["refined"]
    assert [p["name"] for p in refined["params"]] == ["a", "b", "c", "d"]
    assert refined["rms_mV"] <= refined["rms_start_mV"] and refined["n_sims"] > 4
    assert refined["n_starts"] == 3  # the estimate and each of the two members'
    for p in refined["params"]:  # the best fit lies inside the range of the close fits
        assert (p["low"] is None) == (refined["n_within_tol"] == 0)
        if p["low"] is not None:
            assert p["low"] <= p["value"] <= p["high"]
    r = runner.invoke(app, ["inverse", "predict", *args[:-1], "--tol-mv", "1000"])
    assert r.exit_code == 0 and "3 of the 3 fits reproduce the trace to 1000 mV" in r.output
    r = runner.invoke(app, ["inverse", "evaluate", "--estimator", str(est), "--data", str(data),
                            "--out", str(tmp_path / "ev"), "--refine", "2", "--workers", "1",
                            "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "refined fits of 2 traces" in r.output and "equivalent far fits" in r.output
    rep = json.loads((tmp_path / "ev" / "refine.json").read_text())
    assert rep["n"] == 2 and len(rep["traces"]) == 2 and (tmp_path / "ev" / "refine.png").is_file()
    assert all(t["rms_mV"] <= t["rms_start_mV"] for t in rep["traces"])
    r = runner.invoke(app, ["inverse", "evaluate", "--estimator", str(est), "--data", str(data),
                            "--refine", "1"])  # fmt: skip
    assert r.exit_code == 2 and "--refine must be >= 2" in r.output
    # the same folder with another configuration is refused in one line
    r = runner.invoke(app, ["inverse", "train", "--data", str(data), "--out", str(est),
                            "--members", "3", "-q", *TINY])  # fmt: skip
    assert r.exit_code == 2 and "another ensemble configuration" in r.output


@pytest.fixture(scope="module")
def izh_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from neurotwin.inverse.data import make_inverse_dataset

    data = tmp_path_factory.mktemp("izh") / "izh"
    make_inverse_dataset(data, "izhikevich", 200, seed=1, workers=1)
    return data


@pytest.mark.slow
def test_search_resumes_and_requeues_a_stale_trial(tmp_path: Path, izh_data: Path) -> None:
    import optuna
    import yaml
    from optuna.trial import TrialState

    from neurotwin.inverse.search import run_search

    out = tmp_path / "search"
    # input_conv is searched (0 or 16) unless fixed, as here
    kw = {"max_epochs": 1, "max_train": 64, "model_sets": {"input_pool": 16, "input_conv": 8}}
    best = run_search(izh_data, out, n_trials=2, **kw)
    assert best["value"] > 0 and (out / "best.yaml").is_file()
    sets = yaml.safe_load((out / "best.yaml").read_text())
    assert sets["model.input_pool"] == 16 and sets["model.input_conv"] == 8 and "fit.lr" in sets
    from neurotwin.cli import app

    r = CliRunner().invoke(app, ["inverse", "train", "--data", str(izh_data), "--out",
                                 str(tmp_path / "est"), "--config", str(out / "best.yaml"),
                                 "--members", "2", "--set", "fit.max_epochs=1", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "est" / "estimator.json").read_text())
    assert manifest["fit"]["lr"] == pytest.approx(sets["fit.lr"])
    assert manifest["fit"]["max_epochs"] == 1 and manifest["model"]["input_conv"] == 8
    # a session killed inside a trial leaves it RUNNING: the rerun fails it, reruns its params
    study = optuna.load_study(study_name="inverse", storage=f"sqlite:///{out / 'search.db'}")
    stale = study.ask()
    stale.suggest_categorical("kernel", [3, 5, 7, 9])
    run_search(izh_data, out, n_trials=3, **kw)
    trials = optuna.load_study(
        study_name="inverse", storage=f"sqlite:///{out / 'search.db'}"
    ).trials
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1
    assert trials[-1].params["kernel"] == stale.params["kernel"]


@pytest.mark.slow
def test_learning_curve_and_posterior(tmp_path: Path, izh_data: Path) -> None:
    from neurotwin.inverse.posterior import run_posterior
    from neurotwin.inverse.search import run_learning_curve

    sets = {"model.input_pool": 16, "model.conv_filters": (4, 8), "model.fc_sizes": (16,),
            "fit.max_epochs": 2}  # fmt: skip
    rows = run_learning_curve(izh_data, tmp_path / "lc", [40, 80], sets=sets)
    assert [r["n_train"] for r in rows] == [40, 80]
    assert (tmp_path / "lc" / "learning_curve.png").is_file()
    again = run_learning_curve(izh_data, tmp_path / "lc", [40, 80], sets=sets)
    assert [r["train_s"] for r in again] == [r["train_s"] for r in rows]  # not retrained
    with pytest.raises(ValueError, match="exceeds"):
        run_learning_curve(izh_data, tmp_path / "lc", [10_000], sets=sets)
    tiny = {"input_pool": 16, "conv_filters": (4, 8), "fc_sizes": (16,)}
    res = run_posterior(izh_data, tmp_path / "post", max_test=10, max_epochs=2, n_samples=50,
                        model_sets=tiny)  # fmt: skip
    assert 0 <= res["coverage_1sigma"] <= 1 and len(res["expected_coverage"]["observed"]) == 6
    assert (tmp_path / "post" / "posterior.pt").is_file()
    again = run_posterior(izh_data, tmp_path / "post", max_test=10, max_epochs=2, n_samples=50,
                          model_sets=tiny)  # fmt: skip
    assert again["train_s"] == res["train_s"]  # samples reused, nothing retrained


@pytest.mark.slow
@pytest.mark.neuron
def test_demo_writes_report_with_cross_model_ood(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neurotwin.inverse import study

    tiny = {"n": {"izhikevich": 200}, "max_train": {}, "members": 2,
            "model": {"input_pool": 16, "conv_filters": (4, 8), "fc_sizes": (16,)},
            "fit": {"max_epochs": 2, "batch_size": 32}, "n_cross": 8,
            "posterior_epochs": 1, "posterior_train": 100, "posterior_test": 10}  # fmt: skip
    monkeypatch.setitem(study.SCALES, "tiny", tiny)
    report = study.run_inverse_demo("tiny", out=tmp_path, simulators=["izhikevich"])
    text = report.read_text()
    assert "| izhikevich | 200 (160) |" in text
    assert "cross-model: hh_ball2sticks" in text and "cross-model: mainen" in text
    for png in ("scatter", "calibration", "ood_scores", "posterior/calibration"):
        assert (tmp_path / "izhikevich" / f"{png}.png").is_file()
    with pytest.raises(ValueError, match="unknown scale"):
        study.run_inverse_demo("huge", out=tmp_path)
