"""Tests of the local identifiability analysis (neurotwin.inverse.identifiability): exact
Cramér–Rao bounds for a linear toy simulator (including a parameter pair the trace cannot
separate), the Izhikevich cell's reset parameters unseen without spikes, and the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from neurotwin.cli import app
from neurotwin.inverse.identifiability import local_identifiability
from neurotwin.inverse.simulators import InverseSimulator, ParamSpec, get_simulator, to_scaled
from neurotwin.inverse.stimuli import Stimulus, make_stimulus

T = 50
A = np.random.default_rng(0).normal(size=(T, 3))


@dataclass(frozen=True)
class Linear(InverseSimulator):
    """V = A z (mV) for scaled parameters z: the Fisher information is exactly AᵀA / σ²."""

    name: ClassVar[str] = "linear"
    all_params: ClassVar[tuple[ParamSpec, ...]] = tuple(
        ParamSpec(n, "1", 0.0, 2.0) for n in ("p", "q", "r")
    )
    columns: tuple[int, ...] = (0, 1, 2)

    def default_stimulus(self) -> Stimulus:
        return make_stimulus("step", duration_ms=5.0, delay_ms=0.0)

    def _simulate(self, theta: np.ndarray, stimulus: Stimulus) -> np.ndarray:
        return to_scaled(theta, self.all_params) @ A[:, list(self.columns)].T


def test_linear_simulator_gives_the_exact_bound_and_scales_with_noise() -> None:
    res = local_identifiability(Linear(), n_points=3, noise_mV=2.0)
    exact = 2.0 * np.sqrt(np.diag(np.linalg.inv(A.T @ A)))
    np.testing.assert_allclose(res.sd, np.tile(exact, (3, 1)), rtol=1e-6)
    np.testing.assert_allclose(res.rms_mV, np.sqrt((A**2).mean(0)), rtol=1e-6)
    np.testing.assert_allclose(res.r2_bound, 1 - 3 * exact**2, rtol=1e-6)
    # negative control: q's effect is r's (same column): neither can be told apart
    twin = local_identifiability(Linear(columns=(0, 2, 2)), n_points=3)
    assert twin.sd_median[0] < 0.5 and twin.sd_median[1] > 1e3 and twin.sd_median[2] > 1e3
    assert twin.r2_bound[1] == twin.r2_bound[2] == 0.0  # no better than the prior


def test_izhikevich_reset_parameters_are_unseen_without_spikes() -> None:
    sim = get_simulator("izhikevich")
    hyper = local_identifiability(sim, make_stimulus("step", amplitude_nA=-0.05,
                                                     duration_ms=200.0), n_points=8)  # fmt: skip
    sd = dict(zip(hyper.names, hyper.sd_median, strict=True))
    assert sd["b"] < 0.01 and sd["a"] < 0.2  # the subthreshold response shows a and b
    assert sd["c"] > 1e3 and sd["d"] > 1e3  # the reset (c, d) acts only after a spike
    spiking = local_identifiability(sim, make_stimulus("step", amplitude_nA=0.3,
                                                       duration_ms=200.0), n_points=8)  # fmt: skip
    assert spiking.r2_bound.min() > 0.99
    with pytest.raises(ValueError, match="step"):
        local_identifiability(sim, step=0.0)


def test_cli_prints_the_bounds_and_json() -> None:
    args = ["inverse", "identifiability", "--model", "izhikevich", "--stimulus", "step",
            "--set", "amplitude_nA=-0.05", "--set", "duration_ms=100", "--points", "4"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "Cramér–Rao" in r.output and "best R²" in r.output
    r = CliRunner().invoke(app, [*args, "--json"])
    d = json.loads(r.output)
    assert d["n_points"] == 4 and d["params"]["c"]["r2_bound"] < d["params"]["b"]["r2_bound"]
    r = CliRunner().invoke(app, [*args, "--points", "0"])
    assert r.exit_code != 0 and "n_points" in r.output
