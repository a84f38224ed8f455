"""Tests of step-by-step streaming, TorchScript/ONNX export and the ``neurotwin models`` CLI."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from twin_helpers import events, one_torch_thread  # noqa: F401  (fixture)
from typer.testing import CliRunner

from neurotwin.models import build, export_onnx, export_torchscript, get, names
from neurotwin.models.export import ExportMismatchError, export_heads
from neurotwin.models.streaming import RingBuffer

CASES = [(name, preset) for name in names() for preset in get(name).presets]


# -- streaming -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "preset"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_streaming_equals_full_pass(name: str, preset: str) -> None:
    torch.manual_seed(0)
    model = build(name, preset).eval()
    t = 160 if model.receptive_field_ms != 1021 else 300  # transformer small: past its window
    x = events(2, t)
    with torch.no_grad():
        full = model(x)
    streamer = model.stream(batch_size=2)
    stepped = streamer.run(x.view(2, 2, 8, t)[..., :100])  # (B, 2, S) frames work too
    rest = streamer.run(x[..., 100:])  # continues from the state
    assert streamer.t == t
    for h in full:
        got = torch.cat([stepped[h], rest[h]], dim=-1)
        torch.testing.assert_close(got, full[h], atol=1e-5, rtol=0)


def test_streamer_reset_and_errors() -> None:
    model = build("tcn", "A").eval()
    streamer = model.stream(1)
    x = events(1, 30)
    first = streamer.run(x)
    streamer.reset()
    again = streamer.run(x)
    torch.testing.assert_close(first["spike"], again["spike"], atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"expected one frame of shape \(1, 16\)"):
        streamer.step(torch.zeros(2, 16))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        model.stream(0)


def test_transformer_cache_is_bounded() -> None:
    model = build("transformer", "tiny", window_ms=8).eval()
    streamer = model.stream(1)
    streamer.run(events(1, 40))
    assert all(c["k"].shape[2] == 8 for c in streamer.state["kv"])


def test_ring_buffer_order() -> None:
    ring = RingBuffer(1, 1, 3)
    windows = [ring.push(torch.tensor([[float(i)]]))[0, 0].tolist() for i in range(1, 6)]
    assert windows == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]


# -- export --------------------------------------------------------------------------------------
EXPORT_CASES = [("tcn", "A"), ("gru", "small"), ("elm", "small"), ("transformer", "tiny")]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize(("name", "preset"), EXPORT_CASES)
def test_torchscript_export(name: str, preset: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = build(name, preset).train()
    diff = export_torchscript(model, tmp_path / "twin.pt", example_T=64)
    assert diff <= 1e-4
    assert model.training  # the export puts it back in the mode it was in
    loaded = torch.jit.load(str(tmp_path / "twin.pt"))
    x = events(1, 50)
    out = loaded(x)
    assert isinstance(out, tuple) and len(out) == len(export_heads(model))
    with torch.no_grad():
        ref = model.eval()(x)  # the export is the eval-mode model (BatchNorm's running stats)
    for h, y in zip(export_heads(model), out, strict=True):
        torch.testing.assert_close(y, ref[h], atol=1e-4, rtol=0)


@pytest.mark.parametrize(("name", "preset"), EXPORT_CASES)
def test_onnx_export(name: str, preset: str, tmp_path) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    model = build(name, preset, heads=("dend", "spike", "soma"))
    diff = export_onnx(model, tmp_path / "twin.onnx", example_T=64)
    assert diff <= 1e-4
    session = ort.InferenceSession(str(tmp_path / "twin.onnx"))
    assert [o.name for o in session.get_outputs()] == ["spike", "soma", "dend"]  # HEADS order
    dend = session.run(["dend"], {"x": events(4, 33).numpy()})[0]
    assert dend.shape == (4, 8, 33)


def test_export_detects_mismatch(tmp_path, monkeypatch) -> None:
    model = build("linear", "short")
    import neurotwin.models.export as export

    monkeypatch.setattr(export, "_max_diff", lambda got, want: 1.0)
    with pytest.raises(ExportMismatchError, match="differs from the PyTorch model by 1"):
        export_torchscript(model, tmp_path / "twin.pt", example_T=16)


# -- CLI -----------------------------------------------------------------------------------------
def _app() -> typer.Typer:
    from neurotwin.commands.models import register

    app = typer.Typer()

    @app.command()
    def other() -> None:  # a second command, so that `models` is a sub-command
        pass

    register(app)
    return app


def test_cli_models_json() -> None:
    res = CliRunner().invoke(_app(), ["models", "--cell", "cable_nmda", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    rows = {(r["name"], r["preset"]): r for r in data["twins"]}
    assert set(rows) == set(CASES)
    assert rows[("tcn", "C")]["num_params"] == 189_804  # 189,644 with norm="rms"
    assert rows[("tcn", "C")]["receptive_field_ms"] == 201
    assert rows[("lstm", "small")]["receptive_field_ms"] is None  # unbounded


def test_cli_models_table_and_lif() -> None:
    res = CliRunner().invoke(_app(), ["models", "--cell", "lif"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("twins for cell lif")
    assert any(line.split()[:2] == ["gru", "small*"] and "unbounded" in line for line in lines)
    assert len(lines) == 2 + len(CASES)


def test_cli_models_bad_cell() -> None:
    res = CliRunner().invoke(_app(), ["models", "--cell", "nope"])
    assert res.exit_code != 0
    assert res.stderr.strip().splitlines() == [
        "error: unknown cell preset 'nope'; valid presets: point_ampa, cable_nmda, lif"
    ]
