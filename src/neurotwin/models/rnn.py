"""Recurrent twins ``lstm``, ``gru`` and ``rnn`` (Elman, tanh): stacked layers of any sizes.

``hidden_sizes=(64, 32)`` stacks a 64-unit layer and a 32-unit layer; a linear readout of the
last layer's hidden state gives every head at every millisecond. Receptive field: unbounded
(``math.inf``). Streaming keeps each layer's hidden (and, for the LSTM, cell) state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from neurotwin.models.base import Twin, TwinConfig, require
from neurotwin.models.layers import Heads
from neurotwin.models.registry import register

__all__ = ["GRUTwin", "LSTMTwin", "RNNTwin", "RecurrentConfig"]


@dataclass(frozen=True)
class RecurrentConfig(TwinConfig):
    """hidden_sizes: units of each stacked layer, input side first."""

    hidden_sizes: tuple[int, ...] = (32,)

    def __post_init__(self) -> None:
        super().__post_init__()
        sizes = self.hidden_sizes
        require(
            isinstance(sizes, tuple)
            and len(sizes) >= 1
            and all(isinstance(h, int) and h >= 1 for h in sizes),
            "hidden_sizes",
            sizes,
            "a non-empty tuple of ints >= 1",
        )


class _Recurrent(Twin):
    config_class = RecurrentConfig
    config: RecurrentConfig
    cell: ClassVar[type[nn.RNNBase]]

    def __init__(self, config: RecurrentConfig) -> None:
        super().__init__(config)
        sizes = (config.in_channels, *config.hidden_sizes)
        self.layers = nn.ModuleList(
            self.cell(n_in, n_out, batch_first=True)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.heads = Heads(sizes[-1], config.head_channels())

    @property
    def receptive_field_ms(self) -> float:
        return math.inf

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        h = x.transpose(1, 2)  # (B, T, C)
        for layer in self.layers:
            h, _ = layer(h)  # (B, T, H)
        return self.heads.forward_last(h)

    def _stream_state(self, batch_size: int) -> list[Any]:
        return [None] * len(self.layers)  # None = zeros, as in the full pass

    def _stream_step(self, x: Tensor, state: list[Any]) -> dict[str, Tensor]:
        h = x[:, None, :]  # (B, 1, C)
        for i, layer in enumerate(self.layers):
            h, state[i] = layer(h, state[i])
        return self.heads.step(h[:, 0])


class LSTMTwin(_Recurrent):
    name = "lstm"
    cell = nn.LSTM


class GRUTwin(_Recurrent):
    name = "gru"
    cell = nn.GRU


class RNNTwin(_Recurrent):
    name = "rnn"
    cell = nn.RNN


_PRESETS: dict[str, dict[str, Any]] = {
    "small": {"hidden_sizes": (32,)},
    "medium": {"hidden_sizes": (64, 64)},
    "large": {"hidden_sizes": (128, 128)},
}
for _cls in (LSTMTwin, GRUTwin, RNNTwin):
    register(_cls, _PRESETS, default_preset="small")
