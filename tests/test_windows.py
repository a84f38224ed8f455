"""Tests of the torch window datasets (neurotwin.data.windows) on a tiny LIF dataset: shapes,
determinism given the seed, in-memory vs per-item reads, fixed windows (tiling, offsets,
clamping to T) and padded collation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neurotwin.data import make_dataset, open_dataset
from neurotwin.data.config import build_dataset_config
from neurotwin.data.windows import (
    FixedWindows,
    RandomWindows,
    available_targets,
    collate_padded,
)

T_MS = 1000


@pytest.fixture(scope="module")
def lif_store(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("windows") / "lif"
    cfg = build_dataset_config(
        "lif", {}, None, {}, {"train": 6, "valid": 2, "test": 2}, T_MS, 0, {}, sims_per_chunk=4
    )
    make_dataset(cfg, path, workers=1)
    return open_dataset(path)


def test_random_windows_shapes_and_units(lif_store) -> None:
    ds = RandomWindows(lif_store, window_ms=256, seed=3)
    assert len(ds) == 6  # one epoch = one window per training simulation
    assert available_targets(lif_store) == ("spike", "soma", "near_spike", "inst_rate")
    x, t = ds[0]
    assert x.shape == (100, 256) and x.dtype == torch.float32
    assert set(t) == {"spike", "soma", "near_spike", "inst_rate"}
    assert all(v.shape == (1, 256) and v.dtype == torch.float32 for v in t.values())
    assert set(torch.unique(t["spike"]).tolist()) <= {0.0, 1.0}
    xb, tb = ds.batch(range(5))
    assert xb.shape == (5, 100, 256) and tb["soma"].shape == (5, 1, 256)


def test_random_windows_match_the_store(lif_store) -> None:
    ds = RandomWindows(lif_store, window_ms=300, seed=1, targets=["spike", "soma_uncapped"])
    pos, start = ds.draw(ds.rng(7))
    x, t = ds[7]
    arrays = lif_store.split("train")
    np.testing.assert_array_equal(
        x.numpy(), np.asarray(arrays["inputs"][pos, :, start : start + 300], dtype=np.float32)
    )
    np.testing.assert_array_equal(t["spike"][0].numpy(), arrays["spikes"][pos, start : start + 300])
    np.testing.assert_array_equal(
        t["soma_uncapped"][0].numpy(), arrays["soma_uncapped"][pos, start : start + 300]
    )


def test_random_windows_deterministic_given_seed(lif_store) -> None:
    a = RandomWindows(lif_store, window_ms=128, seed=0)
    b = RandomWindows(lif_store, window_ms=128, seed=0)
    c = RandomWindows(lif_store, window_ms=128, seed=1)
    draws = [a.draw(a.rng(k)) for k in range(40)]
    assert draws == [b.draw(b.rng(k)) for k in range(40)]
    assert draws != [c.draw(c.rng(k)) for k in range(40)]  # negative control
    # item k does not depend on the order of reads
    torch.testing.assert_close(a[17][0], b.batch([3, 17])[0][1], rtol=0, atol=0)
    # every simulation and the full range of starts are drawn
    sims = {p for p, _ in (a.draw(a.rng(k)) for k in range(300))}
    starts = [s for _, s in (a.draw(a.rng(k)) for k in range(300))]
    assert sims == set(range(6)) and min(starts) < 50 and max(starts) > T_MS - 128 - 50
    # sample() takes a generator passed in
    x1, _ = a.sample(np.random.default_rng(5))
    x2, _ = a.sample(np.random.default_rng(5))
    assert torch.equal(x1, x2)


def test_per_item_reads_equal_cached_reads(lif_store) -> None:
    cached = RandomWindows(lif_store, window_ms=200, seed=2)
    direct = RandomWindows(lif_store, window_ms=200, seed=2, memory_budget_gb=0)
    assert cached.reader.cached and not direct.reader.cached
    for k in (0, 5, 11):
        (xa, ta), (xb, tb) = cached[k], direct[k]
        assert torch.equal(xa, xb)
        assert all(torch.equal(ta[h], tb[h]) for h in ta)


def test_window_longer_than_simulation_is_clamped(lif_store) -> None:
    ds = RandomWindows(lif_store, window_ms=5000)
    assert ds.window_ms == T_MS
    x, t = ds[0]
    assert x.shape == (100, T_MS) and t["spike"].shape == (1, T_MS)
    fixed = FixedWindows(lif_store, "valid", window_ms=5000)
    assert fixed.windows == [(0, 0, T_MS), (1, 0, T_MS)]


def test_fixed_windows_tiling_offsets_and_padding(lif_store) -> None:
    tiles = FixedWindows(lif_store, "valid", window_ms=400)
    # 0, 400, and the last moved back to end at T: 600
    assert [(s, n) for _, s, n in tiles.windows] == [(0, 400), (400, 400), (600, 400)] * 2
    offs = FixedWindows(lif_store, "test", window_ms=990, starts=[16, 47])
    assert [(i, s, n) for i, s, n in offs.windows] == [(0, 16, 984), (1, 47, 953)]
    x, t, lengths = collate_padded([offs[0], offs[1]])
    assert x.shape == (2, 100, 984) and lengths.tolist() == [984, 953]
    assert float(x[1, :, 953:].abs().sum()) == 0.0
    assert tiles.batches(4) == [[0, 1, 2, 3], [4, 5]]
    with pytest.raises(ValueError, match="one start per simulation"):
        FixedWindows(lif_store, "test", starts=[1, 2, 3])
    with pytest.raises(ValueError, match="window start"):
        FixedWindows(lif_store, "test", starts=T_MS)


def test_bad_arguments(lif_store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dend"):
        RandomWindows(lif_store, targets=["dend"])  # a point cell has no dendrites
    with pytest.raises(ValueError, match="window_ms"):
        RandomWindows(lif_store, window_ms=0)
    with pytest.raises(IndexError):
        RandomWindows(lif_store)[-1]
