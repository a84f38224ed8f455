"""``fcn``: the shallow fully connected twin of Beniaguev et al. (2021).

One hidden layer of ``hidden`` units sees the last ``window_ms`` milliseconds of every input
channel (a fully connected layer over a causal window), then an activation and a linear readout
per head. It is implemented as a causal convolution with kernel = window and ``hidden`` output
channels followed by 1×1 head convolutions, which is the same function evaluated at every
millisecond. Receptive field: ``window_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from neurotwin.models.base import Twin, TwinConfig, require
from neurotwin.models.layers import ACTIVATIONS, CausalConv1d, Heads, make_activation
from neurotwin.models.registry import register

__all__ = ["FCN", "FCNConfig"]


@dataclass(frozen=True)
class FCNConfig(TwinConfig):
    """window_ms: causal window of the hidden layer; hidden: hidden units; activation:
    leaky_gelu | gelu | relu | tanh."""

    window_ms: int = 100
    hidden: int = 64
    activation: str = "leaky_gelu"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("window_ms", "hidden"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, value, "an int >= 1")
        require(
            self.activation in ACTIVATIONS,
            "activation",
            self.activation,
            f"one of {', '.join(ACTIVATIONS)}",
        )


class FCN(Twin):
    config_class = FCNConfig
    name = "fcn"
    config: FCNConfig

    def __init__(self, config: FCNConfig) -> None:
        super().__init__(config)
        self.hidden = CausalConv1d(config.in_channels, config.hidden, config.window_ms)
        self.act = make_activation(config.activation)
        self.heads = Heads(config.hidden, config.head_channels())

    @property
    def receptive_field_ms(self) -> int:
        return self.config.window_ms

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.heads(self.act(self.hidden(x)))

    def _stream_state(self, batch_size: int) -> Any:
        return self.hidden.init_state(batch_size)

    def _stream_step(self, x: Tensor, state: Any) -> dict[str, Tensor]:
        return self.heads.step(self.act(self.hidden.step(x, state)))


register(
    FCN,
    {
        "small": {"window_ms": 50, "hidden": 32},
        "medium": {"window_ms": 100, "hidden": 64},
        "large": {"window_ms": 200, "hidden": 128},
    },
    default_preset="medium",
)
