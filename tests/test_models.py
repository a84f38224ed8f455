"""Tests of the twin zoo: one parametrised test walks the registry (build, shapes, causality,
parameter count, receptive field, overfitting one batch), plus the exact TCN sizes, heads,
specs, predict units, configuration errors and model-specific details.

All on CPU and without NEURON; inputs are small random event trains. Streaming, export and the
CLI are in tests/test_models_streaming.py.
"""

from __future__ import annotations

import copy
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from twin_helpers import events, one_torch_thread  # noqa: F401  (fixture)

from neurotwin import models
from neurotwin.models import HEADS, build, for_cell, from_spec, get, names, registry_table
from neurotwin.models.elm import ELM
from neurotwin.models.tcn import TCNConfig
from neurotwin.models.transformer import sliding_window_attention, window_mask

CASES = [(name, preset) for name in names() for preset in get(name).presets]
CELL_8 = SimpleNamespace(input_shape=(2, 8), num_dend=8)  # the ball-and-stick layout
TCN_SIZES = {  # the issue's figures (norm="rms": one gain per channel and conv layer)
    "A": (17_612, 181),
    "B": (47_148, 181),
    "C": (189_644, 201),
    "D": (922_380, 241),
    "E": (328_460, 81),
}


def _smallest_presets() -> set[tuple[str, str]]:
    out = set()
    for name in names():
        sizes = {p: build(name, p).num_params for p in get(name).presets}
        out.add((name, min(sizes, key=sizes.__getitem__)))
    return out


SMALLEST = _smallest_presets()


