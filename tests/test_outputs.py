"""Targets of spec §5.8 on hand-made traces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal.windows import gaussian

from neurotwin.sim.outputs import (
    OutputSettings,
    SimulationResult,
    detect_spikes,
    inst_rate,
    make_targets,
    near_spike,
)


def test_detect_spikes_peaks_bins_and_flat_tops():
    v = np.full(40 * 10 + 1, -70.0)
    v[45] = 10.0  # a sharp peak at sample 45 → 1.125 ms, bin 1
    v[200:204] = 5.0  # a flat top of even length: left-middle sample 201
    v[300] = -1.0  # below 0 mV: not a spike
    v[320] = 0.0  # exactly 0 mV: a spike (height >= 0)
    v[330] = 3.0  # same bin 8 as 320: one bin
    v[-1] = 50.0  # end samples cannot be peaks
    times, spikes = detect_spikes(v, 40, 10)
    np.testing.assert_allclose(times, [45 / 40, 201 / 40, 320 / 40, 330 / 40])
    assert np.flatnonzero(spikes).tolist() == [1, 5, 8]


def test_detect_spikes_drops_bins_past_the_end():
    v = np.full(40 * 3 + 1, -70.0)
    v[119] = 20.0  # bin 2: kept
    times, spikes = detect_spikes(v, 40, 2)  # only 2 bins asked for
    assert times.size == 0 and spikes.tolist() == [False, False]


def test_near_spike_window_and_voltage_criterion():
    s = OutputSettings(soma_cap_mV=-62.0, near_spike_window_ms=3, near_spike_margin_mV=5.0)
    spikes = np.zeros(10, bool)
    spikes[4] = True
    soma = np.full(10, -80.0)
    soma[8] = -66.0  # above cap - margin = -67
    got = near_spike(spikes, soma, s)
    assert np.flatnonzero(got).tolist() == [4, 5, 6, 8]


def test_inst_rate_boxcar_and_gaussian():
    s = OutputSettings(inst_rate_window_ms=4, inst_rate_sigma_ms=0.0)
    spikes = np.zeros(12, bool)
    spikes[[2, 3]] = True
    np.testing.assert_allclose(
        inst_rate(spikes, s), [0, 0, 0.25, 0.5, 0.5, 0.5, 0.25, 0, 0, 0, 0, 0]
    )
    s2 = OutputSettings(inst_rate_window_ms=4, inst_rate_sigma_ms=1.0)
    win = gaussian(1 + 2 * 4, 1.0)
    win /= win.sum()
    expected = np.convolve(inst_rate(spikes, s), win, mode="same")
    np.testing.assert_allclose(inst_rate(spikes, s2), expected, rtol=1e-6)
    middle = np.zeros(30, bool)
    middle[[12, 13]] = True  # far from the edges, the smoothing keeps the total rate
    assert inst_rate(middle, s2).sum() == pytest.approx(inst_rate(middle, s).sum(), rel=1e-6)


def test_make_targets_caps_outputs_only():
    s = OutputSettings(soma_cap_mV=-62.0, dend_cap_mV=0.0)
    soma = np.array([-80.0, -50.0, 30.0, -70.0], np.float32)
    dend = np.array([[-60.0, 10.0, -1.0, 5.0]], np.float32)
    res = SimulationResult(soma, dend, np.array([2.2]), np.array([0, 0, 1, 0], bool))
    t = make_targets(res, s)
    np.testing.assert_array_equal(t["soma"], [-80, -62, -62, -70])
    np.testing.assert_array_equal(t["soma_uncapped"], soma)
    np.testing.assert_array_equal(t["dend"], [[-60, 0, -1, 0]])
    assert t["dend"].dtype == np.float16 and t["soma"].dtype == np.float32
    assert t["near_spike"].tolist() == [False, True, True, True]


def test_output_settings_validation():
    with pytest.raises(ValueError, match="near_spike_window_ms"):
        OutputSettings(near_spike_window_ms=0)._validate_outputs()
