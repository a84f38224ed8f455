"""Temporal convolutional twins: ``tcn`` and ``resnet_tcn``.

Architecture (all convolutions causal, padded on the left only)::

    x (B, C_in, T)
    → conv(C_in → W, kernel T1)       → norm → act     the first layer spans all input segments
    → D × [conv(W → W, kernel K, dilation g^i) → norm → act]   (i = 0 … D-1)
          resnet_tcn: h ← h + block(h) around each of these D blocks
    → one 1×1 conv W → Σ C_k, split into the heads

``norm`` is BatchNorm over channels by default (statistics over batch and time while training,
running statistics in eval mode, so inference is causal); ``rms`` (RMSNorm over the channels of
each time step, the issue's suggestion), ``layer`` and ``none`` are options. BatchNorm is the
default because the plain (non-residual) deep presets do not learn with RMSNorm: TCN D trained
600 steps on the cable neuron stayed at the constant predictor (test AUC 0.48, soma EV 0.00),
and on one fixed batch its soma L1 went 0.40 → 0.399 in 150 steps with RMSNorm against
0.37 → 0.145 with BatchNorm. ``act`` is the leaky GELU ``GELU(x) + 0.05·x`` (see
layers.LeakyGELU). The receptive field is ``(T1 - 1) + Σ_i (K - 1)·g^i + 1``, i.e.
``(T - 1)(D + 1) + 1`` for T1 = K = T and g = 1.

Parameters: conv weights and biases, the norm's gain and bias per channel of every conv layer
(RMSNorm: a gain only), the head conv with bias — with 5 heads on an 8-segment cell (C_in 16, 12
head channels) presets A–E have 17,628 / 47,196 / 189,804 / 922,892 / 328,972 parameters
(with ``norm="rms"``: 17,612 / 47,148 / 189,644 / 922,380 / 328,460, the issue's figures) and
receptive fields 181 / 181 / 201 / 241 / 81 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from neurotwin.models.base import Twin, TwinConfig, require
from neurotwin.models.layers import ACTIVATIONS, NORMS, CausalConv1d, Heads, make_activation
from neurotwin.models.layers import make_norm as _make_norm
from neurotwin.models.registry import register

__all__ = ["TCN", "ResNetTCN", "ResNetTCNConfig", "TCNConfig"]


@dataclass(frozen=True)
class TCNConfig(TwinConfig):
    """depth: D blocks after the first conv; width: W channels; first_kernel_ms: T1;
    kernel_ms: K of the blocks; dilation_growth: block i has dilation growth**i (1: none);
    norm: rms | layer | batch | none; activation: leaky_gelu | gelu | relu | tanh;
    residual: skip connections around the blocks (the resnet_tcn default)."""

    depth: int = 2
    width: int = 16
    first_kernel_ms: int = 61
    kernel_ms: int = 61
    dilation_growth: int = 1
    norm: str = "batch"
    activation: str = "leaky_gelu"
    residual: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        require(isinstance(self.depth, int) and self.depth >= 0, "depth", self.depth, "an int >= 0")
        for name in ("width", "first_kernel_ms", "kernel_ms", "dilation_growth"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, value, "an int >= 1")
        require(self.norm in NORMS, "norm", self.norm, f"one of {', '.join(NORMS)}")
        require(
            self.activation in ACTIVATIONS,
            "activation",
            self.activation,
            f"one of {', '.join(ACTIVATIONS)}",
        )


@dataclass(frozen=True)
class ResNetTCNConfig(TCNConfig):
    residual: bool = True


class TCN(Twin):
    config_class = TCNConfig
    name = "tcn"
    config: TCNConfig

    def __init__(self, config: TCNConfig) -> None:
        super().__init__(config)
        c = config
        self.convs = nn.ModuleList([CausalConv1d(c.in_channels, c.width, c.first_kernel_ms)])
        self.convs.extend(
            CausalConv1d(c.width, c.width, c.kernel_ms, dilation=c.dilation_growth**i)
            for i in range(c.depth)
        )
        self.norms = nn.ModuleList(_make_norm(c.norm, c.width) for _ in self.convs)
        self.act = make_activation(c.activation)
        self.heads = Heads(c.width, c.head_channels())

    @property
    def receptive_field_ms(self) -> int:
        return sum(conv.context for conv in self.convs) + 1

    def _skip(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        """Output of conv layer ``i`` given its input ``h`` and ``y = act(norm(conv(h)))``:
        the blocks (i >= 1) of resnet_tcn add their input."""
        return h + y if (i > 0 and self.config.residual) else y

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        h = x  # (B, C_in, T)
        for i, conv in enumerate(self.convs):
            h = self._skip(i, h, self.act(self.norms[i](conv(h))))  # (B, W, T)
        return self.heads(h)

    def _stream_state(self, batch_size: int) -> list[Any]:
        return [conv.init_state(batch_size) for conv in self.convs]

    def _stream_step(self, x: Tensor, state: list[Any]) -> dict[str, Tensor]:
        h = x  # (B, C_in)
        for i, conv in enumerate(self.convs):
            h = self._skip(i, h, self.act(self.norms[i](conv.step(h, state[i]))))  # (B, W)
        return self.heads.step(h)


class ResNetTCN(TCN):
    config_class = ResNetTCNConfig
    name = "resnet_tcn"


def _tcn_presets() -> dict[str, dict[str, Any]]:
    table = {
        "A": (1, 8, 91),
        "B": (2, 16, 61),
        "C": (4, 32, 41),
        "D": (7, 64, 31),
        "E": (7, 64, 11),
    }
    return {
        k: {"depth": d, "width": w, "first_kernel_ms": t, "kernel_ms": t}
        for k, (d, w, t) in table.items()
    }


register(TCN, _tcn_presets(), default_preset="B")
register(ResNetTCN, _tcn_presets(), default_preset="B")
