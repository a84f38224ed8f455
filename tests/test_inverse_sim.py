"""Tests of the inverse-problem simulators (neurotwin.inverse): stimuli, the Izhikevich cell
against hand-checkable facts, the HH ball and two sticks (geometry, rest, spikes, passive input
resistance) and the reduced Mainen cell (tonic firing, the dendritic load, negative controls)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurotwin.inverse.izhikevich import resting_state
from neurotwin.inverse.simulators import (
    from_scaled,
    get_simulator,
    sample_theta,
    simulator_names,
    to_scaled,
)
from neurotwin.inverse.stimuli import KINDS, Stimulus, make_stimulus


def spike_times_ms(v: np.ndarray, dt_ms: float, threshold_mV: float = 0.0) -> np.ndarray:
    """Upward crossings of ``threshold_mV`` (ms)."""
    return np.flatnonzero((v[1:] >= threshold_mV) & (v[:-1] < threshold_mV)) * dt_ms


# -- stimuli ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_stimulus_shapes_windows_and_round_trip(kind):
    stim = make_stimulus(kind, duration_ms=100.0, delay_ms=10.0, stim_ms=80.0, reset_ms=10.0)
    i = stim.current_nA()
    assert i.shape == (1000,) == (stim.num_samples,)
    assert np.all(i[:100] == stim.baseline_nA)  # before the window
    assert np.all(i[900:] == stim.baseline_nA)  # after it
    assert Stimulus.from_dict(stim.to_dict()) == stim
    assert np.array_equal(Stimulus.from_dict(stim.to_dict()).current_nA(), i)


def test_stimulus_waveforms():
    step = make_stimulus("step", amplitude_nA=0.2, duration_ms=50.0, delay_ms=10.0, stim_ms=20.0)
    i = step.current_nA()
    assert np.all(i[100:300] == 0.2) and i[99] == 0 and i[300] == 0
    ramp = make_stimulus("ramp", ramp_start_nA=0.0, amplitude_nA=1.0, delay_ms=0.0, stim_ms=400.0)
    r = ramp.current_nA()
    assert np.all(np.diff(r) > 0) and r[0] == 0 and r[-1] == pytest.approx(1.0, abs=1e-3)
    chirp = make_stimulus(amplitude_nA=0.3, offset_nA=0.2, reset_nA=-0.5)
    c = chirp.current_nA()
    assert np.all(c[200:400] == -0.5)  # the 20 ms reset after a 20 ms delay
    body = c[400:3800]
    assert body.max() == pytest.approx(0.5, abs=1e-3)
    assert body.min() == pytest.approx(-0.1, abs=1e-3)
    # frequency rises: zero crossings of the oscillation get denser
    up = np.flatnonzero((body[1:] >= 0.2) & (body[:-1] < 0.2))
    assert np.diff(up)[0] > 1.8 * np.diff(up)[-1]
    noise = make_stimulus("noise", offset_nA=0.1, noise_std_nA=0.05)
    n = noise.current_nA()[200:3800]
    assert abs(n.mean() - 0.1) < 0.02 and 0.03 < n.std() < 0.07
    again = make_stimulus("noise", offset_nA=0.1, noise_std_nA=0.05).current_nA()
    assert np.array_equal(n, again[200:3800])  # one seeded waveform


def test_test_pulse_precedes_the_stimulus():
    base = dict(duration_ms=600.0, delay_ms=200.0, stim_ms=360.0)
    plain = make_stimulus(**base).current_nA()
    pulsed = make_stimulus(**base, pulse_nA=-0.1, pulse_ms=100.0, pulse_start_ms=20.0)
    i = pulsed.current_nA()
    assert np.all(i[200:1200] == -0.1) and i[199] == 0 and i[1200] == 0
    assert np.array_equal(i[1200:], plain[1200:])  # the stimulus itself is untouched
    assert np.array_equal(np.delete(i, np.s_[200:1200]), np.delete(plain, np.s_[200:1200]))
    assert Stimulus.from_dict(pulsed.to_dict()) == pulsed
    assert np.all(make_stimulus(**base, pulse_nA=-0.1).current_nA() == plain)  # pulse_ms 0: off


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "sine"}, "kind"),
        ({"dt_ms": 0.0}, "dt_ms"),
        ({"duration_ms": -1.0}, "duration_ms"),
        ({"stim_ms": 500.0}, "stim_ms"),
        ({"f1_hz": -2.0}, "f1_hz"),
        ({"amplitude_nA": float("nan")}, "amplitude_nA"),
        ({"bogus": 1}, "bogus"),
        ({"pulse_ms": 30.0, "pulse_start_ms": 0.0}, "pulse_start_ms"),  # overlaps the window
        ({"pulse_ms": -1.0}, "pulse_ms"),
    ],
)
def test_stimulus_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        make_stimulus(**overrides)


# -- registry, scaling -----------------------------------------------------------------------
def test_registry_and_scaling_round_trip():
    assert simulator_names() == ["izhikevich", "hh_ball2sticks", "mainen"]
    for name in simulator_names():
        sim = get_simulator(name)
        theta = sample_theta(sim.params, 500, np.random.default_rng(1))
        z = to_scaled(theta, sim.params)
        assert z.min() >= -1 and z.max() <= 1
        np.testing.assert_allclose(from_scaled(z, sim.params), theta, rtol=1e-12, atol=1e-9)
        lows = np.array([p.low for p in sim.params])
        np.testing.assert_allclose(to_scaled(lows[None], sim.params), -1.0)
    with pytest.raises(ValueError, match="unknown simulator"):
        get_simulator("nope")
    with pytest.raises(ValueError, match="bogus"):
        get_simulator("mainen", bogus=1)
    with pytest.raises(ValueError, match="dend_soma_ratio"):
        get_simulator("mainen", dend_soma_ratio=-1)
    with pytest.raises(ValueError, match="shape"):
        get_simulator("izhikevich").simulate(np.zeros((2, 3)))


# -- Izhikevich --------------------------------------------------------------------------------
RS = np.array([[0.02, 0.2, -65.0, 8.0]])


def test_izhikevich_rest_is_the_analytic_fixed_point():
    sim = get_simulator("izhikevich")
    quiet = make_stimulus("step", amplitude_nA=0.0, duration_ms=200.0)
    v = sim.simulate(RS, quiet)[0]
    # 0.04 v² + 4.8 v + 140 = 0 → v = (−4.8 − 0.8) / 0.08 = −70 mV
    np.testing.assert_allclose(v, -70.0, atol=1e-4)
    for b in (0.15, 0.25):
        v_rest, u_rest = resting_state(np.array([0.02]), np.array([b]), np.array([-65.0]), 0.0)
        assert 0.04 * v_rest[0] ** 2 + (5 - b) * v_rest[0] + 140 == pytest.approx(0, abs=1e-9)
        theta = np.array([[0.02, b, -65.0, 8.0]])
        assert sim.simulate(theta, quiet)[0][-1] == pytest.approx(v_rest[0], abs=1e-3)


def test_izhikevich_regular_spiking_step_and_reset():
    sim = get_simulator("izhikevich")  # I = 100 · nA
    step = make_stimulus("step", amplitude_nA=0.1, duration_ms=500.0, delay_ms=50.0, stim_ms=400.0)
    v = sim.simulate(RS, step)[0]
    spikes = spike_times_ms(v, step.dt_ms)
    assert 6 <= len(spikes) <= 25  # tonic spiking at I = 10
    assert spikes[0] > 50.0 and spikes[-1] < 450.0  # only during the step
    isi = np.diff(spikes)
    assert isi[-1] >= isi[0]  # adaptation, not acceleration
    assert np.ptp(isi[-3:]) < 0.1 * isi[-1]  # settles to a tonic rhythm
    peaks = np.flatnonzero(v >= 30.0)
    assert len(peaks) == len(spikes)  # one 30 mV sample per spike
    assert np.all(np.abs(v[peaks + 1] - (-65.0)) < 3.0)  # reset to c
    # negative control: I = 2 is below rheobase (no spike); a bigger d slows the rhythm
    weak = make_stimulus("step", amplitude_nA=0.02, duration_ms=500.0, delay_ms=50.0, stim_ms=400.0)
    assert len(spike_times_ms(sim.simulate(RS, weak)[0], 0.1)) == 0
    slow = sim.simulate(np.array([[0.02, 0.2, -65.0, 10.0]]), step)[0]
    assert len(spike_times_ms(slow, 0.1)) < len(spikes)


def test_izhikevich_batch_equals_single_runs():
    sim = get_simulator("izhikevich")
    theta = sample_theta(sim.params, 5, np.random.default_rng(0))
    batch = sim.simulate(theta)
    for k in range(5):
        np.testing.assert_array_equal(batch[k], sim.simulate(theta[k : k + 1])[0])


# -- HH ball and two sticks --------------------------------------------------------------------
def test_hh_geometry():
    from neuron import h

    from neurotwin.sim.cells import hh_ball2sticks as hh

    model = hh.HHBall2SticksModel(np.array([[p[4] for p in hh.PARAMS]]))
    cell = model.cells[0]
    soma, apical, basal = cell["soma"], cell["apical"], cell["basal"]
    assert sum(h.area(seg.x, sec=soma) for seg in soma) == pytest.approx(4 * math.pi * 10.5**2)
    assert pytest.approx(105.0) == apical.L and apical.diam == pytest.approx(2.1)
    assert len(basal) == 2
    for b in basal:
        assert pytest.approx(105.0 / 4) == b.L and b.diam == pytest.approx(2.1)
        assert b.parentseg().sec == soma
    assert apical.parentseg().sec == soma
    area = sum(h.area(seg.x, sec=sec) for sec in (soma, apical, *basal) for seg in sec)
    assert area == pytest.approx(sum(hh.area_um2().values()))
    for sec in (soma, apical, *basal):
        assert h.ismembrane("hh", sec=sec)
    del model


def test_hh_rest_spike_and_negative_control():
    sim = get_simulator("hh_ball2sticks")
    theta = sim.default_theta()[None]
    quiet = make_stimulus("step", amplitude_nA=0.0, duration_ms=100.0)
    v = sim.simulate(theta, quiet)[0]
    assert v[-1] == pytest.approx(-65.0, abs=1.0)  # HH rest with el = −54.3 mV
    assert np.ptp(v[-200:]) < 0.05
    step = make_stimulus("step", amplitude_nA=0.4, duration_ms=150.0, delay_ms=20.0, stim_ms=120.0)
    spikes = spike_times_ms(sim.simulate(theta, step)[0], 0.1)
    assert len(spikes) >= 3 and spikes[0] > 20.0
    weak = step.replace(amplitude_nA=0.03)
    assert len(spike_times_ms(sim.simulate(theta, weak)[0], 0.1)) == 0
    no_na = theta.copy()
    no_na[0, [0, 3]] = 0.0  # no sodium anywhere: no spike at the same step
    assert sim.simulate(no_na, step)[0].max() < -30.0


def test_free_parameters_fix_the_others_at_their_typical_values():
    full = get_simulator("hh_ball2sticks")
    assert [p.name for p in full.params] == list(full.free_names)
    assert len(full.params) == 9 and full.fixed_values() == {"ena": 50.0, "ek": -77.0}
    seven = get_simulator("hh_ball2sticks", free="ek, soma_gnabar,soma_gkbar,soma_gl,cm,el,ena")
    assert seven.free_names == ("soma_gnabar", "soma_gkbar", "soma_gl", "cm", "el", "ena", "ek")
    assert seven.fixed_values() == {
        "dend_gnabar": 0.03,
        "dend_gkbar": 0.02,
        "dend_gl": 3e-4,
        "Ra": 100.0,
    }
    every = get_simulator("hh_ball2sticks", free=[p.name for p in seven.all_params])
    theta = sample_theta(seven.params, 3, np.random.default_rng(3))
    stim = make_stimulus("step", amplitude_nA=0.4, duration_ms=60.0, delay_ms=10.0, stim_ms=40.0)
    v7 = seven.simulate(theta, stim)
    np.testing.assert_array_equal(v7, every.simulate(seven.full_theta(theta), stim))
    # E_Na reaches the cell: a higher sodium reversal gives a higher spike peak (control: E_K
    # does not move the peak as much)
    base = seven.default_theta()[None]
    high_na, low_k = base.copy(), base.copy()
    high_na[0, 5] += 8.0
    low_k[0, 6] -= 8.0
    peak, peak_na, peak_k = (seven.simulate(t, stim)[0].max() for t in (base, high_na, low_k))
    assert peak_na - peak > 3.0 and abs(peak_k - peak) < peak_na - peak
    assert seven.simulate(low_k, stim)[0].min() < seven.simulate(base, stim)[0].min() - 2.0
    with pytest.raises(ValueError, match="unknown hh_ball2sticks parameter"):
        get_simulator("hh_ball2sticks", free="Ra,gnabar")
    with pytest.raises(ValueError, match="named twice"):
        get_simulator("izhikevich", free=["a", "a"])
    izh = get_simulator("izhikevich", free=("c", "a"))
    assert [p.name for p in izh.params] == ["a", "c"]
    np.testing.assert_array_equal(
        izh.full_theta(np.array([[0.05, -60.0]])), [[0.05, 0.2, -60.0, 8.0]]
    )


def test_hh_soma_trace_tells_dendrite_from_soma():
    """docs/inverse-limits.md (HH): moving leak or sodium density from the soma to the
    dendrites with the cell's total kept, or tripling Ra, still changes the somatic trace under
    the default stimulus (the dendrites are not isopotential with the soma during spikes)."""
    from neurotwin.sim.cells import hh_ball2sticks as hh

    sim = get_simulator("hh_ball2sticks")
    area = hh.area_um2()
    ratio = (area["apical"] + area["basal"]) / area["soma"]
    names = list(sim.free_names)
    base = sim.default_theta()
    rows = [base.copy() for _ in range(4)]
    rows[1][[names.index("dend_gl"), names.index("soma_gl")]] = 1e-4, 3e-4 + 2e-4 * ratio
    rows[2][[names.index("dend_gnabar"), names.index("soma_gnabar")]] = 0.09, 0.12 - 0.06 * ratio
    rows[3][names.index("Ra")] = 300.0
    v = sim.simulate(np.stack(rows))
    rms = np.sqrt(((v[1:] - v[0]) ** 2).mean(axis=1))
    assert np.all(rms > 0.5), rms  # measured 1.2, 8.5, 8.1 mV
    # control: the same leak move without keeping the total changes the trace far more
    alone = base.copy()
    alone[names.index("soma_gl")] = 3e-4 + 2e-4 * ratio
    assert np.sqrt(((sim.simulate(alone[None])[0] - v[0]) ** 2).mean()) > 5 * rms[0]


def test_hh_passive_input_resistance_matches_theory():
    from neurotwin.sim.cells import hh_ball2sticks as hh

    gl, cm = 3e-4, 1.0
    theta = np.array([[0.0, 0.0, gl, 0.0, 0.0, gl, cm, 100.0, -65.0]])  # leak only
    i_nA = 0.01
    step = make_stimulus("step", amplitude_nA=i_nA, duration_ms=150.0, delay_ms=10.0, stim_ms=140.0)
    v = get_simulator("hh_ball2sticks").simulate(theta, step)[0]
    area_cm2 = sum(hh.area_um2().values()) * 1e-8
    r_in_mohm = 1.0 / (gl * area_cm2) / 1e6  # an electrotonically compact cell (L << λ)
    measured = (v[1490] - v[90]) / i_nA  # mV / nA = MΩ
    assert measured == pytest.approx(r_in_mohm, rel=0.01)
    # the charging time constant is cm / gl = 3.33 ms: 63 % of the rise at 10 + τ ms
    tau_ms = cm * 1e-6 / gl * 1e3
    k = 100 + int(round(tau_ms / 0.1))
    assert (v[k] - v[90]) / (v[1490] - v[90]) == pytest.approx(1 - math.exp(-1), abs=0.03)
    # negative control: doubling the leak halves R_in, outside the tolerance
    theta[0, [2, 5]] *= 2
    v2 = get_simulator("hh_ball2sticks").simulate(theta, step)[0]
    assert (v2[1490] - v2[90]) / i_nA != pytest.approx(r_in_mohm, rel=0.1)


# -- Mainen ------------------------------------------------------------------------------------
def test_mainen_tonic_firing_dendritic_load_and_controls():
    step = make_stimulus("step", amplitude_nA=0.3, duration_ms=300.0, delay_ms=20.0, stim_ms=260.0)
    sim = get_simulator("mainen", dend_soma_ratio=10.0)
    theta = np.tile(sim.default_theta(), (3, 1))
    theta[1, [0, 1, 2]] = 0.0  # negative control: no sodium channels anywhere
    theta[2, 1] = 0.0  # no axonal (node) sodium
    v = sim.simulate(theta, step)
    spikes = spike_times_ms(v[0], 0.1)
    assert len(spikes) >= 5 and spikes[0] > 20.0
    isi = np.diff(spikes)
    assert np.std(isi[2:]) / np.mean(isi[2:]) < 0.1  # regular (tonic) firing
    assert v[0, :200].std() < 0.5 and -76.0 < v[0, 150] < -65.0  # near rest before the step
    assert v[1].max() < -20.0  # no Na: no spikes
    assert len(spike_times_ms(v[2], 0.1)) < len(spikes)
    # a larger dendrite loads the soma: fewer spikes for the same current
    big = get_simulator("mainen", dend_soma_ratio=150.0).simulate(theta[:1], step)[0]
    assert len(spike_times_ms(big, 0.1)) < len(spikes)


def test_neuron_batches_equal_single_runs():
    for name in ("hh_ball2sticks", "mainen"):
        sim = get_simulator(name)
        theta = sample_theta(sim.params, 3, np.random.default_rng(2))
        stim = sim.default_stimulus().replace(duration_ms=60.0, stim_ms=40.0, reset_ms=10.0)
        batch = sim.simulate(theta, stim)
        assert batch.shape == (3, 600) and batch.dtype == np.float32
        assert np.all(np.isfinite(batch))
        np.testing.assert_array_equal(batch[1], sim.simulate(theta[1:2], stim)[0])
