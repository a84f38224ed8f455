"""Tests of fitting the simulator to a trace (neurotwin.inverse.refine): exact recovery for a
smooth toy simulator, equivalent fits where two parameters have the same effect, the smoothing
stages aligning spikes the raw trace cannot, bad input, the resumable journal, and
``compensation`` (API and CLI). ``evaluate --refine`` and ``predict --refine`` are exercised
end to end in tests/test_inverse_learn.py's Izhikevich test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from neurotwin.inverse.refine import FAR, Refined, fit_trace, refine_summary
from neurotwin.inverse.simulators import InverseSimulator, ParamSpec, from_scaled, get_simulator
from neurotwin.inverse.simulators import to_scaled as scaled
from neurotwin.inverse.stimuli import Stimulus, make_stimulus

T = 60


@dataclass(frozen=True)
class Bumps(InverseSimulator):
    """A smooth nonlinear toy: V(t) = 20 (1 + z_a/2) exp(−(t − 3 − z_b)²/2) − 5 (z_c + z_d) mV
    over 6 ms; with ``twin`` only z_c + z_d is seen (the last term), else z_d is also the width's
    (t − 3 − z_b)² / (2 (1.2 + z_d/2)²)."""

    name: ClassVar[str] = "bumps"
    all_params: ClassVar[tuple[ParamSpec, ...]] = tuple(
        ParamSpec(n, "1", 0.0, 2.0) for n in ("a", "b", "c", "d")
    )
    twin: bool = False

    def default_stimulus(self) -> Stimulus:
        return make_stimulus("step", duration_ms=6.0, delay_ms=0.0)

    def _simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        z = scaled(theta, self.all_params)
        t = np.arange(stimulus.num_samples) * stimulus.dt_ms
        width = np.ones(len(z)) if self.twin else 1.2 + z[:, 3] / 2
        bump = np.exp(-((t - 3 - z[:, 1:2]) ** 2) / (2 * width[:, None] ** 2))
        return 20 * (1 + z[:, :1] / 2) * bump - 5 * (z[:, 2:3] + z[:, 3:4])


def _trace(sim: InverseSimulator, z: np.ndarray) -> np.ndarray:
    return sim.simulate(from_scaled(z[None], sim.params))[0]


def test_the_fit_recovers_a_smooth_model_exactly_and_never_gets_worse() -> None:
    sim = Bumps()
    stim = sim.default_stimulus()
    z = np.array([0.3, -0.4, 0.5, -0.2])
    start = z + np.array([0.3, 0.4, -0.3, 0.3])
    fit = fit_trace(sim, stim, _trace(sim, z), start)
    assert fit.rms_start_mV > 3.0  # the start is visibly off
    assert fit.rms_mV < 1e-3
    np.testing.assert_allclose(fit.z, z, atol=1e-3)
    assert 0 < fit.n_sims < 500
    # negative control: one evaluation per stage cannot get there
    short = fit_trace(sim, stim, _trace(sim, z), start, max_evals=1)
    assert short.rms_mV <= short.rms_start_mV  # never worse than the start ...
    assert np.abs(short.z - z).max() > 0.05  # ... but not at the truth


def test_equivalent_fits_are_counted_where_two_parameters_act_alike() -> None:
    """With ``twin``, c and d act only through c + d: a fit from a start that moves them apart
    reproduces the trace exactly with both off; a, b stay recovered."""
    sim = Bumps(twin=True)
    stim = sim.default_stimulus()
    rng = np.random.default_rng(1)
    z_true = rng.uniform(-0.5, 0.5, (6, 4))
    starts = z_true + np.array([0.1, -0.1, 0.6, -0.6])  # c + d unchanged, each 0.6 off
    fits = [fit_trace(sim, stim, _trace(sim, z), s) for z, s in zip(z_true, starts, strict=True)]
    out = refine_summary(z_true, starts, fits, ["a", "b", "c", "d"], tol_mV=0.1)
    assert out["share_within_tol"] == 1.0
    assert out["params"]["a"]["r2_refined"] > 0.99 and out["params"]["b"]["r2_refined"] > 0.99
    assert out["params"]["c"]["share_equivalent_far"] == 1.0  # 0.6 >= FAR off, trace exact
    assert out["params"]["d"]["share_equivalent_far"] == 1.0
    assert out["params"]["a"]["share_equivalent_far"] == 0.0
    assert out["share_equivalent_far"] == 1.0 and FAR == 0.5
    # negative control: without the twin, d is also the bump's width and is recovered
    sim = Bumps()
    fits = [fit_trace(sim, stim, _trace(sim, z), s) for z, s in zip(z_true, starts, strict=True)]
    out = refine_summary(z_true, starts, fits, ["a", "b", "c", "d"], tol_mV=0.1)
    assert out["share_within_tol"] == 1.0 and out["share_equivalent_far"] == 0.0
    assert out["params"]["d"]["r2_refined"] > 0.99


@dataclass(frozen=True)
class Spikes(InverseSimulator):
    """Six 60 mV spikes 0.3 ms wide at t_i = 10 + i (8 + 3 z_a) + 2 z_b ms over 70 ms: moving
    z_a by 0.2 shifts the later spikes by more than their width."""

    name: ClassVar[str] = "spikes"
    all_params: ClassVar[tuple[ParamSpec, ...]] = tuple(
        ParamSpec(n, "1", 0.0, 2.0) for n in ("a", "b")
    )

    def default_stimulus(self) -> Stimulus:
        return make_stimulus("step", duration_ms=70.0, delay_ms=0.0)

    def _simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        z = scaled(theta, self.all_params)
        t = np.arange(stimulus.num_samples) * stimulus.dt_ms
        times = 10 + np.arange(6) * (8 + 3 * z[:, :1]) + 2 * z[:, 1:2]  # (N, 6)
        return 60 * np.exp(-((t[None, None] - times[..., None]) ** 2) / (2 * 0.3**2)).sum(1)


def test_smoothing_stages_align_spikes_the_raw_fit_cannot() -> None:
    sim = Spikes()
    stim = sim.default_stimulus()
    z = np.array([0.1, -0.2])
    start = z + np.array([0.25, 0.1])
    staged = fit_trace(sim, stim, _trace(sim, z), start)
    assert staged.rms_start_mV > 5.0
    assert staged.rms_mV < 0.01 * staged.rms_start_mV
    np.testing.assert_allclose(staged.z, z, atol=1e-3)
    # negative control: the raw trace alone, with the same number of evaluations
    raw = fit_trace(sim, stim, _trace(sim, z), start, smooth_ms=(0.0,), max_evals=45)
    assert raw.rms_mV > 0.5 * raw.rms_start_mV


def test_bad_input_is_refused() -> None:
    sim = Bumps()
    stim = sim.default_stimulus()
    v = _trace(sim, np.zeros(4))
    with pytest.raises(ValueError, match="60 samples"):
        fit_trace(sim, stim, v[:50], np.zeros(4))
    with pytest.raises(ValueError, match="non-finite"):
        fit_trace(sim, stim, np.where(np.arange(T) == 3, np.nan, v), np.zeros(4))
    with pytest.raises(ValueError, match="step"):
        fit_trace(sim, stim, v, np.zeros(4), step=0.5)
    with pytest.raises(ValueError, match="smooth_ms"):
        fit_trace(sim, stim, v, np.zeros(4), smooth_ms=(-1.0,))


def test_fit_many_keeps_done_fits_and_the_journal_resumes(tmp_path: Path) -> None:
    from neurotwin.inverse.refine import _journal_writer, _read_journal, fit_many

    sim = get_simulator("izhikevich")
    stim = make_stimulus("step", amplitude_nA=0.05, duration_ms=60.0, delay_ms=5.0)
    meta = {"simulator": {"name": sim.name, "settings": sim.settings()},
            "stimulus": stim.to_dict()}  # fmt: skip
    z = np.array([[0.1, 0.2, -0.3, 0.4], [-0.2, 0.1, 0.0, -0.5], [0.3, -0.4, 0.2, 0.0]])
    v = sim.simulate(from_scaled(z, sim.params), stim)
    z0 = z + 0.05
    sig = {"estimator": "e", "opts": {"smooth_ms": [4.0, 1.0, 0.0]}}
    journal = tmp_path / "refine.partial.jsonl"
    seen: list[int] = []
    write = _journal_writer(journal, sig, z0)

    def on_fit(i: int, fit: Refined) -> None:
        seen.append(i)
        write(i, fit)

    full = fit_many(meta, v, z0, on_fit=on_fit, max_evals=3)
    assert sorted(seen) == [0, 1, 2] and all(f.rms_mV <= f.rms_start_mV for f in full)
    # an interruption cut the last line short: the two whole fits are kept, one is redone
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])
    done = _read_journal(journal, sig, z0)
    assert sorted(done) == [0, 1]
    seen.clear()
    again = fit_many(meta, v, z0, done=done, on_fit=on_fit, max_evals=3)
    assert seen == [2]  # only the missing fit ran
    for a, b in zip(again, full, strict=True):
        np.testing.assert_allclose(a.z, b.z, atol=1e-12)
    assert sorted(_read_journal(journal, sig, z0)) == [0, 1, 2]  # every line whole again
    # negative controls: other starts are not reused; another signature starts afresh
    assert sorted(_read_journal(journal, sig, z0 + 0.01)) == []
    assert _read_journal(journal, {**sig, "estimator": "other"}, z0) == {}
    assert not journal.exists()


def test_compensation_finds_what_the_others_make_up_for() -> None:
    """Bumps with ``twin``: moving c is made up for exactly by d (c + d is all the trace
    sees); a (the bump's height) nothing else can make up for. Without ``twin``, d is also
    the width, so moving c leaves a residue (negative control)."""
    from neurotwin.inverse.refine import compensation

    res = compensation(Bumps(twin=True), shift=0.4, n_points=4, seed=2)
    done = np.isfinite(res.alone[:, 2])  # c's moves that stay in the prior
    np.testing.assert_allclose(res.alone[:, 2][done], 2.0, rtol=1e-6)  # 5 mV per unit × 0.4
    # where d can move back by 0.4 without leaving the prior, it makes up for c exactly
    room = done & (np.abs(res.z[:, 3:4] - np.array([0.4, -0.4])) <= 1.0)
    assert room.sum() >= 3
    assert res.refit[:, 2][room].max() < 1e-3
    np.testing.assert_allclose(res.moved[:, 2][room], 0.4, atol=1e-3)
    twin = res.summary()
    assert twin["a"]["refit_mV"] > 0.5 * twin["a"]["alone_mV"] > 1.0
    plain = compensation(Bumps(), shift=0.4, n_points=4, seed=2)
    assert np.nanmin(plain.refit[:, 2][room]) > 0.05
    with pytest.raises(ValueError, match="shift"):
        compensation(Bumps(), shift=0.0)


def test_compensation_command(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from neurotwin.cli import app

    runner = CliRunner()
    args = ["inverse", "compensation", "--model", "izhikevich", "--points", "1", "--workers",
            "1", "--set", "duration_ms=60", "--set", "amplitude_nA=0.1"]  # fmt: skip
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out["params"]) == {"a", "b", "c", "d"} and out["n_sims"] > 0
    for p in out["params"].values():
        assert p["refit_mV"] <= p["alone_mV"] + 1e-9 or p["n"] == 0
    png = tmp_path / "comp.png"
    r = runner.invoke(app, [*args, "--params", "d", "--json", "--plot", str(png)])
    assert r.exit_code == 0 and set(json.loads(r.output)["params"]) == {"d"}, r.output
    assert png.stat().st_size > 5000
    r = runner.invoke(app, [*args[:-4], "--shift", "2"])
    assert r.exit_code == 2 and "shift must be in (0, 1]" in r.output
    r = runner.invoke(app, [*args, "--params", "e"])
    assert r.exit_code == 2 and "unknown parameter(s) e" in r.output
