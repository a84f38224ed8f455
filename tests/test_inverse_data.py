"""Tests of inverse datasets (neurotwin.inverse.data) and ``neurotwin inverse`` data commands:
determinism across worker counts, resume after an interruption, scaled ↔ physical round trip,
metadata, transforms, refusal of changed options, and one-line CLI errors.

Most use the Izhikevich cell on a 100 ms stimulus (milliseconds per chunk); one makes a tiny
HH ball-and-two-sticks dataset through the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from neurotwin.cli import app
from neurotwin.data.generate import Interrupted
from neurotwin.data.store import StoreError
from neurotwin.interrupt import StopFlag
from neurotwin.inverse.data import (
    floor_fraction,
    make_inverse_dataset,
    open_inverse_dataset,
    split_counts,
    transform_spec,
    transform_traces,
)
from neurotwin.inverse.simulators import from_scaled, get_simulator
from neurotwin.inverse.stimuli import make_stimulus

STIM = make_stimulus(amplitude_nA=0.1, offset_nA=0.1, reset_nA=-0.05, duration_ms=100.0)
RUNNER = CliRunner()


def make(path, n=40, **kw):
    args = {"stimulus": STIM, "seed": 3, "chunk": 7, "workers": 1, **kw}
    return make_inverse_dataset(path, "izhikevich", n, **args)


def arrays(path) -> dict[str, np.ndarray]:
    root = zarr.open_group(str(path), mode="r")
    return {
        f"{s}/{k}": np.asarray(root[s][k][:])
        for s in ("train", "valid", "test")
        for k in ("theta", "theta_scaled", "traces_mv", "done")
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("inv") / "ref"
    make(path)
    return path


def test_layout_meta_and_round_trip(reference):
    store = open_inverse_dataset(reference)
    meta = store.meta
    assert meta["simulator"] == {
        "name": "izhikevich",
        "settings": {"i_per_nA": 100.0, "substeps": 4},
    }
    assert meta["params"][0] == ["a", "1/ms", 0.01, 0.12]
    assert meta["stimulus"] == STIM.to_dict() and meta["dt_ms"] == 0.1
    assert meta["transform"] == transform_spec("log10_v81")
    assert meta["seed"] == 3 and meta["counts"] == {"train": 32, "valid": 4, "test": 4}
    assert {"neurotwin", "neuron", "numpy", "zarr"} <= set(meta["versions"])
    assert store.complete
    sim = store.simulator()
    for name, n in meta["counts"].items():
        split = store.split(name)
        assert split.theta.shape == (n, 4) and split.theta.dtype == np.float32
        assert split.traces_mv.shape == (n, 1000) and split.traces_mv.dtype == np.float32
        assert np.all(np.abs(split.theta_scaled) <= 1)
        np.testing.assert_allclose(
            from_scaled(split.theta_scaled, sim.params), split.theta, rtol=1e-5, atol=1e-5
        )
        # the stored θ is exactly what was simulated
        np.testing.assert_array_equal(
            sim.simulate(split.theta[:2], split.stimulus), split.traces_mv[:2]
        )
    train = store.split("train").theta
    assert len({tuple(r) for r in train}) == len(train)  # distinct draws


def test_same_arrays_for_any_worker_count(reference, tmp_path):
    make(tmp_path / "w2", workers=2)
    a, b = arrays(reference), arrays(tmp_path / "w2")
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


def test_resume_after_interrupt_is_bit_identical(reference, tmp_path):
    path = tmp_path / "part"
    flag = StopFlag()
    seen = []

    def progress(n, total):
        seen.append(n)
        flag.stop = True  # as if Ctrl-C arrived during the first chunk

    with pytest.raises(Interrupted, match="rerun"):
        make(path, progress=progress, stop=flag)
    store = open_inverse_dataset(path)
    assert not store.complete and sum(store.done_counts().values()) == seen[0] == 7
    assert len(store.split("train")) == 7  # only stored rows are read
    report = make(path)
    assert report.simulated == 40 - 7
    a, b = arrays(reference), arrays(path)
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key
    assert make(path).simulated == 0  # nothing left to do


def test_resume_fills_stimulus_fields_added_since(tmp_path):
    """A dataset recorded before a stimulus field existed resumes: the field takes its default."""
    path = tmp_path / "old"
    make(path)
    root = zarr.open_group(str(path), mode="r+")
    meta = dict(root.attrs["neurotwin_inverse"])
    meta["stimulus"] = {k: v for k, v in meta["stimulus"].items() if not k.startswith("pulse")}
    root.attrs["neurotwin_inverse"] = meta
    assert make(path).simulated == 0
    with pytest.raises(StoreError, match="pulse_ms"):  # a real change is still refused
        make(path, stimulus=STIM.replace(pulse_ms=5.0, delay_ms=20.0, stim_ms=70.0))


def test_a_larger_n_grows_the_dataset_to_what_a_fresh_one_holds(reference, tmp_path):
    """40 → 100 rows (train 32 → 80: its partial last chunk of 7 is drawn again, larger) keeps
    the stored rows, simulates only the rest and equals a dataset made at 100 from the start,
    also after an interruption mid-grow; a smaller n is refused."""
    path = tmp_path / "grow"
    make(path)
    before = arrays(path)
    flag, seen = StopFlag(), []

    def progress(n, total):
        seen.append((n, total))
        flag.stop = True

    with pytest.raises(Interrupted):
        make(path, n=100, progress=progress, stop=flag)
    # only train's 4 full chunks (28 rows) are kept; valid and test (4 rows each) were partial
    assert seen[0][1] == 100 - 28
    store = open_inverse_dataset(path)
    assert store.meta["counts"] == {"train": 80, "valid": 10, "test": 10}
    assert len(store.split("train")) < 80
    assert seen[0][0] + make(path, n=100).simulated == 100 - 28
    fresh = tmp_path / "fresh"
    make(fresh, n=100)
    grown, made = arrays(path), arrays(fresh)
    for key in made:
        assert grown[key].tobytes() == made[key].tobytes(), key
    np.testing.assert_array_equal(grown["train/traces_mv"][:28], before["train/traces_mv"][:28])
    assert open_inverse_dataset(path).complete and make(path, n=100).simulated == 0
    with pytest.raises(StoreError, match="counts"):
        make(path, n=60)


def test_changed_options_are_refused(reference):
    with pytest.raises(StoreError, match="seed"):
        make(reference, seed=4)
    with pytest.raises(StoreError, match="stimulus"):
        make(reference, stimulus=STIM.replace(amplitude_nA=0.2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chunk": 0}, "chunk"),
        ({"seed": -1}, "seed"),
        ({"split_fractions": (0.5, 0.1, 0.1)}, "split_fractions"),
        ({"transform": "sqrt"}, "transform"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_split_counts_and_transforms():
    assert split_counts(10, (0.8, 0.1, 0.1)) == {"train": 8, "valid": 1, "test": 1}
    assert split_counts(200_000, (0.8, 0.1, 0.1))["train"] == 160_000
    with pytest.raises(ValueError, match="n must be"):
        split_counts(0, (0.8, 0.1, 0.1))
    v = np.array([-200.0, -81.0, -71.0, 19.0], dtype=np.float32)
    out = transform_traces(v, transform_spec("log10_v81"))
    np.testing.assert_allclose(out, [-1.0, -1.0, 1.0, 2.0], atol=1e-6)
    assert np.array_equal(transform_traces(v, transform_spec("identity")), v)
    wide = transform_traces(v, transform_spec("log10_v121"))  # floor at -120.9 mV
    np.testing.assert_allclose(wide, np.log10([0.1, 40.0, 50.0, 140.0]), atol=1e-6)
    assert wide[1] > wide[0]  # -81 mV is no longer on the floor


def test_transform_default_resume_and_re_record(reference, tmp_path):
    """A new dataset takes the simulator's transform; a resume keeps the recorded one; naming
    another re-records it without simulating anything; evaluate reads with the estimator's."""
    from neurotwin.inverse.neuron_sims import Mainen
    from neurotwin.inverse.pipeline import load_split

    assert Mainen.default_transform == "log10_v121"  # its AHPs reach E_K = -90 mV
    path = tmp_path / "re"
    make(path)
    before = arrays(path)
    assert make(path).simulated == 0  # no transform named: the recorded one is kept
    assert make(path, transform="log10_v121").simulated == 0
    assert open_inverse_dataset(path).meta["transform"] == transform_spec("log10_v121")
    after = arrays(path)
    assert all(before[k].tobytes() == after[k].tobytes() for k in before)
    with pytest.raises(StoreError, match="seed"):
        make(path, transform="identity", seed=9)  # other options are still compared
    assert open_inverse_dataset(path).meta["transform"] == transform_spec("log10_v121")
    own = load_split(path, "test")
    as_estimator = load_split(path, "test", transform=transform_spec("log10_v81"))
    assert np.array_equal(own.x, transform_traces(own.v_mv, transform_spec("log10_v121")))
    assert np.array_equal(as_estimator.x, transform_traces(own.v_mv, transform_spec("log10_v81")))
    assert as_estimator.meta["transform"]["name"] == "log10_v81"


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", "nope", "--n", "4"], ("unknown simulator", "hh_ball2sticks")),
        (["--model", "izhikevich", "--n", "0"], ("n must be",)),
        (["--model", "izhikevich", "--n", "4", "--set", "bogus=1"], ("bogus", "i_per_nA")),
        (["--model", "izhikevich", "--n", "4", "--set", "nokey"], ("KEY=VALUE",)),
        (["--model", "mainen", "--n", "4", "--set", "dend_soma_ratio=-2"], ("dend_soma_ratio",)),
        (["--model", "izhikevich", "--n", "4", "--stimulus", "sine"], ("kind",)),
        (["--model", "izhikevich", "--n", "4", "--set", "dt_ms=0"], ("dt_ms",)),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args, fragments):
    result = RUNNER.invoke(app, ["inverse", "make-data", *args, "--out", str(tmp_path / "d")])
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "d").exists()


