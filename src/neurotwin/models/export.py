"""Export a twin to TorchScript or ONNX, checked against the PyTorch model.

The exported model takes raw inputs ``x`` (B, C_in, T) — batch and time axes dynamic; flatten
(B, 2, S, T) inputs to (B, 2·S, T) first — and returns the twin's heads **as a tuple in
``HEADS`` order** (spike, soma, near_spike, inst_rate, dend; the heads the twin lacks are left
out), each (B, C_k, T) in learning units like ``model(x)``. ``export_heads(model)`` gives the
order. ONNX inputs/outputs are named ``x`` and the head names.

Both functions trace the model (TorchScript tracing; ONNX through torch's TorchScript-based
exporter, ``dynamo=False``, opset 17), reload the file, run it on a random input of a *different*
batch size and length than the tracing example and return the largest absolute difference to
the PyTorch model; above ``tol`` (1e-4) they raise :class:`ExportMismatchError`. The ELM's
scripted time loop is kept as a loop (an ONNX ``Loop``); transformers use their plain masked
attention when traced.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn

from neurotwin.models.base import HEADS, Twin

__all__ = ["ExportMismatchError", "export_heads", "export_onnx", "export_torchscript"]

OPSET = 17


class ExportMismatchError(RuntimeError):
    """The exported model's outputs differ from the PyTorch model's."""


def export_heads(model: Twin) -> list[str]:
    """The order of the exported outputs: the twin's heads in HEADS order."""
    return [h for h in HEADS if h in model.config.heads]


class _TupleTwin(nn.Module):
    def __init__(self, model: Twin) -> None:
        super().__init__()
        self.model = model
        self.order = export_heads(model)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        out = self.model(x)
        return tuple(out[h] for h in self.order)


def _example(model: Twin, batch: int, t: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    p = next(model.parameters())
    x = torch.rand(batch, model.config.in_channels, t, generator=g) * 2.0  # event weights ≥ 0
    return x.to(device=p.device, dtype=p.dtype)


def _reference(model: Twin, x: Tensor) -> list[Tensor]:
    with torch.no_grad():
        out = model(x)
    return [out[h] for h in export_heads(model)]


def _max_diff(got: list[Tensor], want: list[Tensor]) -> float:
    assert len(got) == len(want)
    return max(float((g.float() - w.float()).abs().max()) for g, w in zip(got, want, strict=True))


def _check(diff: float, tol: float, what: str) -> float:
    if not diff <= tol:  # also catches NaN
        raise ExportMismatchError(f"{what} differs from the PyTorch model by {diff:.3g} > {tol:g}")
    return diff


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def export_torchscript(
    model: Twin, path: str | Path, example_T: int = 256, tol: float = 1e-4
) -> float:
    """Trace ``model`` (in eval mode) to a TorchScript file at ``path`` (load with
    ``torch.jit.load``); returns the max abs difference to ``model`` on a fresh input (raises
    ExportMismatchError if > ``tol``)."""
    with _eval_mode(model):
        return _export_torchscript(model, path, example_T, tol)


def _export_torchscript(model: Twin, path: str | Path, example_T: int, tol: float) -> float:
    wrapper = _TupleTwin(model).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # deprecation and tracer notes
        traced = torch.jit.trace(wrapper, (_example(model, 2, example_T, 0),), check_trace=False)
        traced.save(str(path))
        loaded = torch.jit.load(str(path))
        x = _example(model, 3, example_T + 37, 1)
        got = list(loaded(x))
    return _check(_max_diff(got, _reference(model, x)), tol, f"TorchScript export {path}")


def export_onnx(model: Twin, path: str | Path, example_T: int = 256, tol: float = 1e-4) -> float:
    """Export ``model`` (in eval mode) to ONNX at ``path`` with dynamic batch and time axes and
    check it with onnxruntime; returns the max abs difference (raises ExportMismatchError if
    > ``tol``)."""
    with _eval_mode(model):
        return _export_onnx(model, path, example_T, tol)


def _export_onnx(model: Twin, path: str | Path, example_T: int, tol: float) -> float:
    import onnxruntime as ort

    wrapper = _TupleTwin(model).eval()
    heads = export_heads(model)
    axes = {0: "batch", 2: "time"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (_example(model, 2, example_T, 0),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=heads,
            dynamic_axes={"x": axes, **{h: axes for h in heads}},
            opset_version=OPSET,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _example(model, 3, example_T + 37, 1)
    got = [torch.from_numpy(y) for y in session.run(heads, {"x": x.cpu().numpy()})]
    want = [w.cpu() for w in _reference(model, x)]
    return _check(_max_diff(got, want), tol, f"ONNX export {path}")
