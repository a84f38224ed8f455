"""The compiled CPU inference paths against the PyTorch paths they replace.

ELM (neurotwin.models.elm_kernel): the numba loop must give the TorchScript path's outputs to
float32 rounding for both ELM variants, any batch size (full blocks of lanes, a remainder, one
sequence) and any length (full and partial time chunks), whatever the thread count; its tanh
must match the C library's. Linear filter (neurotwin.models.linear_kernel): the event-driven
filter must equal the dense causal convolution, including events whose kernel runs past the
end. In both, a perturbed weight must break the tolerance (negative control).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
from twin_helpers import events, one_torch_thread  # noqa: F401  (fixture)

from neurotwin.models import build
from neurotwin.models.elm import ELM
from neurotwin.models.elm_kernel import elm_scan, tanh32
from neurotwin.models.linear import LinearTwin
from neurotwin.models.linear_kernel import filter_events

ATOL = 2e-5  # float32 rounding over a few hundred recurrent steps, outputs of order 1


def _with_impl(model: ELM, impl: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
    model.impl = impl  # "compiled": the numba loop; "torch": the TorchScript loops
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.impl = "auto"


def _trained_like(name: str, preset: str, seed: int, **overrides: object) -> ELM:
    """A twin with weights away from their initialisation (as after training), still stable."""
    torch.manual_seed(seed)
    model = build(name, preset, **overrides)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert isinstance(model, ELM)
    return model.eval()


def test_tanh32_matches_libm() -> None:
    x = np.linspace(-20.0, 20.0, 400_001, dtype=np.float32)
    ours = np.array([tanh32(v) for v in x[::7]])
    err = np.abs(ours - np.tanh(x[::7].astype(np.float64)))
    assert err.max() < 3e-7
    assert ours[0] == pytest.approx(-1.0, abs=3e-7) and ours[-1] == pytest.approx(1.0, abs=3e-7)


@pytest.mark.parametrize(
    ("name", "preset", "batch", "steps"),
    [
        ("elm", "small", 37, 300),  # one full block of 32 lanes + a remainder of 5
        ("elm", "medium", 5, 130),  # two full time chunks + 2 steps
        ("elm_branch", "small", 33, 200),
        ("elm", "small", 1, 64),  # a single sequence: one lane
    ],
)
@pytest.mark.parametrize("learn_taus", [False, True])
def test_numba_loop_equals_torch(
    name: str, preset: str, batch: int, steps: int, learn_taus: bool
) -> None:
    model = _trained_like(
        name, preset, seed=batch, learn_tau_mem=learn_taus, learn_tau_syn=learn_taus
    )
    x = events(batch, steps, seed=steps)
    fast = _with_impl(model, "compiled", x)
    ref = _with_impl(model, "torch", x)
    assert fast.keys() == ref.keys()
    for head in ref:
        assert fast[head].shape == ref[head].shape
        torch.testing.assert_close(fast[head], ref[head], atol=ATOL, rtol=1e-5)
    spread = max(float(r.std()) for r in ref.values())
    assert spread > 0.05  # the outputs move: the comparison is not between two constants


def test_perturbed_weight_breaks_the_tolerance() -> None:
    """Negative control: one MLP weight off by 2 % must show in the outputs."""
    model = _trained_like("elm", "small", seed=1)
    x = events(8, 200, seed=3)
    ref = _with_impl(model, "torch", x)
    with torch.no_grad():
        model.mlp_out.weight[0, 0] *= 1.02
    fast = _with_impl(model, "compiled", x)
    worst = max(float((fast[h] - ref[h]).abs().max()) for h in ref)
    assert worst > 10 * ATOL


def test_impl_is_checked_and_numba_threads_restored() -> None:
    model = build("elm", "small")
    x = events(4, 30)
    model.impl = "numba"
    with pytest.raises(ValueError, match="impl must be one of auto, torch, compiled"):
        model(x)
    model.impl = "compiled"
    before = numba.get_num_threads()
    with torch.no_grad():
        torch.set_num_threads(1)  # the kernel follows torch's thread count…
        model(x)
    assert numba.get_num_threads() == before  # …and leaves numba's setting as it was


def test_auto_uses_the_loop_only_without_gradients() -> None:
    model = build("elm", "small")
    x = events(2, 20).float()
    assert not model._use_compiled(x)  # training: autograd needs the torch path
    with torch.no_grad():
        assert model._use_compiled(x)
        model.double()
        assert not model._use_compiled(x.double())  # the kernel is float32
        model.float()
    model.requires_grad_(False)
    assert model._use_compiled(x)
    out = model(x)["spike"]  # no graph either way
    assert not out.requires_grad


def test_blocks_are_independent_of_threads() -> None:
    model = _trained_like("elm", "small", seed=2)
    x = (events(70, 100, seed=5) * 0.1).numpy()
    consts = [t.detach().numpy() for t in model._constants()]
    kappa_s, kappa_m, gain, w_s, w_m, b_in = consts
    proj = model.heads.proj
    args = (kappa_s, kappa_m, gain, w_s, w_m, b_in, model.mlp_out.weight.detach().numpy())
    args += (
        model.mlp_out.bias.detach().numpy(),
        proj.weight.detach().numpy()[:, :, 0],
        proj.bias.detach().numpy(),
    )
    one = elm_scan(x, *args, threads=1)
    many = elm_scan(x, *args, threads=numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(one, many)
    # A sequence alone runs the scalar build of the loop (÷ exact, not reciprocal + Newton):
    # equal to float32 rounding, not bit for bit.
    np.testing.assert_allclose(elm_scan(x[40:41], *args, threads=1)[0], one[40], atol=ATOL)


@pytest.mark.parametrize(("preset", "heads"), [("short", ("spike", "soma")), ("long", None)])
def test_event_filter_equals_the_convolution(preset: str, heads: tuple[str, ...] | None) -> None:
    torch.manual_seed(4)
    extra = {} if heads is None else {"heads": heads}
    model = build("linear", preset, **extra)
    assert isinstance(model, LinearTwin)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.eval()
    x = events(6, 700, seed=9)
    x[0, 3, -1] = 4.0  # an event in the last bin: its kernel runs past the end
    fast = _with_impl(model, "compiled", x)
    ref = _with_impl(model, "torch", x)
    assert fast.keys() == ref.keys()
    for head in ref:
        torch.testing.assert_close(fast[head], ref[head], atol=1e-5, rtol=1e-5)
    assert float(ref["spike"].std()) > 0.05
    with torch.no_grad():  # negative control: one tap off by 0.02 (the taps are ~0.1)
        model.filter.weight[0, 5, -3] += 0.02
    moved = _with_impl(model, "compiled", x)["spike"]
    assert float((moved - ref["spike"]).abs().max()) > 10 * 1e-5


def test_filter_events_by_hand() -> None:
    """Two events, a two-tap kernel: z = bias + 2·k[0, ·] at t=1 and 3·k[1, ·] at t=3."""
    x = np.zeros((1, 2, 5), np.float32)
    x[0, 0, 1], x[0, 1, 3] = 2.0, 3.0
    kernel = np.array([[1.0, 0.5], [10.0, 100.0]], np.float32)
    z = filter_events(x, kernel, bias=0.25, threads=1)
    np.testing.assert_allclose(z[0], [0.25, 2.25, 1.25, 30.25, 300.25])
