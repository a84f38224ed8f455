"""The inverse regressor: a 1D CNN from a (transformed) voltage trace to K scaled parameters.

``(B, T)`` features → optional input stage (an average pool, or a learnable strided
convolution: ``input_conv``) → conv blocks (Conv1d, optional BatchNorm1d, LeakyReLU,
MaxPool1d) → flatten → fully connected blocks (Linear, LeakyReLU, Dropout) → an embedding
``(B, E)`` → ``Linear(E, K)`` → ``out_scale · tanh`` so every output lies in
``(-out_scale, out_scale)`` (targets are scaled to [-1, 1]; the margin lets the network reach
the edges of the prior).

The network standardises its input with two buffers (``in_mean``, ``in_std``, set from the
training features by :meth:`InverseCNN.set_input_scaling`), so a saved member is self-contained.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


def _req(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True)
class RegressorConfig:
    """Architecture of :class:`InverseCNN`. ``n_inputs``: samples per trace (T);
    ``n_outputs``: parameters (K)."""

    n_inputs: int
    n_outputs: int
    input_pool: int = 1  # shorten the raw features by this factor first
    # 0: by averaging; > 0: by a learnable convolution with this many filters (kernel
    # 2·input_pool + 1, stride input_pool), which keeps what a spike's shape says within a bin
    input_conv: int = 0
    conv_filters: tuple[int, ...] = (16, 32, 64)
    kernel: int = 5
    pool: int = 2
    fc_sizes: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    leaky_slope: float = 0.01
    out_scale: float = 1.2
    batch_norm: bool = True  # BatchNorm1d after each convolution

    def __post_init__(self) -> None:
        _coerce(self)
        _req(self.n_inputs >= 1, f"n_inputs must be >= 1, got {self.n_inputs}")
        _req(self.n_outputs >= 1, f"n_outputs must be >= 1, got {self.n_outputs}")
        _req(self.input_pool >= 1, f"input_pool must be >= 1, got {self.input_pool}")
        _req(self.input_conv >= 0, f"input_conv must be >= 0, got {self.input_conv}")
        _req(len(self.conv_filters) >= 1, "conv_filters must name at least one block")
        _req(
            all(f >= 1 for f in self.conv_filters),
            f"conv_filters must be >= 1, got {self.conv_filters}",
        )
        _req(
            self.kernel >= 1 and self.kernel % 2 == 1,
            f"kernel must be odd and >= 1, got {self.kernel}",
        )
        _req(self.pool >= 1, f"pool must be >= 1, got {self.pool}")
        _req(all(s >= 1 for s in self.fc_sizes), f"fc_sizes must be >= 1, got {self.fc_sizes}")
        _req(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _req(self.out_scale > 0, f"out_scale must be > 0, got {self.out_scale}")
        _req(
            self.conv_len() >= 1,
            f"n_inputs={self.n_inputs} is too short for {len(self.conv_filters)} pools of "
            f"{self.pool} after input_pool={self.input_pool}",
        )

    def conv_len(self) -> int:
        """Samples left after the input pool and the conv blocks' pools."""
        n = self._input_len()
        for _ in self.conv_filters:
            n //= self.pool
        return n

    def _input_len(self) -> int:
        """Samples after the input stage (the strided convolution keeps a partial last bin)."""
        p = self.input_pool
        return self.n_inputs // p if self.input_conv == 0 else (self.n_inputs - 1) // p + 1

    @property
    def embedding_dim(self) -> int:
        return self.fc_sizes[-1] if self.fc_sizes else self.conv_filters[-1] * self.conv_len()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegressorConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown regressor field(s) {unknown}; known: {sorted(names)}")
        return cls(**d)

    def replace(self, **changes: Any) -> RegressorConfig:
        return self.from_dict({**self.to_dict(), **changes})


def _coerce(obj: Any) -> None:
    """Lists → tuples, numeric strings → numbers, ints ↔ floats where the annotation says so
    (YAML / CLI values)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if isinstance(v, str) and (float in args or int in args):
            try:  # YAML reads 2e-3 as a string
                num = float(v)
            except ValueError:
                raise ValueError(f"{f.name} must be a number, got {v!r}") from None
            v = int(num) if int in args and float not in args and num.is_integer() else num
            object.__setattr__(obj, f.name, v)
        if isinstance(v, list) and any(typing.get_origin(a) is tuple for a in args):
            object.__setattr__(obj, f.name, tuple(v))
        elif float in args and isinstance(v, int) and not isinstance(v, bool):
            object.__setattr__(obj, f.name, float(v))
        elif int in args and isinstance(v, float) and v.is_integer():
            object.__setattr__(obj, f.name, int(v))


class InverseCNN(nn.Module):
    """See the module docstring. ``forward(x (B, T)) -> (B, K)``; ``embed(x) -> (B, E)``."""

    def __init__(self, config: RegressorConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("in_mean", torch.zeros(()))
        self.register_buffer("in_std", torch.ones(()))
        p = c.input_pool
        self.input_stage: nn.Module = nn.AvgPool1d(p) if p > 1 else nn.Identity()
        c_in = 1
        if c.input_conv > 0:
            self.input_stage = nn.Sequential(
                nn.Conv1d(1, c.input_conv, 2 * p + 1, stride=p, padding=p),
                nn.BatchNorm1d(c.input_conv) if c.batch_norm else nn.Identity(),
                nn.LeakyReLU(c.leaky_slope),
            )
            c_in = c.input_conv
        blocks: list[nn.Module] = []
        for f in c.conv_filters:
            blocks += [
                nn.Conv1d(c_in, f, c.kernel, padding=c.kernel // 2),
                nn.BatchNorm1d(f) if c.batch_norm else nn.Identity(),
                nn.LeakyReLU(c.leaky_slope),
                nn.MaxPool1d(c.pool) if c.pool > 1 else nn.Identity(),
            ]
            c_in = f
        self.conv = nn.Sequential(*blocks)
        fc: list[nn.Module] = []
        n_in = c.conv_filters[-1] * c.conv_len()
        for size in c.fc_sizes:
            fc += [nn.Linear(n_in, size), nn.LeakyReLU(c.leaky_slope), nn.Dropout(c.dropout)]
            n_in = size
        self.fc = nn.Sequential(*fc)
        self.head = nn.Linear(n_in, c.n_outputs)

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_input_scaling(self, mean: float, std: float) -> None:
        if not std > 0:
            raise ValueError(f"input std must be > 0, got {std}")
        self.in_mean.fill_(float(mean))
        self.in_std.fill_(float(std))

    def embed(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.config.n_inputs:
            raise ValueError(
                f"expected features of shape (B, {self.config.n_inputs}), got {tuple(x.shape)}"
            )
        h = ((x - self.in_mean) / self.in_std).unsqueeze(1)  # (B, 1, T)
        h = self.conv(self.input_stage(h))  # (B, F, T')
        return self.fc(h.flatten(1))  # (B, F·T') -> (B, E)

    def forward(self, x: Tensor) -> Tensor:
        return self.config.out_scale * torch.tanh(self.head(self.embed(x)))  # (B, K)


def build_regressor(config: RegressorConfig | dict[str, Any]) -> InverseCNN:
    cfg = config if isinstance(config, RegressorConfig) else RegressorConfig.from_dict(config)
    return InverseCNN(cfg)
