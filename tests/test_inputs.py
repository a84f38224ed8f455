"""Tests of the seeded synaptic input generators."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pytest

from neurotwin.sim.cells.base import CellConfig
from neurotwin.sim.cells.lif import LIFConfig, simulate_lif
from neurotwin.sim.inputs import (
    INPUT_GENERATORS,
    PoissonRateInputs,
    TutorialInputs,
    generate,
    inputs_from_dict,
    make_inputs,
)

LIF = LIFConfig()
NAMES = ["tutorial", "poisson_rates", "lif_poisson"]


@dataclasses.dataclass(frozen=True)
class TwoBySegmentsCell(CellConfig):
    """A fake cell with (2, 8) inputs: row 0 excitatory, row 1 inhibitory, 8 segments."""

    family: ClassVar[str] = "fake"
    name: str = "fake"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (2, 8)

    @property
    def num_exc(self) -> int:
        return 8

    @property
    def num_inh(self) -> int:
        return 8

    def pack_inputs(self, exc: np.ndarray, inh: np.ndarray) -> np.ndarray:
        return np.stack([exc, inh], axis=-3)  # (..., 2, S, T)

    def unpack_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return inputs[..., 0, :, :], inputs[..., 1, :, :]


def _longest_zero_run(row: np.ndarray) -> int:
    padded = np.concatenate([[1.0], row, [1.0]])
    nonzero = np.flatnonzero(padded != 0)
    return int(np.max(np.diff(nonzero)) - 1)


@pytest.mark.parametrize("name", NAMES)
def test_seeded_determinism(name: str):
    gen = make_inputs(name)
    a = generate(gen, LIF, 500, 3, seed=7)
    b = generate(gen, LIF, 500, 3, seed=7)
    c = generate(gen, LIF, 500, 3, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # simulations of a chunk differ


def test_no_global_rng_use():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for name in NAMES:
        generate(make_inputs(name), LIF, 200, 2, seed=0)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cell", [LIF, TwoBySegmentsCell()], ids=["lif", "fake2x8"])
def test_shape_dtype_float16_and_sign(name: str, cell: CellConfig):
    x = generate(make_inputs(name), cell, 700, 4, seed=3)
    assert x.shape == (4, *cell.input_shape, 700)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.astype(np.float16).astype(np.float32), x)
    assert x.min() >= 0.0
    exc, inh = cell.unpack_inputs(x)
    assert (exc > 0).mean() > 0.001 and (inh > 0).mean() > 0.001


def test_sample_shape_for_single_simulation():
    gen = make_inputs("tutorial")
    rng = np.random.default_rng(0)
    chunk = gen.chunk_params(rng)
    x = gen.sample(TwoBySegmentsCell(), 123, chunk, rng)
    assert x.shape == (2, 8, 123)
    with pytest.raises(ValueError, match="duration_ms"):
        gen.sample(LIF, 0, chunk, rng)


def test_tutorial_chunk_ranges():
    gen = TutorialInputs()
    rng = np.random.default_rng(0)
    chunks = [gen.chunk_params(rng) for _ in range(300)]
    for key, lo, hi in [
        ("exc_mag_lo", 2.0, 4.5),
        ("exc_mag_hi", 5.0, 7.0),
        ("inh_mag_lo", 2.0, 3.5),
        ("inh_mag_hi", 4.0, 7.0),
        ("exc_prob_lo", 0.02, 0.08),
        ("exc_prob_hi", 0.02, 0.08),
        ("inh_prob_lo", 0.01, 0.07),
        ("inh_prob_hi", 0.01, 0.07),
    ]:
        values = np.array([c[key] for c in chunks])
        assert values.min() >= lo and values.max() <= hi, key
        assert values.max() - values.min() > 0.5 * (hi - lo), key  # the range is explored
    for kind in ("exc", "inh"):
        assert all(c[f"{kind}_prob_lo"] <= c[f"{kind}_prob_hi"] for c in chunks)


def test_tutorial_statistics_without_modulation():
    gen = make_inputs("tutorial", modulation_fraction=0.0)
    num_t, n_exc, n_inh = 2000, LIF.num_exc, LIF.num_inh
    seen_probs = []
    for chunk_seed in range(20):
        rng = np.random.default_rng([11, chunk_seed])
        chunk = gen.chunk_params(rng)
        for _ in range(10):
            x, params = gen.sample_with_params(LIF, num_t, chunk, rng)
            exc, inh = LIF.unpack_inputs(x)
            assert params["modulated"] == 0.0
            for events, prob_key, mag_key, bounds, n in [
                (exc, "exc_prob", "exc_max_mag", (0.02, 0.08), n_exc),
                (inh, "inh_prob", "inh_max_mag", (0.01, 0.07), n_inh),
            ]:
                p_hat = (events > 0).mean()
                p = params[prob_key]
                tol = 4.5 * np.sqrt(p * (1 - p) / (n * num_t))
                assert bounds[0] <= p <= bounds[1]
                assert bounds[0] - tol <= p_hat <= bounds[1] + tol
                assert abs(p_hat - p) <= tol
                weights = events[events > 0]
                mag = params[mag_key]
                assert weights.max() <= min(mag * (1 + 2.0**-10), 7.0)
                # U(0, mag): mean mag / 2 (tolerance ~5 s.d. of the sample mean)
                assert abs(weights.mean() - mag / 2) < 5 * mag / np.sqrt(12 * weights.size)
            seen_probs.append(params["exc_prob"])
    assert len(seen_probs) == 200
    assert max(seen_probs) - min(seen_probs) > 0.02  # chunks differ


def test_tutorial_modulation_fraction():
    gen = make_inputs("tutorial")
    rng = np.random.default_rng(5)
    chunk = gen.chunk_params(rng)
    n = 400
    flags = []
    for _ in range(n):
        _, params = gen.sample_with_params(LIF, 300, chunk, rng)
        flags.append(params["modulated"])
        if params["modulated"]:
            assert 6 <= params["num_windows"] <= 23
        else:
            assert params["num_windows"] == 0
    frac = float(np.mean(flags))
    assert abs(frac - 0.4) < 4 * np.sqrt(0.4 * 0.6 / n)


def test_tutorial_modulation_changes_events():
    # Fixed high probability: a 255-ms silent stretch is impossible without modulation
    # (0.92**255 ~ 6e-10 per start), and certain with factor-0 windows of 255 ms.
    base = {
        "exc_prob_bounds": (0.08, 0.08),
        "inh_prob_bounds": (0.07, 0.07),
        "window_ms_range": (255, 255),
        "modulation_factors": (0.0,),
    }
    for fraction, expect_silence in ((1.0, True), (0.0, False)):
        x = generate(make_inputs("tutorial", modulation_fraction=fraction, **base), LIF, 2000, 5, 2)
        for sim in x:
            exc, _ = LIF.unpack_inputs(sim)
            longest = max(_longest_zero_run(row) for row in exc)
            assert (longest >= 255) == expect_silence, (fraction, longest)


def test_poisson_rates_statistics():
    gen = make_inputs("poisson_rates", binary=True)
    num_t = 2000
    fano_poisson = []
    for chunk_seed in range(4):
        rng = np.random.default_rng([21, chunk_seed])
        chunk = gen.chunk_params(rng)
        for _ in range(5):
            x, params = gen.sample_with_params(LIF, num_t, chunk, rng)
            exc, inh = LIF.unpack_inputs(x)
            assert set(np.unique(x).tolist()) <= {0.0, 1.0}  # binary weights
            assert 0.02 - 0.006 <= params["exc_mean_rate_per_ms"] <= 0.08 + 0.006
            assert 0.01 - 0.006 <= params["inh_mean_rate_per_ms"] <= 0.07 + 0.006
            assert 50.0 <= params["smoothing_sd_ms"] <= 300.0
            for events, key in ((exc, "exc_mean_rate_per_ms"), (inh, "inh_mean_rate_per_ms")):
                rate = params[key]
                assert abs(events.mean() - rate) < 5 * np.sqrt(rate / events.size)
            counts = exc.reshape(LIF.num_exc, -1, 100).sum(-1)  # (n_exc, 20) per 100 ms
            fano_poisson.append(np.mean(counts.var(1) / np.maximum(counts.mean(1), 1e-9)))
    # Slowly varying rates: counts are overdispersed; stationary tutorial events are not.
    x = generate(make_inputs("tutorial", modulation_fraction=0.0), LIF, num_t, 10, seed=4)
    counts = x[:, : LIF.num_exc].astype(bool).reshape(10, LIF.num_exc, -1, 100).sum(-1)
    fano_tutorial = np.mean(counts.var(-1) / counts.mean(-1))
    assert np.median(fano_poisson) > 1.5
    assert fano_tutorial < 1.1


def test_poisson_rates_weighted():
    x = generate(make_inputs("poisson_rates"), LIF, 1000, 2, seed=9)
    w = x[x > 0]
    assert w.max() <= 7.0 and len(np.unique(w)) > 100


def test_lif_poisson_firing_range():
    gen = make_inputs("lif_poisson")
    rates = []
    for chunk_seed in range(4):
        x = generate(gen, LIF, 4000, 8, seed=100 + chunk_seed)  # (8, 100, T)
        rates += [r.firing_rate_hz for r in simulate_lif(LIF, x)]
    rates = np.asarray(rates)
    assert np.mean((rates >= 1.0) & (rates <= 20.0)) >= 0.85, np.round(np.sort(rates), 1)
    assert 2.0 <= np.median(rates) <= 15.0


def test_unknown_name_and_field():
    with pytest.raises(ValueError, match="tutorial.*poisson_rates.*lif_poisson"):
        make_inputs("nope")
    with pytest.raises(ValueError, match="valid fields.*modulation_fraction"):
        make_inputs("tutorial", modulation_fractoin=0.1)
    with pytest.raises(ValueError, match="valid kinds"):
        inputs_from_dict({"kind": "nope"})


@pytest.mark.parametrize(
    ("cls", "overrides", "field"),
    [
        (TutorialInputs, {"exc_prob_bounds": (0.1, 0.05)}, "exc_prob_bounds"),
        (TutorialInputs, {"inh_prob_bounds": (0.1, 1.5)}, "inh_prob_bounds"),
        (TutorialInputs, {"modulation_fraction": 1.2}, "modulation_fraction"),
        (TutorialInputs, {"window_ms_range": (0, 10)}, "window_ms_range"),
        (TutorialInputs, {"num_windows_range": (2.5, 4)}, "num_windows_range"),
        (TutorialInputs, {"modulation_factors": ()}, "modulation_factors"),
        (TutorialInputs, {"exc_mag_hi_range": (1.0, 2.0)}, "exc_mag_lo_range"),
        (PoissonRateInputs, {"binary": 1}, "binary"),
        (PoissonRateInputs, {"segment_ms_range": (0, 5)}, "segment_ms_range"),
        (PoissonRateInputs, {"smoothing_sd_ms_range": (-1.0, 5.0)}, "smoothing_sd_ms_range"),
    ],
)
def test_config_validation_names_field(cls: type, overrides: dict, field: str):
    with pytest.raises(ValueError, match=field):
        cls(**overrides)


def test_registry_and_dict_round_trip():
    expected = {"tutorial": TutorialInputs, "poisson_rates": PoissonRateInputs}
    assert expected == INPUT_GENERATORS
    for name in NAMES:
        gen = make_inputs(name)
        d = gen.to_dict()
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}  # as from YAML
        assert inputs_from_dict(d) == gen
    lif_gen = make_inputs("lif_poisson", segment_ms_range=(50, 60))
    assert lif_gen.binary and lif_gen.segment_ms_range == (50, 60)
