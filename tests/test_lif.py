"""Tests of the leaky integrate-and-fire cell: analytic traces, reset rule, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurotwin.sim.cells.lif import LIFConfig, lif_voltage, simulate_lif
from neurotwin.sim.outputs import make_targets

CELL = LIFConfig()


def _single_event(channel: int, t0: int, weight: float, num_t: int = 400) -> np.ndarray:
    x = np.zeros((CELL.input_shape[0], num_t), dtype=np.float32)  # (C, T)
    x[channel, t0] = weight
    return x


def _analytic_single(t0: int, signed_weight: float, num_t: int, tau_ms: float) -> np.ndarray:
    """v(t) = v_reset + gain * w * exp(-(t - t0) / tau) inside the kernel, v_reset elsewhere."""
    t = np.arange(num_t)
    inside = (t >= t0) & (t < t0 + CELL.kernel_len)
    v = np.full(num_t, CELL.v_reset_mV)
    v[inside] += CELL.gain_mV * signed_weight * np.exp(-(t[inside] - t0) / tau_ms)
    return v


def _reference(cell: LIFConfig, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute force from the definition: explicit kernel, reset sum over all past spikes."""
    num_t = x.shape[-1]
    signed = x[: cell.num_exc].astype(np.float64).sum(0) - x[cell.num_exc :].sum(0)  # (T,)
    kernel = np.exp(-np.arange(cell.kernel_len) / cell.tau_ms)
    v_free = cell.v_reset_mV + cell.gain_mV * np.convolve(signed, kernel)[:num_t]
    v = np.empty(num_t)
    spikes = np.zeros(num_t, dtype=bool)
    spike_list: list[tuple[int, float]] = []
    for t in range(num_t):
        r = -sum(
            (v_s - cell.v_reset_mV) * math.exp(-(t - t_s) / cell.tau_reset_ms)
            for t_s, v_s in spike_list
        )
        v[t] = v_free[t] + r
        if v[t] >= cell.v_threshold_mV:
            spikes[t] = True
            spike_list.append((t, v[t]))
    return v, spikes


def test_defaults_and_layout():
    assert CELL.kernel_len == 141
    assert CELL.input_shape == (100,)
    assert (CELL.num_exc, CELL.num_inh, CELL.num_dend) == (80, 20, 0)
    assert CELL.soma_cap_mV == -55.0
    assert LIFConfig(kernel_len_ms=50).kernel_len == 50
    exc = np.ones((3, 80, 7))
    inh = np.full((3, 20, 7), 2.0)
    packed = CELL.pack_inputs(exc, inh)
    assert packed.shape == (3, 100, 7)
    e2, i2 = CELL.unpack_inputs(packed)
    np.testing.assert_array_equal(e2, exc)
    np.testing.assert_array_equal(i2, inh)
    with pytest.raises(ValueError, match="pack_inputs"):
        CELL.pack_inputs(np.ones((20, 7)), np.ones((80, 7)))


@pytest.mark.parametrize(("channel", "sign"), [(5, 1.0), (79, 1.0), (80, -1.0), (99, -1.0)])
def test_single_event_matches_analytic(channel: int, sign: float):
    t0, w, num_t = 37, 4.0, 400
    v, spikes = lif_voltage(CELL, _single_event(channel, t0, w, num_t))
    expected = _analytic_single(t0, sign * w, num_t, CELL.tau_ms)
    assert v.shape == (1, num_t) and not spikes.any()
    np.testing.assert_allclose(v[0], expected, rtol=0, atol=1e-9)
    # exactly back at rest once the truncated kernel has ended
    np.testing.assert_allclose(v[0, t0 + CELL.kernel_len :], CELL.v_reset_mV, rtol=0, atol=1e-9)
    assert abs(v[0, t0] - (CELL.v_reset_mV + sign * CELL.gain_mV * w)) < 1e-9
    (res,) = simulate_lif(CELL, _single_event(channel, t0, w, num_t))
    assert res.soma_v.dtype == np.float32
    np.testing.assert_allclose(res.soma_v, expected, rtol=0, atol=1e-5)


def test_negative_control_perturbed_tau_fails_analytic():
    t0, w, num_t = 37, 4.0, 400
    perturbed = LIFConfig(tau_ms=CELL.tau_ms * 1.1, kernel_len_ms=CELL.kernel_len)
    v, _ = lif_voltage(perturbed, _single_event(3, t0, w, num_t))
    err = np.max(np.abs(v[0] - _analytic_single(t0, w, num_t, CELL.tau_ms)))
    assert err > 0.1  # mV; the unperturbed cell matches to 1e-9


def test_constant_drive_spikes_and_reset_rule():
    num_t = 400
    x = np.zeros((100, num_t), dtype=np.float32)
    x[0, :] = 1.0  # one weight-1 event per ms
    x[85, 200:260] = 1.0  # some inhibition in the middle
    v, spikes = lif_voltage(CELL, x)
    v, spikes = v[0], spikes[0]
    ref_v, ref_spikes = _reference(CELL, x)
    assert spikes.sum() >= 3
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=1e-9)
    # the stored value at a spike bin is the threshold-crossing voltage
    assert np.all(v[spikes] >= CELL.v_threshold_mV)
    assert np.all(v[~spikes] < CELL.v_threshold_mV)
    # by hand, one bin after each spike: free voltage plus all earlier decayed resets
    kernel = np.exp(-np.arange(CELL.kernel_len) / CELL.tau_ms)
    v_free = CELL.v_reset_mV + CELL.gain_mV * np.convolve(x[0] - x[85], kernel)[:num_t]
    t_spk = np.flatnonzero(spikes)
    for t_s in t_spk[t_spk + 1 < num_t]:
        past = t_spk[t_spk <= t_s]
        reset = -np.sum((v[past] - CELL.v_reset_mV) * np.exp(-(t_s + 1 - past) / CELL.tau_reset_ms))
        assert abs(v[t_s + 1] - (v_free[t_s + 1] + reset)) < 1e-9
    # right after the reset the voltage is well below threshold for a strong-but-finite drive
    first = t_spk[0]
    assert v[first + 1] < CELL.v_threshold_mV - 5.0
    (res,) = simulate_lif(CELL, x)
    np.testing.assert_array_equal(res.spike_times_ms, t_spk.astype(float))
    np.testing.assert_array_equal(res.spikes, spikes)
    assert res.dend_v.shape == (0, num_t)
    assert res.firing_rate_hz == pytest.approx(1000.0 * len(t_spk) / num_t)