def test_cli_models_and_make_data_hh(tmp_path):
    result = RUNNER.invoke(app, ["inverse", "models"])
    assert result.exit_code == 0, result.output
    for fragment in ("izhikevich", "hh_ball2sticks", "mainen", "gna_node", "pS/um2"):
        assert fragment in result.stdout
    out = tmp_path / "hh"
    args = ["inverse", "make-data", "--model", "hh_ball2sticks", "--n", "10", "--out", str(out)]
    args += ["--set", "duration_ms=60", "--set", "celsius_degC=10", "--chunk", "4", "-q"]
    result = RUNNER.invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "train 8/8" in result.stdout
    store = open_inverse_dataset(out)
    assert store.meta["simulator"]["settings"]["celsius_degC"] == 10.0
    assert store.stimulus.duration_ms == 60.0 and store.stimulus.kind == "reset_chirp"
    assert store.split("test").traces_mv.shape == (1, 600)
    sim = get_simulator("hh_ball2sticks", celsius_degC=10.0)
    again = sim.simulate(store.split("valid").theta, store.stimulus)
    np.testing.assert_array_equal(again, store.split("valid").traces_mv)
    rerun = RUNNER.invoke(app, [*args, "--workers", "1"])
    assert rerun.exit_code == 0 and "0 simulated now" in rerun.stdout


