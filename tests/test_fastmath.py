"""The vectorisable exp/log/power of neurotwin.sim.fastmath against the C library (NumPy)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from neurotwin.sim import fastmath


@numba.njit(error_model="numpy")
def _apply(which: int, x: np.ndarray, y: float) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        if which == 0:
            out[i] = fastmath.exp(x[i])
        elif which == 1:
            out[i] = fastmath.log(x[i])
        else:
            out[i] = fastmath.power(x[i], y)
    return out


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    return float((np.abs(got - want) / np.spacing(np.abs(want))).max())


RNG = np.random.default_rng(0)


def test_exp_within_one_ulp():
    x = np.concatenate([RNG.uniform(-708, 709, 200_000), RNG.uniform(-1, 1, 100_000), [0.0]])
    got = _apply(0, x, 0.0)
    assert _ulps(got, np.exp(x)) <= 1.0
    assert got[-1] == 1.0
    # negative control: single precision is far outside the bound
    small = x[np.abs(x) < 80]
    assert _ulps(np.exp(small).astype(np.float32).astype(np.float64), np.exp(small)) > 1e6


def test_exp_is_clamped_not_inf_or_zero():
    got = _apply(0, np.array([-1e4, 1e4]), 0.0)
    assert 0.0 < got[0] < 1e-307 and np.isfinite(got[1])


def test_log_within_two_ulps_and_exact_at_powers_of_two():
    x = np.concatenate([10 ** RNG.uniform(-300, 300, 200_000), RNG.uniform(0.5, 2.0, 100_000)])
    got = _apply(1, x, 0.0)
    far = np.abs(x - 1) > 1e-3  # near 1 the result is tiny: compare absolutely there
    assert _ulps(got[far], np.log(x[far])) <= 2.0
    assert np.abs(got[~far] - np.log(x[~far])).max() <= 2.3e-16
    np.testing.assert_array_equal(_apply(1, np.array([1.0, 2.0, 0.5]), 0.0), np.log([1, 2, 0.5]))


@pytest.mark.parametrize("y", [4.8, -1.5])
def test_power_relative_error(y):
    x = 0.00043 / RNG.uniform(1e-7, 1e-1, 100_000)  # SK_E2's (0.00043 / cai) ** 4.8
    got = _apply(2, x, y)
    assert np.abs(got / x**y - 1).max() <= 1e-14
