"""Tests of the ``neurotwin`` command line: ``cells``, ``simulate``, ``dataset make|info``.

Most commands run in this process through Typer's CliRunner (stdout and stderr apart); one test
runs the real entry point in a subprocess to check the exit code and that stderr holds a single
line and no traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

import neurotwin
from neurotwin.cells import preset, preset_names
from neurotwin.cli import app
from neurotwin.data.store import open_dataset
from neurotwin.sim.inputs import generate, make_inputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUNNER = CliRunner()


def run(*args: str):
    return RUNNER.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str, code: int = 2) -> str:
    """Exit ``code``, stderr one line starting with "error:" holding every fragment."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture(scope="module")
def point_inputs() -> np.ndarray:
    """(2, 8, 200) tutorial inputs for the point_ampa cell."""
    cell = preset("point_ampa")
    x = generate(make_inputs("tutorial"), cell, 200, 2, seed=3)  # (2, 2, 8, 200)
    return x[0]


# -- help ----------------------------------------------------------------------------------------
def test_every_command_summary_is_one_line():
    """Group listings show each command's ``short_help``; docstrings wrap, the summaries must not
    (Typer would keep the line breaks)."""
    import typer

    def walk(cmd, path: str):
        if hasattr(cmd, "commands"):  # a group
            for name, sub in cmd.commands.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, cmd

    commands = list(walk(typer.main.get_command(app), "neurotwin"))
    assert len(commands) > 20
    for path, cmd in commands:
        assert cmd.short_help and "\n" not in cmd.short_help, (path, cmd.short_help)
    listing = RUNNER.invoke(app, ["inverse", "--help"], env={"COLUMNS": "250"}).stdout
    assert any("calibrate its σ and its out-of-range flag" in line for line in listing.splitlines())


# -- cells ---------------------------------------------------------------------------------------
def test_cells_lists_the_presets():
    result = run("cells")
    assert result.exit_code == 0, result.output
    for name in ("point_ampa", "cable_nmda", "lif"):
        assert any(line.startswith(f"{name} (") for line in result.stdout.splitlines()), name
    assert "dend_L_um = 2048.0" in result.stdout


