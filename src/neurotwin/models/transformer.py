"""``transformer``: a causal sliding-window transformer twin.

    x (B, C_in, T) → causal conv C_in → d_model (kernel ``patch_ms``; 1 = a linear projection)
    → n_layers × [h ← h + Attn(RMSNorm(h)); h ← h + SwiGLU(RMSNorm(h))]     (pre-norm)
    → RMSNorm → linear heads, one output per millisecond

Attention at t sees the keys at t - window_ms + 1 … t (itself included), with rotary position
embeddings on queries and keys (so scores depend on t - t' only) and an explicit boolean
causal sliding-window mask passed to ``scaled_dot_product_attention``. Receptive field:
``(patch_ms - 1) + n_layers·(window_ms - 1) + 1`` ms. SwiGLU: ``W_3 (silu(W_1 h) ⊙ W_2 h)``;
no biases in attention and MLP.

For long sequences (T > 2·window) attention is computed block-wise — query blocks of
``window_ms`` against their own and the previous key block — which costs O(T·window) instead
of O(T²) and gives the same result; traced/exported models use the plain masked form (which
has a dynamic time axis). Streaming keeps a key/value cache of the last ``window_ms`` steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurotwin.models.base import Twin, TwinConfig, require
from neurotwin.models.layers import CausalConv1d, Heads, RMSNorm
from neurotwin.models.registry import register

__all__ = ["Transformer", "TransformerConfig", "sliding_window_attention"]


@dataclass(frozen=True)
class TransformerConfig(TwinConfig):
    """d_model: width; n_layers; n_heads (d_model / n_heads must be even, for rotary);
    window_ms: keys per query (itself included); mlp_ratio: SwiGLU hidden = ratio·d_model;
    patch_ms: kernel of the causal input projection; rope_base: rotary frequency base."""

    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    window_ms: int = 128
    mlp_ratio: float = 2.0
    patch_ms: int = 1
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("d_model", "n_layers", "n_heads", "window_ms", "patch_ms"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, value, "an int >= 1")
        require(
            self.d_model % self.n_heads == 0 and (self.d_model // self.n_heads) % 2 == 0,
            "d_model",
            self.d_model,
            f"a multiple of 2·n_heads = {2 * self.n_heads}",
        )
        require(self.mlp_ratio > 0, "mlp_ratio", self.mlp_ratio, "> 0")
        require(self.rope_base > 1, "rope_base", self.rope_base, "> 1")

    @property
    def mlp_hidden(self) -> int:
        return max(1, round(self.mlp_ratio * self.d_model))


def window_mask(n_query: int, n_key: int, offset: int, window: int, device: Any) -> Tensor:
    """Boolean (n_query, n_key) mask, True where key j may be seen by query i: with absolute
    positions q = i + offset and k = j, 0 <= q - k < window."""
    dist = (
        torch.arange(n_query, device=device)[:, None] + offset - torch.arange(n_key, device=device)
    )
    return (dist >= 0) & (dist < window)


def sliding_window_attention(q: Tensor, k: Tensor, v: Tensor, window: int) -> Tensor:
    """Causal attention of q over k, v (B, H, T, d) limited to the last ``window`` keys."""
    t = q.shape[-2]
    if torch.jit.is_tracing() or t <= 2 * window:
        mask = window_mask(t, t, 0, window, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    w, n = window, math.ceil(t / window)
    b, h, _, d = q.shape

    def blocks(z: Tensor) -> Tensor:
        return F.pad(z, (0, 0, 0, n * w - t)).view(b, h, n, w, d)  # (B, H, n, w, d)

    qb, kb, vb = blocks(q), blocks(k), blocks(v)
    # block 0 sees only itself (a causal mask); block i >= 1 sees blocks i-1 and i, with one
    # (w, 2w) mask shared by all blocks, and runs as 4-d attention (fast kernels on CPU)
    first = F.scaled_dot_product_attention(
        q[:, :, :w], k[:, :, :w], v[:, :, :w], attn_mask=window_mask(w, w, 0, w, q.device)
    )  # (B, H, w, d)

    def with_previous(z: Tensor) -> Tensor:
        pairs = torch.cat([z[:, :, :-1], z[:, :, 1:]], dim=3)  # (B, H, n-1, 2w, d)
        return pairs.reshape(b, h * (n - 1), 2 * w, d)

    rest = F.scaled_dot_product_attention(
        qb[:, :, 1:].reshape(b, h * (n - 1), w, d),
        with_previous(kb),
        with_previous(vb),
        attn_mask=window_mask(w, 2 * w, w, w, q.device),  # (w, 2w)
    ).view(b, h, (n - 1) * w, d)
    return torch.cat([first, rest], dim=2)[:, :, :t]  # (B, H, T, d)


class Rotary(nn.Module):
    """Rotary position embedding: rotates feature pairs (i, i + d/2) by position·θ_i,
    θ_i = base^(-2i/d)."""

    def __init__(self, head_dim: int, base: float) -> None:
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        """x (B, T, ..., d) with positions ``pos`` (T,) on axis 1."""
        angle = pos[:, None] * self.inv_freq[None, :]  # (T, d/2)
        shape = [angle.shape[0]] + [1] * (x.dim() - 3) + [angle.shape[1]]
        cos, sin = angle.cos().view(shape), angle.sin().view(shape)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.n_heads, self.window = c.n_heads, c.window_ms
        self.head_dim = c.d_model // c.n_heads
        self.norm1 = RMSNorm(c.d_model, dim=-1)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.proj = nn.Linear(c.d_model, c.d_model, bias=False)
        self.norm2 = RMSNorm(c.d_model, dim=-1)
        self.gate_up = nn.Linear(c.d_model, 2 * c.mlp_hidden, bias=False)
        self.down = nn.Linear(c.mlp_hidden, c.d_model, bias=False)
        self.rotary = Rotary(self.head_dim, c.rope_base)

    def _qkv(self, h: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, t, _ = h.shape
        qkv = self.qkv(self.norm1(h)).view(b, t, 3, self.n_heads, self.head_dim)
        qk = self.rotary(qkv[:, :, :2], pos)  # (B, T, 2, H, d), rotated in this layout
        q, k = qk.permute(2, 0, 3, 1, 4)  # each (B, H, T, d)
        return q, k, qkv[:, :, 2].transpose(1, 2)

    def _mlp(self, h: Tensor) -> Tensor:
        gate, up = self.gate_up(self.norm2(h)).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)

    def _merge(self, y: Tensor) -> Tensor:
        b, _, t, _ = y.shape
        return self.proj(y.transpose(1, 2).reshape(b, t, -1))  # (B, T, D)

    def forward(self, h: Tensor, pos: Tensor) -> Tensor:
        q, k, v = self._qkv(h, pos)
        h = h + self._merge(sliding_window_attention(q, k, v, self.window))
        return h + self._mlp(h)

    def step(self, h: Tensor, pos: Tensor, cache: dict[str, Tensor | None]) -> Tensor:
        """h (B, 1, D) at position ``pos`` (1,); ``cache`` holds the last keys/values."""
        q, k, v = self._qkv(h, pos)  # (B, H, 1, d)
        keep = self.window - 1
        if cache["k"] is not None:
            k = torch.cat([cache["k"][:, :, -keep:] if keep else cache["k"][:, :, :0], k], 2)
            v = torch.cat([cache["v"][:, :, -keep:] if keep else cache["v"][:, :, :0], v], 2)
        cache["k"], cache["v"] = k, v
        h = h + self._merge(F.scaled_dot_product_attention(q, k, v))
        return h + self._mlp(h)


class Transformer(Twin):
    config_class = TransformerConfig
    name = "transformer"
    config: TransformerConfig

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        c = config
        self.embed = CausalConv1d(c.in_channels, c.d_model, c.patch_ms)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.d_model, dim=-1)
        self.heads = Heads(c.d_model, c.head_channels())

    @property
    def receptive_field_ms(self) -> int:
        c = self.config
        return (c.patch_ms - 1) + c.n_layers * (c.window_ms - 1) + 1

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        h = self.embed(x).transpose(1, 2)  # (B, T, D)
        pos = torch.arange(h.shape[1], device=x.device, dtype=h.dtype)
        for block in self.blocks:
            h = block(h, pos)
        return self.heads.forward_last(self.norm(h))

    def _stream_state(self, batch_size: int) -> dict[str, Any]:
        return {
            "t": 0,
            "embed": self.embed.init_state(batch_size),
            "kv": [{"k": None, "v": None} for _ in self.blocks],
        }

    def _stream_step(self, x: Tensor, state: dict[str, Any]) -> dict[str, Tensor]:
        h = self.embed.step(x, state["embed"])[:, None, :]  # (B, 1, D)
        pos = torch.tensor([state["t"]], device=x.device, dtype=h.dtype)
        for block, cache in zip(self.blocks, state["kv"], strict=True):
            h = block.step(h, pos, cache)
        state["t"] += 1
        return self.heads.step(self.norm(h)[:, 0])


register(
    Transformer,
    {
        "tiny": {"d_model": 32, "n_layers": 2, "n_heads": 2, "window_ms": 128},
        "small": {"d_model": 64, "n_layers": 4, "n_heads": 4, "window_ms": 256},
    },
    default_preset="tiny",
)
