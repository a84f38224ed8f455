"""The ball-and-stick cell on NEURON: reference traces, cable theory, event delivery, batching.

Tiers (STYLE.md): analytic (passive input resistance and time constant vs cable theory), live
comparisons with ../shared/reference (skipped when absent) with a negative control, and
self-consistency (queue delivery == one NetStim per event; batch == one by one).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import neurotwin
from neurotwin.cells import preset
from neurotwin.sim.cells.ball_and_stick import SOMA_DIAM_UM, SOMA_L_UM, BallAndStickModel

pytestmark = pytest.mark.neuron

REFERENCE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "reference"
    / "ball_and_stick_public.npz"
)
VARIANTS = {
    "point_ampa": ("point_ampa", {}),
    "cable_nmda_human": ("cable_nmda", {}),
    "cable_nmda_rodent": ("cable_nmda", {"synapse": "nmda_rodent"}),
    "cable_nmda_human_ske2": ("cable_nmda", {"ske2_factor": 1.0}),
}
SPIKE_TOL_MS = 0.1
RMSE_TOL_MV = 0.1


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    if not REFERENCE.is_file():
        pytest.skip(f"reference traces not found at {REFERENCE}")
    with np.load(REFERENCE) as d:
        return {k: d[k] for k in d.files}


def compare_to_reference(
    ref: dict[str, np.ndarray], variant: str, cell, backend: str = "neuron"
) -> dict[str, float]:
    """Worst spike-time error (inf if the counts differ), worst subthreshold soma RMSE (samples
    more than 5 ms away from any reference spike) and worst dendrite deviation."""
    results = neurotwin.simulate(cell, ref["inputs"], backend=backend)
    counts = ref[f"{variant}/spike_counts"]
    ref_times = np.split(ref[f"{variant}/spike_times_ms"], np.cumsum(counts)[:-1])
    worst = {"spike_ms": 0.0, "rmse_mV": 0.0, "dend_mV": 0.0}
    t = np.arange(ref["inputs"].shape[-1])
    for k, res in enumerate(results):
        if len(res.spike_times_ms) != len(ref_times[k]):
            worst["spike_ms"] = math.inf
        elif len(ref_times[k]):
            worst["spike_ms"] = max(
                worst["spike_ms"], float(np.abs(res.spike_times_ms - ref_times[k]).max())
            )
        near = np.zeros(t.shape, bool)
        for st in ref_times[k]:
            near |= np.abs(t - st) <= 5
        err = res.soma_v[~near] - ref[f"{variant}/soma_v"][k][~near]
        worst["rmse_mV"] = max(worst["rmse_mV"], float(np.sqrt(np.mean(err**2))))
        # the reference stores dendrites through float16: compare at that resolution
        ref_d = ref[f"{variant}/dend_v"][k]
        worst["dend_mV"] = max(
            worst["dend_mV"],
            float(np.abs(res.dend_v.astype(np.float16).astype(np.float32) - ref_d).max()),
        )
    return worst


@pytest.mark.parametrize("backend", ["neuron", "batched"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_matches_reference(reference, variant, backend):
    name, overrides = VARIANTS[variant]
    worst = compare_to_reference(reference, variant, preset(name, **overrides), backend)
    assert worst["spike_ms"] <= SPIKE_TOL_MS, worst
    assert worst["rmse_mV"] <= RMSE_TOL_MV, worst
    # float16 resolution of the stored dendrites is 1/32 mV near -60 mV, 1/16 above 64 mV
    assert worst["dend_mV"] <= 0.0625, worst


@pytest.mark.parametrize(
    "perturbation",
    [
        {"soma_g_pas_S_cm2": 3.3e-5},  # soma leak +10 %
        {"g_max_gaba_uS": 0.0011},  # inhibition +10 %
        {"rho_factor": 0.97},  # channel densities -3 %
    ],
)
def test_reference_negative_control(reference, perturbation):
    worst = compare_to_reference(
        reference, "cable_nmda_human", preset("cable_nmda", **perturbation)
    )
    assert worst["spike_ms"] > SPIKE_TOL_MS or worst["rmse_mV"] > RMSE_TOL_MV, worst


# -- analytic: passive cell vs cable theory ---------------------------------------------------
def _step_response(cell, amp_nA: float, duration_ms: float) -> tuple[np.ndarray, float]:
    model = BallAndStickModel(cell, n=1)
    h = model.h
    stim = h.IClamp(model.soma[0](0.5))
    stim.delay, stim.dur, stim.amp = 0.0, 1e9, amp_nA
    v = h.Vector()
    v.record(model.soma[0](0.5)._ref_v)
    h.CVode().active(0)
    h.dt = cell.dt_ms
    h.finitialize(-85.0)
    while h.t < duration_ms - cell.dt_ms / 2:
        h.fadvance()
    return np.array(v), cell.dt_ms


def cable_input_resistance_MOhm(cell) -> float:
    """Soma (lumped, leak soma_g_pas) in parallel with a sealed-end finite cable, reached
    through the axial resistance of half the soma cylinder."""
    ra, rm = cell.Ra_ohm_cm, cell.dend_Rm_ohm_cm2
    d_cm, length_cm = cell.dend_diam_um * 1e-4, cell.dend_L_um * 1e-4
    lam_cm = math.sqrt(rm * d_cm / (4 * ra))
    r_inf = 4 * ra * lam_cm / (math.pi * d_cm**2) / 1e6  # MΩ
    r_cable = r_inf / math.tanh(length_cm / lam_cm)
    r_soma_half = 0.01 * ra * (SOMA_L_UM / 2) / (math.pi * (SOMA_DIAM_UM / 2) ** 2)
    g_soma = cell.soma_g_pas_S_cm2 * math.pi * SOMA_L_UM * SOMA_DIAM_UM * 1e-8 * 1e6  # µS
    return 1.0 / (g_soma + 1.0 / (r_soma_half + r_cable))


@pytest.mark.parametrize("name", ["point_ampa", "cable_nmda"])
def test_passive_input_resistance(name):
    cell = preset(name, rho_factor=0.0, num_segments=64)  # no active channels
    amp = 0.005
    v, _ = _step_response(cell, amp, 400.0)
    r_in = (v[-1] - (-85.0)) / amp  # mV / nA = MΩ
    expected = cable_input_resistance_MOhm(cell)
    assert r_in == pytest.approx(expected, rel=0.01)
    # negative control: the same measurement misses a 10 % change of the dendritic Rm
    wrong = cable_input_resistance_MOhm(
        preset(name, rho_factor=0.0, num_segments=64, dend_Rm_ohm_cm2=22000.0)
    )
    assert abs(r_in - wrong) / wrong > 0.01


@pytest.mark.parametrize("name", ["point_ampa", "cable_nmda"])
def test_passive_membrane_time_constant(name):
    # a uniform membrane (soma leak = 1/Rm): the slowest mode decays with tau = Rm * Cm
    rm = 20000.0
    cell = preset(name, rho_factor=0.0, num_segments=32, soma_g_pas_S_cm2=1 / rm)
    v, dt = _step_response(cell, 0.005, 260.0)
    t = np.arange(v.size - 1) * dt
    # dV/dt ~ exp(-t/tau) once faster modes have gone (the cable's next mode has tau ~ 11 ms)
    rate = np.diff(v)
    window = (t >= 150) & (t <= 250)
    slope = np.polyfit(t[window], np.log(rate[window]), 1)[0]
    tau = -1.0 / slope
    expected = rm * cell.cm_uF_cm2 * 1e-3  # Ω·cm² × µF/cm² → ms
    assert tau == pytest.approx(expected, rel=0.01)
    assert abs(tau - 1.1 * expected) / (1.1 * expected) > 0.01  # negative control


# -- event delivery and batching --------------------------------------------------------------
def _random_inputs(cell, n: int, t_ms: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.random((n, *cell.input_shape, t_ms)) < 0.06) * rng.uniform(
        0, 6, (n, *cell.input_shape, t_ms)
    )
    x[..., 0] = 2.0  # events at t = 0 are delivered during initialisation
    return x.astype(np.float16).astype(np.float32)


def test_event_queue_equals_one_netstim_per_event():
    cell = preset("cable_nmda")
    x = _random_inputs(cell, 2, 300, seed=1)
    model = BallAndStickModel(cell, n=2)
    model.set_inputs(x)
    queue_soma, queue_dend = model.run(300)
    model.set_inputs_netstim(x)
    stim_soma, stim_dend = model.run(300)
    for a, b in zip(queue_soma + queue_dend, stim_soma + stim_dend, strict=True):
        np.testing.assert_array_equal(a, b)
    # the inputs matter (guards against both paths ignoring events)
    model.set_inputs(np.zeros_like(x))
    quiet_soma, _ = model.run(300)
    assert np.abs(quiet_soma[0] - queue_soma[0]).max() > 1.0


def test_batch_equals_one_by_one():
    cell = preset("point_ampa")
    x = _random_inputs(cell, 3, 250, seed=2)
    batch = neurotwin.simulate(cell, x, backend="neuron")
    for k in range(3):
        single = neurotwin.simulate(cell, x[k], backend="neuron")
        np.testing.assert_array_equal(single.soma_v, batch[k].soma_v)
        np.testing.assert_array_equal(single.dend_v, batch[k].dend_v)
        np.testing.assert_array_equal(single.spike_times_ms, batch[k].spike_times_ms)


def test_result_shapes_and_sampling():
    cell = preset("point_ampa", num_segments=4)
    x = _random_inputs(cell, 1, 120, seed=3)[0]
    res = neurotwin.simulate(cell, x, keep_hr=True, backend="neuron")
    assert res.soma_v.shape == (120,)
    assert res.dend_v.shape == (4, 120)
    assert res.spikes.shape == (120,) and res.spikes.dtype == bool
    assert res.soma_v_hr.shape == (40 * 120 + 1,)
    np.testing.assert_array_equal(res.soma_v, res.soma_v_hr[::40][:120])
    assert res.soma_v[0] == pytest.approx(-85.0)  # finitialize(-85), sampled at t = 0
    assert np.array_equal(np.flatnonzero(res.spikes), np.unique(res.spike_times_ms.astype(int)))


def test_bad_inputs_raise():
    cell = preset("point_ampa")
    good = np.zeros((2, 8, 10), np.float32)
    with pytest.raises(ValueError, match="shape"):
        neurotwin.simulate(cell, np.zeros((3, 8, 10)))
    with pytest.raises(ValueError, match="NaN"):
        neurotwin.simulate(cell, np.where(good == 0, np.nan, good))
    with pytest.raises(ValueError, match=">= 0"):
        neurotwin.simulate(cell, good - 1)
    with pytest.raises(ValueError, match="dtype"):
        neurotwin.simulate(cell, good.astype(object))
    with pytest.raises(ValueError, match="backend"):
        neurotwin.simulate(cell, good, backend="gpu")
    with pytest.raises(TypeError):
        neurotwin.simulate("point_ampa", good)


def test_temperature_set_by_another_model_does_not_leak():
    """The inverse simulators set h.celsius (6.3 or 37 °C) in the same process; the
    ball-and-stick must still run at NEURON's default 6.3 °C (its Nernst eca, spec §5.7)."""
    from neuron import h

    cell = preset("cable_nmda")
    x = _random_inputs(cell, 1, 400, seed=4)[0]
    before = neurotwin.simulate(cell, x, backend="neuron", keep_hr=True)
    assert len(before.spike_times_ms) > 0  # spikes, so calcium (and eca) matter
    try:
        h.celsius = 37.0
        after = neurotwin.simulate(cell, x, backend="neuron", keep_hr=True)
    finally:
        h.celsius = 6.3
    np.testing.assert_array_equal(before.soma_v_hr, after.soma_v_hr)