def test_cells_json_parses():
    result = run("cells", "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    assert sorted(table) == sorted(preset_names())
    assert {"point_ampa", "cable_nmda", "lif"} <= set(table)
    assert table["lif"]["family"] == "lif"
    assert table["cable_nmda"]["family"] == "ball_and_stick"
    assert table["cable_nmda"]["synapse"] == "nmda_human"
    assert table["point_ampa"] == json.loads(json.dumps(preset("point_ampa").to_dict()))


# -- simulate ------------------------------------------------------------------------------------
@pytest.mark.neuron
def test_simulate_writes_traces_and_a_figure(tmp_path: Path, point_inputs: np.ndarray):
    np.save(tmp_path / "in.npy", point_inputs)
    out, fig = tmp_path / "out.npz", tmp_path / "figs" / "fig.png"
    result = run(
        "simulate",
        "--cell",
        "point_ampa",
        "--inputs",
        tmp_path / "in.npy",
        "--out",
        out,
        "--plot",
        fig,
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    with np.load(out) as npz:
        assert npz["soma_v"].shape == (200,)
        assert npz["dend_v"].shape == (8, 200)
        assert npz["spikes"].shape == (200,) and npz["spikes"].dtype == bool
        assert npz["target_soma"].shape == (200,)
        assert json.loads(str(npz["cell_config"]))["name"] == "point_ampa"
        expected = neurotwin.simulate(preset("point_ampa"), point_inputs)
        np.testing.assert_array_equal(npz["soma_v"], expected.soma_v)
        np.testing.assert_array_equal(npz["spikes"], expected.spikes)
        assert int(npz["spike_counts"][0]) == len(expected.spike_times_ms)
    data = fig.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "in.npy", "out.npz"]


@pytest.mark.neuron
def test_simulate_batch_and_set(tmp_path: Path, point_inputs: np.ndarray):
    batch = np.stack([point_inputs, point_inputs[:, ::-1]])  # (2, 2, 8, 200)
    np.save(tmp_path / "in.npy", batch)
    out = tmp_path / "out.npz"
    result = run(
        "simulate",
        "--cell",
        "point_ampa",
        "--inputs",
        tmp_path / "in.npy",
        "--out",
        out,
        "--set",
        "ske2_factor=1.0",
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as npz:
        assert npz["soma_v"].shape == (2, 200)
        assert npz["dend_v"].shape == (2, 8, 200)
        assert npz["spike_counts"].shape == (2,)
        assert json.loads(str(npz["cell_config"]))["ske2_factor"] == 1.0


def _bad_inputs(tmp_path: Path, point_inputs: np.ndarray, kind: str) -> Path:
    path = tmp_path / "in.npy"
    x = point_inputs.copy()
    if kind == "shape":
        x = np.zeros((3, 8, 200), dtype=np.float32)
    elif kind == "nan":
        x[0, 3, 10] = np.nan
    elif kind == "negative":
        x[1, 2, 5] = -1.0
    elif kind == "missing":
        return tmp_path / "nowhere.npy"
    elif kind == "not_npy":
        path.write_text("1 2 3\n")
        return path
    np.save(path, x)
    return path


@pytest.mark.parametrize(
    ("kind", "extra", "fragments"),
    [
        ("good", ["--set", "nonsense=1"], ["nonsense", "valid fields", "ske2_factor"]),
        ("good", ["--set", "ske2_factor"], ["KEY=VALUE"]),
        ("good", ["--set", "dend_diam_um=-1"], ["dend_diam_um", "-1"]),
        ("shape", [], ["shape", "(3, 8, 200)"]),
        ("nan", [], ["NaN"]),
        ("negative", [], [">= 0"]),
        ("missing", [], ["nowhere.npy", "does not exist"]),
        ("not_npy", [], ["cannot read"]),
    ],
)
def test_simulate_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, point_inputs: np.ndarray, kind: str, extra: list[str], fragments: list[str]
):
    inputs = _bad_inputs(tmp_path, point_inputs, kind)
    out = tmp_path / "out.npz"
    result = run(
        "simulate",
        "--cell",
        "point_ampa",
        "--inputs",
        inputs,
        "--out",
        out,
        "--plot",
        tmp_path / "fig.png",
        *extra,
    )
    assert_one_line_error(result, *fragments)
    assert not out.exists() and not (tmp_path / "fig.png").exists()
    assert not list(tmp_path.glob("*.partial*"))


def test_simulate_unknown_preset_lists_the_valid_ones(tmp_path: Path):
    np.save(tmp_path / "in.npy", np.zeros((2, 8, 20), dtype=np.float32))
    out = tmp_path / "out.npz"
    result = run("simulate", "--cell", "nope", "--inputs", tmp_path / "in.npy", "--out", out)
    assert_one_line_error(result, "'nope'", "point_ampa", "cable_nmda", "lif")
    assert not out.exists()


def test_simulate_lif(tmp_path: Path):
    x = (np.random.default_rng(0).random((100, 300)) < 0.02).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    result = run(
        "simulate",
        "--cell",
        "lif",
        "--inputs",
        tmp_path / "in.npy",
        "--out",
        tmp_path / "out.npz",
        "--plot",
        tmp_path / "fig.png",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig.png").read_bytes().startswith(PNG_MAGIC)
    with np.load(tmp_path / "out.npz") as npz:
        assert npz["soma_v"].shape == (300,)
        assert npz["dend_v"].shape == (0, 300)
        np.testing.assert_array_equal(npz["soma_v"], neurotwin.simulate(preset("lif"), x).soma_v)


# -- dataset make / info -------------------------------------------------------------------------
MAKE = [
    "dataset",
    "make",
    "--cell",
    "lif",
    "--train",
    "4",
    "--valid",
    "2",
    "--test",
    "1",
    "--duration-ms",
    "300",
    "--workers",
    "1",
    "--quiet",
    "--filter-set",
    "min_rate_hz=0.0",
    "--filter-set",
    "max_rate_hz=1000.0",
]


@pytest.fixture(scope="module")
def cli_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ds"
    result = run(*MAKE, "--out", path)
    assert result.exit_code == 0, result.output
    assert "7 simulated now" in result.stdout
    assert "train: 4/4 stored" in result.stdout
    return path


def test_dataset_make_then_info_verify_figures(cli_dataset: Path, tmp_path: Path):
    store = open_dataset(cli_dataset)
    assert store.config.cell.name == "lif" and store.config.duration_ms == 300
    assert store.config.counts == {"train": 4, "valid": 2, "test": 1}
    figs = tmp_path / "figs"
    result = run("dataset", "info", cli_dataset, "--verify", "--figures", figs)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cell lif, inputs poisson_rates, 300 ms per simulation, seed 0" in out
    for split, n in (("train", 4), ("valid", 2), ("test", 1)):
        assert f"{split:5s} {n}/{n} stored" in out
    assert "checksums: {'train': 'ok', 'valid': 'ok', 'test': 'ok'}" in out
    pngs = sorted(figs.glob("*.png"))
    assert [p.name for p in pngs] == ["sample_0.png", "stats.png"]  # test split: 1 sample
    for p in pngs:
        assert p.read_bytes().startswith(PNG_MAGIC) and p.stat().st_size > 1000


def test_dataset_make_rerun_resumes_nothing(cli_dataset: Path):
    result = run(*MAKE, "--out", cli_dataset)
    assert result.exit_code == 0, result.output
    assert "0 simulated now" in result.stdout


def test_dataset_info_json(cli_dataset: Path):
    result = run("dataset", "info", cli_dataset, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["config"]["cell"]["family"] == "lif"
    assert info["splits"]["valid"]["done"] == 2
    assert "numpy" in info["versions"]


def test_dataset_info_verify_reports_corruption(cli_dataset: Path, tmp_path: Path):
    path = tmp_path / "ds"
    shutil.copytree(cli_dataset, path)
    soma = zarr.open_group(str(path), mode="r+")["valid"]["soma"]
    soma[1] = np.asarray(soma[1]) - np.float32(1.0)
    result = run("dataset", "info", path, "--verify")
    assert result.exit_code == 0, result.output
    assert "'valid': '1 corrupt: [1]'" in result.stdout
    assert "'train': 'ok'" in result.stdout


def test_dataset_make_with_another_config_is_one_line(cli_dataset: Path):
    result = run(*MAKE, "--out", cli_dataset, "--set", "tau_ms=25.0")
    assert_one_line_error(result, "another config", "cell.tau_ms")


def test_dataset_make_bad_options_are_one_line(tmp_path: Path):
    out = tmp_path / "ds"
    result = run(*MAKE, "--out", out, "--filter-set", "nonsense=1")
    assert_one_line_error(result, "nonsense", "min_rate_hz")
    result = run(*MAKE, "--out", out, "--inputs", "nope")
    assert_one_line_error(result, "'nope'", "lif_poisson")
    assert not out.exists()


def test_dataset_info_missing_path(tmp_path: Path):
    result = run("dataset", "info", tmp_path / "missing")
    assert_one_line_error(result, "no dataset at", "missing")


def test_entry_point_error_is_one_line_on_stderr(tmp_path: Path):
    """The real process: exit code 2, a single stderr line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "neurotwin.cli", "dataset", "info", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no dataset at"), proc.stderr
    assert proc.stdout == ""