def test_cli_simulate_writes_trace_and_plot(tmp_path):
    npz, png = tmp_path / "v.npz", tmp_path / "v.png"
    args = ["inverse", "simulate", "--model", "izhikevich", "--stimulus", "step"]
    args += ["--set", "amplitude_nA=0.1", "--param", "d=8", "--out", str(npz), "--plot", str(png)]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert np.load(npz)["v_mV"].shape == (4000,)
    assert png.read_bytes()[:4] == b"\x89PNG"
    npy = tmp_path / "v.npy"  # the trace alone: what `inverse predict --trace` reads
    result = RUNNER.invoke(app, [*args[:6], "--out", str(npy)])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(npy), np.load(npz)["v_mV"])
    bad = RUNNER.invoke(app, [*args[:6], "--out", str(tmp_path / "v.txt")])
    assert_one_line_error(bad, "--out must end in .npy")
    bad = RUNNER.invoke(app, ["inverse", "simulate", "--model", "izhikevich", "--param", "z=1"])
    assert_one_line_error(bad, "unknown izhikevich parameter")


def test_cli_make_data_notes_a_flattening_transform(tmp_path):
    """A hyperpolarising reset drives Izhikevich cells below -80.9 mV: make-data says so, and
    re-recording the transform (nothing re-simulated) silences the note."""
    out = tmp_path / "deep"
    args = ["inverse", "make-data", "--model", "izhikevich", "--n", "40", "--out", str(out)]
    args += ["--set", "reset_nA=-0.3", "--set", "duration_ms=100", "--workers", "1", "-q"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "note:" in result.stdout and "log10_v81 floor (-80.9 mV)" in result.stdout
    wide = RUNNER.invoke(app, [*args, "--transform", "log10_v121"])
    assert wide.exit_code == 0 and "0 simulated now" in wide.stdout
    assert "note:" not in wide.stdout
    assert open_inverse_dataset(out).meta["transform"]["name"] == "log10_v121"
    spec = transform_spec("log10_v81")
    v = np.array([-90.0, -80.9, -80.0, 10.0], dtype=np.float32)
    assert floor_fraction(v, spec) == 0.5 and floor_fraction(v, transform_spec("identity")) == 0
