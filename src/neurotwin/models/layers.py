"""Building blocks shared by the twins: causal convolution, normalisation, activation, heads.

Every block acts on channels-first sequences ``(B, C, T)`` in ``forward`` and on one time step
``(B, C)`` in ``step`` (streaming), and both give the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurotwin.models.streaming import RingBuffer

NORMS: tuple[str, ...] = ("rms", "layer", "batch", "none")
ACTIVATIONS: tuple[str, ...] = ("leaky_gelu", "gelu", "relu", "tanh")
LEAK = 0.05


class LeakyGELU(nn.Module):
    """``GELU(x) + 0.05·x``: GELU with a small linear leak.

    GELU flattens to 0 for x << 0, so a unit pushed far negative passes no gradient; with the
    leak the slope tends to 0.05 there (and to 1.05 for x >> 0), so it can recover. Near 0 it
    is GELU, including GELU's shallow dip (slope ≥ -0.08, at x ≈ -1.4); smooth everywhere."""

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x) + LEAK * x


def make_activation(name: str) -> nn.Module:
    if name == "leaky_gelu":
        return LeakyGELU()
    if name == "gelu":
        return nn.GELU()
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")


def _feature_shape(x: Tensor, dim: int, size: int) -> list[int]:
    """Shape that broadcasts a (size,) vector along ``dim`` of ``x``."""
    shape = [1] * x.dim()
    shape[dim] = size
    return shape


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over one axis (``dim``) with a learned gain and no bias:
    ``y = x / sqrt(mean(x², dim) + eps) · g``. ``dim=1`` normalises the channels of (B, C, T)
    and of (B, C) alike (per time step, hence causal); ``dim=-1`` the features of (B, T, D)."""

    def __init__(self, size: int, dim: int = 1, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x: Tensor) -> Tensor:
        rms = torch.rsqrt(x.pow(2).mean(dim=self.dim, keepdim=True) + self.eps)
        return x * rms * self.weight.view(_feature_shape(x, self.dim, self.weight.numel()))


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels (axis 1) of (B, C, T) or (B, C), per time step."""

    def __init__(self, size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        shape = _feature_shape(x, 1, self.weight.numel())
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight.view(shape) + self.bias.view(
            shape
        )


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalisation over channels. ``batch`` (BatchNorm1d) uses statistics over the batch and
    time axes while training, so it is causal only in eval mode; the others are always causal."""
    if kind == "rms":
        return RMSNorm(channels, dim=1)
    if kind == "layer":
        return ChannelLayerNorm(channels)
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left only: output t sees inputs t - (K-1)·d … t.

    Streaming keeps a ring buffer of the last ``(K-1)·d + 1`` input frames of this layer."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias)

    @property
    def context(self) -> int:
        """Past frames (besides the current one) that reach one output."""
        return (self.kernel_size[0] - 1) * self.dilation[0]

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.context, 0)))

    def init_state(self, batch_size: int) -> RingBuffer:
        w = self.weight
        return RingBuffer(
            batch_size, self.in_channels, self.context + 1, device=w.device, dtype=w.dtype
        )

    def step(self, x: Tensor, state: RingBuffer) -> Tensor:
        """One frame (B, C_in) → (B, C_out)."""
        window = state.push(x)  # (B, C_in, context + 1), oldest first
        return F.conv1d(window, self.weight, self.bias, dilation=self.dilation)[..., 0]


class Heads(nn.Module):
    """One 1×1 projection features → all head channels, split into the named heads.

    ``forward`` takes channels-first features (B, W, T); ``forward_last`` channels-last
    (B, T, W); ``step`` one frame (B, W). All return ``{head: (B, C_k[, T])}``."""

    def __init__(self, in_features: int, channels: dict[str, int]) -> None:
        super().__init__()
        self.names = list(channels)
        self.sizes = [channels[n] for n in self.names]
        self.proj = nn.Conv1d(in_features, sum(self.sizes), 1)

    def split(self, y: Tensor) -> dict[str, Tensor]:
        return dict(zip(self.names, torch.split(y, self.sizes, dim=1), strict=True))

    def forward(self, h: Tensor) -> dict[str, Tensor]:
        return self.split(self.proj(h))

    def forward_last(self, h: Tensor) -> dict[str, Tensor]:
        y = F.linear(h, self.proj.weight[:, :, 0], self.proj.bias)  # (B, T, ΣC_k)
        return self.split(y.transpose(1, 2))  # (B, ΣC_k, T)

    def step(self, h: Tensor) -> dict[str, Tensor]:
        return self.split(F.linear(h, self.proj.weight[:, :, 0], self.proj.bias))