def test_no_refractory_period_allows_consecutive_spikes():
    x = np.zeros((100, 50), dtype=np.float32)
    x[:80, 10:20] = 5.0  # massive drive: every bin crosses even right after a reset
    _, spikes = lif_voltage(CELL, x)
    assert spikes[0, 10:20].all()


def test_subthreshold_linearity():
    rng = np.random.default_rng(0)
    num_t = 600
    x1 = (rng.random((100, num_t)) < 0.003) * rng.uniform(0, 1, (100, num_t))
    x2 = (rng.random((100, num_t)) < 0.003) * rng.uniform(0, 1, (100, num_t))
    v1, s1 = lif_voltage(CELL, x1)
    v2, s2 = lif_voltage(CELL, x2)
    v12, s12 = lif_voltage(CELL, x1 + x2)
    v3, s3 = lif_voltage(CELL, 1.5 * x1)
    assert not (s1.any() or s2.any() or s12.any() or s3.any())
    dv1, dv2 = v1 - CELL.v_reset_mV, v2 - CELL.v_reset_mV
    assert np.abs(dv1).max() > 1.0  # the inputs do move the voltage
    np.testing.assert_allclose(v12 - CELL.v_reset_mV, dv1 + dv2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(v3 - CELL.v_reset_mV, 1.5 * dv1, rtol=0, atol=1e-9)


def test_batch_equals_one_by_one():
    rng = np.random.default_rng(1)
    x = (rng.random((6, 100, 1500)) < 0.02).astype(np.float32)
    x[:, :80] *= 1.5
    batch = simulate_lif(CELL, x)
    assert len(batch) == 6
    assert sum(len(r.spike_times_ms) for r in batch) > 0
    for xi, rb in zip(x, batch, strict=True):
        (ri,) = simulate_lif(CELL, xi)
        np.testing.assert_array_equal(ri.soma_v, rb.soma_v)
        np.testing.assert_array_equal(ri.spikes, rb.spikes)
        np.testing.assert_array_equal(ri.spike_times_ms, rb.spike_times_ms)


def test_targets_from_lif_result():
    x = np.zeros((100, 300), dtype=np.float32)
    x[0, :] = 1.0
    (res,) = simulate_lif(CELL, x)
    targets = make_targets(res, CELL)
    assert targets["soma"].max() <= CELL.soma_cap_mV
    assert targets["spikes"].sum() == len(res.spike_times_ms) > 0
    assert targets["dend"].shape == (0, 300)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((2, 8, 100)), r"\(100, T\) or \(B, 100, T\).*got \(2, 8, 100\)"),
        (np.zeros((100,)), r"got \(100,\)"),
        (np.zeros((1, 1, 100, 5)), r"got \(1, 1, 100, 5\)"),
        (np.zeros((99, 5)), r"got \(99, 5\)"),
    ],
)
def test_bad_input_shape(bad: np.ndarray, match: str):
    with pytest.raises(ValueError, match=match):
        simulate_lif(CELL, bad)


def test_bad_input_values():
    x = np.zeros((100, 20), dtype=np.float32)
    x[3, 4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        simulate_lif(CELL, x)
    x[3, 4] = np.inf
    with pytest.raises(ValueError, match="finite"):
        simulate_lif(CELL, x)
    x[3, 4] = -1.0
    with pytest.raises(ValueError, match=">= 0"):
        simulate_lif(CELL, x)
    with pytest.raises(TypeError, match="dtype"):
        simulate_lif(CELL, np.full((100, 5), "a"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_exc_inputs": 0}, "num_exc_inputs"),
        ({"num_inh_inputs": -1}, "num_inh_inputs"),
        ({"num_exc_inputs": 2.5}, "num_exc_inputs"),
        ({"tau_ms": 0.0}, "tau_ms"),
        ({"tau_ms": float("nan")}, "tau_ms"),
        ({"tau_reset_ms": -1.0}, "tau_reset_ms"),
        ({"gain_mV": 0.0}, "gain_mV"),
        ({"kernel_len_ms": 0}, "kernel_len_ms"),
        ({"v_threshold_mV": -80.0}, "v_threshold_mV"),
        ({"v_reset_mV": float("inf")}, "v_reset_mV"),
    ],
)
def test_config_validation_names_field(overrides: dict, field: str):
    with pytest.raises(ValueError, match=field):
        LIFConfig(**overrides)


def test_config_replace_and_dict():
    cell = CELL.replace(tau_ms=10.0)
    assert cell.kernel_len == 71
    assert cell.to_dict()["family"] == "lif"
    with pytest.raises(ValueError, match="valid fields"):
        CELL.replace(tau=3.0)
