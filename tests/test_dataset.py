"""Tests of dataset generation and storage (neurotwin.data): determinism across workers and
batch sizes, filtering with replacement draws, resume after an interruption, growing counts,
store errors, checksums, Dask, a ball-and-stick dataset and the statistics/figures.

Most tests use the LIF cell (pure NumPy, milliseconds per simulation); one test builds a tiny
ball-and-stick dataset on NEURON. The reference LIF dataset is made once per module and copied
by the tests that modify a store.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import neurotwin
from neurotwin.data.config import SPLITS, DatasetConfig, build_dataset_config
from neurotwin.data.generate import draw_inputs, make_dataset
from neurotwin.data.info import dataset_figures, dataset_stats
from neurotwin.data.store import DatasetStore, StoreError, open_dataset, sample_checksum

# 500 ms LIF simulations fire at multiples of 2 Hz, mostly 2-10 Hz with the lif_poisson inputs:
# this filter rejects a good fraction of the draws (both too low and too high).
FILTER = {"min_rate_hz": 3.0, "max_rate_hz": 9.0}
RELAXED = {"min_rate_hz": 0.0, "max_rate_hz": 1000.0, "max_depolarized_fraction": 1.0}
COUNTS = {"train": 6, "valid": 3, "test": 2}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def lif_config(
    counts: dict[str, int] = COUNTS,
    *,
    duration_ms: int = 500,
    seed: int = 0,
    filter_sets: dict[str, Any] = FILTER,
    cell_sets: dict[str, Any] | None = None,
) -> DatasetConfig:
    """A small LIF dataset config: chunks of 4 simulations, so every split spans >= 1 chunk."""
    return build_dataset_config(
        "lif",
        dict(cell_sets or {}),
        None,
        {},
        dict(counts),
        duration_ms,
        seed,
        dict(filter_sets),
        sims_per_chunk=4,
    )


def store_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of every split, read straight from Zarr: ``{"train/soma": ...}``."""
    root = zarr.open_group(str(path), mode="r")
    out = {}
    for split in SPLITS:
        group = root[split]
        for name in sorted(group.array_keys()):
            out[f"{split}/{name}"] = np.asarray(group[name][:])
    return out


def split_attrs(path: Path) -> dict[str, dict[str, Any]]:
    root = zarr.open_group(str(path), mode="r")
    return {split: dict(root[split].attrs) for split in SPLITS}


def assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert a[key].shape == b[key].shape, key
        assert np.array_equal(a[key], b[key]), f"{key} differs"
        assert a[key].tobytes() == b[key].tobytes(), f"{key} differs in its bits"