def _targets(x: torch.Tensor, heads: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Learnable causal targets in learning units: exponentially filtered input drive."""
    b, c, t = x.shape
    s = c // 2
    signed = x[:, :s] - x[:, s:]  # (B, S, T) excitatory minus inhibitory per segment
    kernel = torch.exp(-torch.arange(40.0) / 8.0).flip(0)  # causal, tau 8 ms
    dend = F.conv1d(F.pad(signed.reshape(b * s, 1, t), (39, 0)), kernel.view(1, 1, -1))
    dend = dend.view(b, s, t)  # (B, S, T)
    soma = dend.sum(1, keepdim=True)
    soma = (soma - soma.mean()) / soma.std()
    spike = (soma > 1.0).float()
    out = {
        "spike": spike,
        "soma": soma,
        "near_spike": spike,
        "inst_rate": F.avg_pool1d(F.pad(spike, (4, 0)), 5, stride=1),
        "dend": (dend - dend.mean()) / dend.std(),
    }
    return {h: out[h] for h in heads}


def _loss(pred: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(())
    for h, y in pred.items():
        if h in ("spike", "near_spike"):
            total = total + F.binary_cross_entropy_with_logits(y, target[h])
        else:
            total = total + F.mse_loss(y, target[h])
    return total


def _changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
    """(T,) bool: some head channel of some batch element differs (at all) at that time."""
    return torch.stack([(a[h] != b[h]).any(0).any(0) for h in a]).any(0)


# -- the registry walk ---------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "preset"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_registry_contract(name: str, preset: str) -> None:
    torch.manual_seed(0)
    model = build(name, preset).eval()
    cfg = model.config
    assert model.name == name and cfg.in_channels == 16 and cfg.num_dend == 8

    # shapes, for (B, C_in, T) and (B, 2, S, T) inputs
    x = events(2, 300)
    with torch.no_grad():
        y = model(x)
        y4 = model(x.view(2, 2, 8, 300))
    assert list(y) == list(cfg.heads)
    for h, out in y.items():
        assert out.shape == (2, cfg.head_channels()[h], 300), h
        assert torch.isfinite(out).all(), h
        torch.testing.assert_close(y4[h], out)

    # causality: changing x[..., t:] leaves y[..., :t] unchanged
    t_cut = 137
    x2 = x.clone()
    x2[..., t_cut:] = events(2, 300 - t_cut, seed=1)
    with torch.no_grad():
        y2 = model(x2)
    for h in y:
        torch.testing.assert_close(y2[h][..., :t_cut], y[h][..., :t_cut], atol=1e-6, rtol=0)
    assert _changed(y, y2)[t_cut:].any()

    # num_params is the number of (trainable) parameters
    assert model.num_params == sum(p.numel() for p in model.parameters())

    # receptive field: a perturbation at t0 reaches exactly outputs t0 … t0 + RF - 1
    rf = model.receptive_field_ms
    if math.isinf(rf):
        assert name in ("lstm", "gru", "rnn", "elm", "elm_branch")
    else:
        # in float64: through 8 layers the influence at the receptive field's two edges is a
        # product of single kernel taps, which float32 can round away
        t0, t = 20, rf + 60
        xa = events(1, t, seed=2).double()
        xb = xa.clone()
        xb[..., t0] += 3.0
        m64 = copy.deepcopy(model).double()
        with torch.no_grad():
            # the raw heads (forward casts its input to float32)
            changed = _changed(m64._forward(xa), m64._forward(xb))
        hit = torch.nonzero(changed).flatten()
        reach = int(hit.max()) - t0 + 1
        assert hit.min() == t0 and reach <= rf, (int(hit.min()), reach, rf)
        if name == "transformer":  # the far tail of the attention chain is below float32 eps
            assert reach > rf - cfg.window_ms, (reach, rf)
        else:
            assert reach == rf, (reach, rf)

    if (name, preset) in SMALLEST:
        _check_overfits(model)


def _check_overfits(model: models.Twin) -> None:
    """The loss on one small batch halves within 150 Adam steps."""
    torch.manual_seed(0)
    model.train()
    x = events(2, 160, seed=3)
    target = _targets(x * model.scaling.input_scale, model.config.heads)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first, value = None, math.inf
    for _ in range(150):
        opt.zero_grad()
        loss = _loss(model(x), target)
        loss.backward()
        opt.step()
        value = loss.item()
        first = value if first is None else first
        if value < 0.5 * first:
            break
    assert value < 0.5 * first, (model.name, first, value)


# -- exact sizes, heads, specs -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tcn", "resnet_tcn"])
@pytest.mark.parametrize("preset", list(TCN_SIZES))
def test_tcn_presets_exact(name: str, preset: str) -> None:
    model = build(name, preset, norm="rms", **for_cell(CELL_8))
    assert (model.num_params, model.receptive_field_ms) == TCN_SIZES[preset]
    assert len(model.convs) == model.config.depth + 1
    # the default BatchNorm adds a bias per channel and conv layer
    default = build(name, preset, **for_cell(CELL_8))
    c = default.config
    assert default.num_params == TCN_SIZES[preset][0] + c.width * (c.depth + 1)


def test_tcn_dilation_receptive_field() -> None:
    model = build("tcn", "C", dilation_growth=2)  # dilations 1, 2, 4, 8 after the first conv
    assert model.receptive_field_ms == 40 + 40 * (1 + 2 + 4 + 8) + 1


@pytest.mark.parametrize("name", names())
def test_head_selection(name: str) -> None:
    model = build(name, heads=("spike", "soma"))
    with torch.no_grad():
        out = model(events(1, 50))
    assert list(out) == ["spike", "soma"]
    assert all(v.shape == (1, 1, 50) for v in out.values())
    dend_only = build(name, heads=("dend",), num_dend=3, in_channels=6)
    with torch.no_grad():
        assert dend_only(events(1, 20, channels=6))["dend"].shape == (1, 3, 20)


@pytest.mark.parametrize("name", names())
def test_spec_round_trip(name: str) -> None:
    torch.manual_seed(0)
    model = build(name, in_channels=10, num_dend=5).eval()
    spec = json.loads(json.dumps(model.spec()))  # what a checkpoint stores
    assert spec == model.spec() and spec["name"] == name
    twin = from_spec(spec)
    assert twin.config == model.config and type(twin) is type(model)
    twin.load_state_dict(model.state_dict())
    twin.eval()
    x = events(2, 120, channels=10)
    with torch.no_grad():
        a, b = model(x), twin(x)
    for h in a:
        torch.testing.assert_close(a[h], b[h], atol=0, rtol=0)


def test_spec_keeps_non_default_fields() -> None:
    model = build("gru", hidden_sizes=(8, 4), heads=("soma",), scaling={"input_scale": 0.5})
    twin = from_spec(json.loads(json.dumps(model.spec())))
    assert twin.config.hidden_sizes == (8, 4) and twin.config.heads == ("soma",)
    assert twin.scaling.input_scale == 0.5 and twin.scaling.soma_clamp_mV == (-90.0, -57.0)


def test_predict_units() -> None:
    model = build("tcn", "A").eval()
    with torch.no_grad():
        model.heads.proj.bias.copy_(torch.linspace(-30, 30, 12))  # push outputs out of range
        phys = model.predict(events(2, 100))
    lo, hi = model.scaling.soma_clamp_mV
    assert phys["soma"].min() >= lo and phys["soma"].max() <= hi
    assert ((phys["spike"] >= 0) & (phys["spike"] <= 1)).all()
    d_lo, d_hi = model.scaling.dend_clamp_mV
    assert phys["dend"].min() >= d_lo and phys["dend"].max() <= d_hi
    plain = build("tcn", "A").eval()
    with torch.no_grad():
        raw = plain(events(2, 100, seed=4))["soma"]
        mv = plain.predict(events(2, 100, seed=4))["soma"]
    inside = (raw * 11.5 - 85).clamp(lo, hi)
    torch.testing.assert_close(mv, inside)


# -- the registry API and errors -----------------------------------------------------------------
def test_for_cell_and_point_cells() -> None:
    assert for_cell(CELL_8) == {"in_channels": 16, "num_dend": 8}
    lif = SimpleNamespace(input_shape=(100,), num_dend=0)
    assert for_cell(lif) == {"in_channels": 100, "num_dend": 0}
    for name in names():
        model = build(name, **for_cell(lif))
        assert "dend" not in model.config.heads and model.config.in_channels == 100
    assert build("linear", **for_cell(lif)).config.heads == ("spike", "soma")


def test_for_cell_real_presets() -> None:
    from neurotwin.cells import preset

    assert for_cell(preset("cable_nmda")) == {"in_channels": 16, "num_dend": 8}
    assert for_cell(preset("lif")) == {"in_channels": 100, "num_dend": 0}


def test_registry_table() -> None:
    rows = registry_table(CELL_8)
    assert {(r["name"], r["preset"]) for r in rows} == set(CASES)
    by_key = {(r["name"], r["preset"]): r for r in rows}
    for p, (n, rf) in TCN_SIZES.items():
        assert by_key[("tcn", p)]["num_params"] == build("tcn", p, **for_cell(CELL_8)).num_params
        assert by_key[("tcn", p)]["num_params"] > n  # BatchNorm's biases on top of the issue's
        assert by_key[("tcn", p)]["receptive_field_ms"] == rf
    assert math.isinf(by_key[("gru", "small")]["receptive_field_ms"])
    assert sum(r["default"] for r in rows) == len(names())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build("nope"), "unknown twin 'nope'; valid twins: tcn, resnet_tcn"),
        (lambda: build("tcn", "Z"), "unknown preset 'Z' for twin 'tcn'; valid presets: A, B"),
        (lambda: build("gru", widht=3), "unknown RecurrentConfig field(s) widht; valid fields"),
        (lambda: build("tcn", width=0), "width must be an int >= 1, got 0"),
        (lambda: build("tcn", norm="group"), "norm must be one of rms, layer, batch, none"),
        (lambda: build("gru", hidden_sizes=()), "hidden_sizes must be a non-empty tuple"),
        (lambda: build("tcn", heads=("spike", "volt")), "unknown head(s) ['volt']"),
        (lambda: build("tcn", num_dend=0, heads=("dend",)), "the dend head needs num_dend"),
        (lambda: build("elm", tau_mem_range_ms=(5, 1)), "tau_mem_range_ms must be (min, max)"),
        (lambda: build("transformer", d_model=30), "d_model must be a multiple of 2·n_heads"),
        (lambda: build("linear", kernel_ms=0), "kernel_ms must be an int >= 1, got 0"),
        (lambda: from_spec({"name": "tcn"}), "a twin spec is a dict with keys"),
        (lambda: from_spec({"name": "x", "config": {}}), "unknown twin 'x'"),
    ],
)
def test_errors(call, message: str) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_forward_rejects_wrong_channels() -> None:
    with pytest.raises(ValueError, match=r"expected inputs \(B, 16, T\), got \(1, 15, 20\)"):
        build("tcn", "A")(torch.zeros(1, 15, 20))


def test_heads_constant() -> None:
    assert HEADS == ("spike", "soma", "near_spike", "inst_rate", "dend")
    assert TCNConfig().head_channels() == {h: (8 if h == "dend" else 1) for h in HEADS}


# -- model details -------------------------------------------------------------------------------
def test_linear_filter_kernel_orientation() -> None:
    model = build("linear", kernel_ms=5, in_channels=2, num_dend=0).eval()
    kernel = np.array([[1.0, 0.5, 0.25, 0.0, 0.0], [-2.0, 0.0, 0.0, 0.0, 0.0]])  # [c, lag]
    with torch.no_grad():
        model.filter.weight.copy_(torch.tensor(kernel[:, ::-1].copy()).float()[None])
        model.filter.bias.zero_()
        model.gain.fill_(2.0)
    np.testing.assert_allclose(model.filter_kernel(), kernel * 0.1)  # input ÷ 10 folded in
    np.testing.assert_allclose(model.filter_kernel("soma"), kernel * 0.1 * 2.0 * 11.5)
    x = torch.zeros(1, 2, 12)
    x[0, 0, 3] = 10.0  # one event of raw weight 10 on channel 0 at t = 3 ms
    with torch.no_grad():
        out = model(x)["spike"][0, 0]
    expect = np.zeros(12)
    expect[3:6] = [1.0, 0.5, 0.25]
    np.testing.assert_allclose(out.numpy(), expect, atol=1e-6)
    with pytest.raises(ValueError, match="not one of this twin's heads"):
        model.filter_kernel("dend")


def test_sliding_window_attention_blocked_equals_masked() -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 301, 8) for _ in range(3))
    blocked = sliding_window_attention(q, k, v, window=64)  # T > 2·window: block-wise
    full = F.scaled_dot_product_attention(q, k, v, attn_mask=window_mask(301, 301, 0, 64, None))
    torch.testing.assert_close(blocked, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["elm", "elm_branch"])
def test_elm_script_equals_eager_and_learns_timescales(name: str) -> None:
    torch.manual_seed(0)
    model = build(name, "small", learn_tau_mem=True, learn_tau_syn=True)
    assert isinstance(model, ELM)
    taus = model.tau_mem_ms.detach()
    assert taus.min() == pytest.approx(1.0, rel=1e-3) and taus.max() == pytest.approx(150, rel=1e-3)
    assert np.allclose(np.diff(np.log(taus.numpy())), np.log(150) / 9, rtol=1e-2)  # log-spaced
    x = events(2, 80)
    out = model(x)
    model.scan_impl = "eager"
    ref = model(x)
    model.scan_impl = "script"
    for h in out:
        torch.testing.assert_close(out[h], ref[h], atol=1e-6, rtol=1e-5)
    sum(o.sum() for o in out.values()).backward()
    assert model.tau_mem_param.grad is not None and model.tau_mem_param.grad.abs().sum() > 0
    assert model.log_tau_syn.grad is not None and model.log_tau_syn.grad.abs().sum() > 0


def test_elm_branch_groups_segments() -> None:
    model = build("elm_branch", "small")  # 8 branches = segments; channel c → branch c % 8
    assert model.config.branches == 8
    assign = model.branch_of.argmax(1).tolist()
    assert assign == list(range(8)) * 2  # exc and inh synapse of segment s share branch s
    assert model.mlp_in.in_features == 8 + 10