def folder_snapshot(path: Path) -> dict[str, bytes]:
    """Relative path → content of every file under ``path``."""
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The LIF dataset of ``lif_config()``, made in this process (workers=1, default batches)."""
    path = tmp_path_factory.mktemp("reference") / "ds"
    config = lif_config()
    report = make_dataset(config, path, workers=1)
    return {
        "config": config,
        "path": path,
        "report": report,
        "arrays": store_arrays(path),
        "attrs": split_attrs(path),
    }


# -- 1. determinism ------------------------------------------------------------------------------
def test_reference_dataset_is_complete_and_filtered(reference: dict[str, Any]):
    arrays, report = reference["arrays"], reference["report"]
    assert report.simulated == sum(COUNTS.values())
    for split, n in COUNTS.items():
        assert arrays[f"{split}/done"].shape == (n,) and arrays[f"{split}/done"].all()
        assert arrays[f"{split}/soma"].shape == (n, 500)
        assert arrays[f"{split}/inputs"].shape == (n, 100, 500)
        assert arrays[f"{split}/inputs"].dtype == np.float16
    assert "train/dend" not in arrays  # the LIF cell has no dendrites
    # the filter rejected some draws, so the determinism tests cover the redraw path
    assert sum(report.dropped.values()) > 0


def test_same_arrays_for_any_worker_count_and_batch_size(reference: dict[str, Any], tmp_path: Path):
    config = reference["config"]
    pooled = make_dataset(config, tmp_path / "pool", workers=2)
    rebatched = make_dataset(config, tmp_path / "batch", workers=1, batch_size=5)
    assert pooled.simulated == rebatched.simulated == sum(COUNTS.values())
    for path, report in ((tmp_path / "pool", pooled), (tmp_path / "batch", rebatched)):
        assert_bit_identical(store_arrays(path), reference["arrays"])
        assert split_attrs(path) == reference["attrs"]  # dropped counts and split checksums
        assert report.dropped == reference["report"].dropped


def test_other_seed_gives_other_data(reference: dict[str, Any], tmp_path: Path):
    """Negative control for the determinism test: the arrays do depend on the seed."""
    make_dataset(lif_config(seed=1), tmp_path / "ds", workers=1)
    other = store_arrays(tmp_path / "ds")
    assert not np.array_equal(other["train/inputs"], reference["arrays"]["train/inputs"])


# -- 2. filtering with replacement draws ---------------------------------------------------------
def test_filter_replaces_rejected_draws(reference: dict[str, Any]):
    arrays, report, attrs = reference["arrays"], reference["report"], reference["attrs"]
    lo, hi = FILTER["min_rate_hz"], FILTER["max_rate_hz"]
    total: dict[str, int] = {}
    for split, n in COUNTS.items():
        assert arrays[f"{split}/done"].sum() == n  # every requested slot is filled
        rates = arrays[f"{split}/rate_hz"]
        assert np.all((rates >= lo) & (rates <= hi)), rates
        # the stored rate is the rate of the stored spike train
        spikes = arrays[f"{split}/spikes"]
        np.testing.assert_allclose(rates, spikes.sum(axis=1) * 1000.0 / 500, rtol=1e-6)
        dropped = attrs[split]["dropped"]
        assert sum(dropped.values()) == int(arrays[f"{split}/attempt"].sum())
        for reason, count in dropped.items():
            total[reason] = total.get(reason, 0) + count
    assert report.dropped == total
    assert set(total) <= {"rate_below_min", "rate_above_max", "depolarized"}


def test_dropped_reasons_match_the_rejected_draws(reference: dict[str, Any]):
    """Re-simulate every rejected draw (attempt < stored attempt) and classify it by hand."""
    config, arrays, attrs = reference["config"], reference["arrays"], reference["attrs"]
    lo, hi = FILTER["min_rate_hz"], FILTER["max_rate_hz"]
    for split, n in COUNTS.items():
        reasons: dict[str, int] = {}
        for slot in range(n):
            accepted = int(arrays[f"{split}/attempt"][slot])
            draws = [draw_inputs(config, split, slot, a) for a in range(accepted + 1)]
            results = neurotwin.simulate(config.cell, np.stack(draws))
            for res in results[:-1]:
                rate = res.firing_rate_hz
                assert rate < lo or rate > hi, (split, slot, rate)
                key = "rate_below_min" if rate < lo else "rate_above_max"
                reasons[key] = reasons.get(key, 0) + 1
            # the accepted draw is the stored one
            last = results[-1]
            assert lo <= last.firing_rate_hz <= hi
            np.testing.assert_array_equal(
                arrays[f"{split}/inputs"][slot], draws[-1].astype(np.float16)
            )
            np.testing.assert_array_equal(arrays[f"{split}/soma_uncapped"][slot], last.soma_v)
        assert attrs[split]["dropped"] == reasons


def test_unsatisfiable_filter_raises_naming_the_slot(tmp_path: Path):
    config = lif_config(
        {"train": 1, "valid": 0, "test": 0},
        duration_ms=200,
        filter_sets={"min_rate_hz": 900.0, "max_rate_hz": 1000.0, "max_attempts": 3},
    )
    with pytest.raises(RuntimeError, match=r"train slot 0: no simulation passed the filter in 3"):
        make_dataset(config, tmp_path / "ds", workers=1)
    store = open_dataset(tmp_path / "ds")  # the store stays consistent: nothing marked done
    assert store.split("train").num_done == 0


# -- 3. resume -----------------------------------------------------------------------------------
def test_resume_recomputes_only_the_cleared_slots(reference: dict[str, Any], tmp_path: Path):
    path = copy_store(reference["path"], tmp_path / "ds")
    cleared = {"train": [1, 4], "test": [0]}
    root = zarr.open_group(str(path), mode="r+")
    rng = np.random.default_rng(0)
    for split, slots in cleared.items():
        group = root[split]
        for slot in slots:
            group["done"][slot] = False
            group["soma"][slot] = rng.normal(size=500).astype(np.float32)  # garbage
            group["inputs"][slot] = np.ones((100, 500), dtype=np.float16)
    report = make_dataset(reference["config"], path, workers=1)
    assert report.simulated == 3
    # the redraws of the recomputed slots are the same as in the clean run
    attempts = reference["arrays"]
    expected_drops = sum(int(attempts[f"{s}/attempt"][i]) for s, sl in cleared.items() for i in sl)
    assert sum(report.dropped.values()) == expected_drops
    assert_bit_identical(store_arrays(path), reference["arrays"])
    store = open_dataset(path)
    assert all(store.verify(split) == [] for split in SPLITS)
    assert store.root["train"].attrs["checksum"] == reference["attrs"]["train"]["checksum"]
    # nothing pending: a rerun simulates nothing and changes nothing
    again = make_dataset(reference["config"], path, workers=1)
    assert again.simulated == 0 and again.dropped == {}
    assert_bit_identical(store_arrays(path), reference["arrays"])


# -- 4. interrupt (Ctrl-C) in the command line ----------------------------------------------------
@pytest.mark.slow
def test_sigint_leaves_a_consistent_resumable_store(tmp_path: Path):
    path = tmp_path / "ds"
    counts = {"train": 40, "valid": 10, "test": 10}
    args = [
        sys.executable,
        "-m",
        "neurotwin.cli",
        "dataset",
        "make",
        "--out",
        str(path),
        "--cell",
        "lif",
        "--duration-ms",
        "1000",
        "--workers",
        "1",
        "--batch-size",
        "1",
        "--quiet",
        "--filter-set",
        "min_rate_hz=0.0",
        "--filter-set",
        "max_rate_hz=1000.0",
    ]
    for split, n in counts.items():
        args += [f"--{split}", str(n)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        # interrupt once some slots are stored (the Ctrl-C handler is installed by then)
        while time.monotonic() < deadline and proc.poll() is None:
            if (path / "zarr.json").exists() and open_dataset(path).split("train").num_done:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted"), err
    assert "rerun" in lines[0]
    store = open_dataset(path)
    done = {split: store.split(split).num_done for split in SPLITS}
    assert 0 < sum(done.values()) < sum(counts.values())
    for split in SPLITS:
        assert store.verify(split) == []
    # resume in this process with the config the command line built, compare with a clean run
    config = build_dataset_config(
        "lif", {}, None, {}, counts, 1000, 0, {"min_rate_hz": 0.0, "max_rate_hz": 1000.0}
    )
    assert config.content_hash() == store.meta["config_hash"]
    report = make_dataset(config, path, workers=1, batch_size=8)
    assert report.simulated == sum(counts.values()) - sum(done.values())
    make_dataset(config, tmp_path / "clean", workers=1, batch_size=8)
    assert_bit_identical(store_arrays(path), store_arrays(tmp_path / "clean"))


# -- 5. growing counts ---------------------------------------------------------------------------
def test_larger_counts_extend_the_store(reference: dict[str, Any], tmp_path: Path):
    path = tmp_path / "ds"
    small = {"train": 3, "valid": 1, "test": 0}
    make_dataset(lif_config(small), path, workers=1)
    before = store_arrays(path)
    report = make_dataset(reference["config"], path, workers=1)
    assert report.simulated == sum(COUNTS.values()) - sum(small.values())
    after = store_arrays(path)
    for key, arr in before.items():
        split, name = key.split("/")
        if name == "checksum" or not small[split]:
            continue
        np.testing.assert_array_equal(after[key][: small[split]], arr, err_msg=key)
    # slots never depend on the counts: the grown store equals a store made at full size
    assert_bit_identical(after, reference["arrays"])
    assert open_dataset(path).config.counts == COUNTS


def test_smaller_counts_are_refused(reference: dict[str, Any], tmp_path: Path):
    path = copy_store(reference["path"], tmp_path / "ds")
    snapshot = folder_snapshot(path)
    with pytest.raises(StoreError, match="valid") as info:
        make_dataset(lif_config({**COUNTS, "valid": 2}), path, workers=1)
    assert isinstance(info.value, ValueError)
    assert "3 valid slots" in str(info.value)
    assert folder_snapshot(path) == snapshot


def test_refused_counts_leave_the_store_unchanged(reference: dict[str, Any], tmp_path: Path):
    path = copy_store(reference["path"], tmp_path / "ds")
    snapshot = folder_snapshot(path)
    with pytest.raises(StoreError, match="valid"):
        make_dataset(lif_config({"train": 8, "valid": 2, "test": 2}), path, workers=1)
    assert open_dataset(path).split("train").size == COUNTS["train"]
    assert folder_snapshot(path) == snapshot


# -- 6. store errors -----------------------------------------------------------------------------
def test_open_missing_path(tmp_path: Path):
    with pytest.raises(StoreError, match="no dataset at") as info:
        open_dataset(tmp_path / "missing")
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "missing").exists()


def test_folder_that_is_not_a_store_is_refused(tmp_path: Path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a dataset")
    snapshot = folder_snapshot(folder)
    with pytest.raises(StoreError, match="not a neurotwin dataset"):
        open_dataset(folder)
    with pytest.raises(StoreError, match="not a neurotwin dataset"):
        make_dataset(lif_config(), folder, workers=1)
    assert folder_snapshot(folder) == snapshot


def test_zarr_group_without_metadata_is_refused(tmp_path: Path):
    folder = tmp_path / "plain"
    zarr.open_group(str(folder), mode="w").attrs["something"] = 1
    snapshot = folder_snapshot(folder)
    with pytest.raises(StoreError, match="no neurotwin metadata"):
        open_dataset(folder)
    with pytest.raises(StoreError, match="no neurotwin metadata"):
        make_dataset(lif_config(), folder, workers=1)
    assert folder_snapshot(folder) == snapshot


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"cell_sets": {"tau_ms": 25.0}}, "cell.tau_ms"),
        ({"seed": 7}, "seed"),
        ({"duration_ms": 400}, "duration_ms"),
        ({"filter_sets": {**FILTER, "max_rate_hz": 12.0}}, "filter.max_rate_hz"),
    ],
)
def test_store_made_with_another_config_is_refused(
    reference: dict[str, Any], tmp_path: Path, overrides: dict[str, Any], field: str
):
    path = copy_store(reference["path"], tmp_path / "ds")
    snapshot = folder_snapshot(path)
    with pytest.raises(StoreError, match="made with another config") as info:
        make_dataset(lif_config(**overrides), path, workers=1)
    message = str(info.value)
    assert f"{field}: stored " in message, message
    assert folder_snapshot(path) == snapshot


# -- 7. checksums --------------------------------------------------------------------------------
def test_verify_lists_a_corrupt_slot(reference: dict[str, Any], tmp_path: Path):
    path = copy_store(reference["path"], tmp_path / "ds")
    store = open_dataset(path)
    assert all(store.verify(split) == [] for split in SPLITS)
    # stored checksums are those of the stored arrays
    sums = store.split("valid")["checksum"][:]
    assert sample_checksum(store.load("valid", 1)) == int(sums[1])
    root = zarr.open_group(str(path), mode="r+")
    soma = root["train"]["soma"]
    soma[2] = np.asarray(soma[2]) + np.float32(0.5)
    store = open_dataset(path)
    assert store.verify("train") == [2]
    assert store.verify("valid") == [] and store.verify("test") == []


# -- 8. Dask -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dask_cluster_gives_the_same_arrays(reference: dict[str, Any], tmp_path: Path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        report = make_dataset(
            reference["config"], tmp_path / "ds", scheduler=cluster.scheduler_address
        )
    assert report.simulated == sum(COUNTS.values())
    assert_bit_identical(store_arrays(tmp_path / "ds"), reference["arrays"])
    assert split_attrs(tmp_path / "ds") == reference["attrs"]


# -- 9. a tiny ball-and-stick dataset ------------------------------------------------------------
@pytest.mark.neuron
def test_ball_and_stick_targets_follow_the_spec(tmp_path: Path):
    counts = {"train": 1, "valid": 1, "test": 1}
    config = build_dataset_config("point_ampa", {}, None, {}, counts, 300, 0, RELAXED)
    report = make_dataset(config, tmp_path / "ds", workers=1)
    assert report.simulated == 3
    store = open_dataset(tmp_path / "ds")
    cell = config.cell
    inputs, soma_unc, dend = [], [], []
    for split in SPLITS:
        s = store.load(split, 0)
        assert s["inputs"].dtype == np.float16 and s["inputs"].shape == (2, 8, 300)
        assert np.mean(s["inputs"] == 0) > 0.8
        assert s["soma"].dtype == np.float32 and s["dend"].dtype == np.float16
        assert s["dend"].shape == (8, 300)
        np.testing.assert_array_equal(s["soma"], np.minimum(s["soma_uncapped"], cell.soma_cap_mV))
        assert np.all(s["dend"] <= cell.dend_cap_mV)
        assert np.all(s["near_spike"][s["spikes"]])
        assert np.all(s["inst_rate"] >= 0)
        rate = store.split(split)["rate_hz"][0]
        assert rate == pytest.approx(s["spikes"].sum() * 1000.0 / 300)
        inputs.append(s["inputs"])
        soma_unc.append(s["soma_uncapped"])
        dend.append(s["dend"])
    assert sum(store.split(sp)["rate_hz"][0] for sp in SPLITS) > 0  # some spikes to check
    # the stored inputs reproduce the stored targets exactly (batched, as one NEURON model)
    results = neurotwin.simulate(cell, np.stack(inputs).astype(np.float32))
    for res, v, d in zip(results, soma_unc, dend, strict=True):
        np.testing.assert_array_equal(res.soma_v, v)
        np.testing.assert_array_equal(
            np.minimum(res.dend_v, cell.dend_cap_mV).astype(np.float16), d
        )
    # and one at a time
    single = neurotwin.simulate(cell, inputs[1].astype(np.float32))
    np.testing.assert_array_equal(single.soma_v, soma_unc[1])


# -- 10. statistics and figures ------------------------------------------------------------------
def test_dataset_stats_match_the_store(reference: dict[str, Any]):
    store = open_dataset(reference["path"])
    stats = dataset_stats(store)
    arrays, attrs = reference["arrays"], reference["attrs"]
    for split, n in COUNTS.items():
        s = stats[split]
        assert (s["requested"], s["done"]) == (n, n)
        assert s["dropped"] == attrs[split]["dropped"]
        assert s["checksum"] == attrs[split]["checksum"] and s["checksum"]
        rates = arrays[f"{split}/rate_hz"]
        assert s["rate_hz"]["mean"] == pytest.approx(float(rates.mean()))
        assert s["rate_hz"]["min"] == pytest.approx(float(rates.min()))
        assert s["rate_hz"]["max"] == pytest.approx(float(rates.max()))
        soma = arrays[f"{split}/soma_uncapped"]
        assert s["soma_mV"]["mean"] == pytest.approx(float(soma.mean()), rel=1e-6)
        assert s["soma_mV"]["max"] == pytest.approx(float(soma.max()))
        assert s["spike_bin_fraction"] == pytest.approx(float(arrays[f"{split}/spikes"].mean()))
    assert store.summary()["train"]["done"] == COUNTS["train"]


def test_dataset_stats_of_a_partial_store(reference: dict[str, Any], tmp_path: Path):
    path = copy_store(reference["path"], tmp_path / "ds")
    root = zarr.open_group(str(path), mode="r+")
    root["test"]["done"][:] = False
    store = open_dataset(path)
    stats = dataset_stats(store)
    assert stats["test"]["done"] == 0 and "rate_hz" not in stats["test"]
    assert stats["train"]["done"] == COUNTS["train"]
    # the example figures come from the next split that holds simulations
    written = dataset_figures(store, tmp_path / "figs", n_samples=5)
    assert sorted(p.name for p in written) == [
        "sample_0.png",
        "sample_1.png",
        "sample_2.png",
        "stats.png",
    ]  # valid holds 3


def test_dataset_figures_write_pngs(reference: dict[str, Any], tmp_path: Path):
    store = open_dataset(reference["path"])
    written = dataset_figures(store, tmp_path / "figs", n_samples=2)
    names = sorted(p.name for p in written)
    assert names == ["sample_0.png", "sample_1.png", "stats.png"]
    for p in written:
        data = p.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC), p
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == names  # no partial files


def test_store_is_read_only_when_opened_for_reading(reference: dict[str, Any]):
    store = open_dataset(reference["path"])
    assert isinstance(store, DatasetStore)
    with pytest.raises(Exception):  # noqa: B017 - zarr's read-only error type is not public
        store.split("train")["done"][0] = False
    assert store.split("train").num_done == COUNTS["train"]
