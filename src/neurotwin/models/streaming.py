"""Step-by-step inference with state: ``streamer = model.stream(batch_size)``.

``streamer.step(x_t)`` takes one millisecond of raw input ``(B, C_in)`` (or ``(B, 2, S)``) and
returns every head for that millisecond, ``{head: (B, C_k)}`` in learning units like
``model(x)``; stepping through T frames gives the same numbers as ``model(x)`` on the whole
sequence. The state each twin keeps:

* convolutional twins (tcn, resnet_tcn, fcn, linear): one :class:`RingBuffer` per conv layer
  holding that layer's last ``(K-1)·dilation + 1`` input frames, so a step costs one kernel
  application per layer, not a pass over the receptive field;
* recurrent twins (lstm, gru, rnn) and the ELM: their hidden state;
* the transformer: per layer a key/value cache of at most ``window_ms`` frames (keys carry their
  rotary position already) plus the input ring buffer of its patch convolution.

Call ``model.eval()`` first (dropout-free twins give the same results either way, but a twin
with BatchNorm must use its running statistics to be causal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from neurotwin.models.base import Twin


class RingBuffer:
    """The last ``length`` frames ``(B, C)`` of a sequence, oldest first, without shifting.

    Each frame is written twice, at ``p`` and ``p + length`` of a buffer twice as long, so the
    window ``buf[..., p + 1 : p + 1 + length]`` is always one contiguous-in-time slice. Starts as
    zeros, like the left padding of a causal convolution."""

    def __init__(
        self,
        batch_size: int,
        channels: int,
        length: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        assert length >= 1
        self.length = length
        self.buf = torch.zeros(batch_size, channels, 2 * length, device=device, dtype=dtype)
        self.pos = 0

    def push(self, x: Tensor) -> Tensor:
        """Append frame ``x`` (B, C); return the window (B, C, length) ending with ``x``."""
        p, n = self.pos, self.length
        self.buf[:, :, p] = x
        self.buf[:, :, p + n] = x
        self.pos = (p + 1) % n
        return self.buf[:, :, p + 1 : p + 1 + n]


class Streamer:
    """Runs ``model`` one millisecond at a time for a fixed batch size; see the module doc."""

    def __init__(self, model: Twin, batch_size: int = 1) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.model = model
        self.batch_size = batch_size
        self.state: Any = None
        self.t = 0
        self.reset()

    def reset(self) -> None:
        """Forget all history (back to the state before the first input)."""
        self.state = self.model._stream_state(self.batch_size)
        self.t = 0

    @torch.no_grad()
    def step(self, x_t: Tensor) -> dict[str, Tensor]:
        """One frame of raw input (B, C_in) or (B, 2, S) → ``{head: (B, C_k)}``."""
        if x_t.dim() == 3:
            x_t = x_t.flatten(1, 2)  # (B, 2, S) → (B, 2·S)
        want = (self.batch_size, self.model.config.in_channels)
        if tuple(x_t.shape) != want:
            raise ValueError(f"expected one frame of shape {want}, got {tuple(x_t.shape)}")
        x_t = x_t.float() * self.model.scaling.input_scale
        out = self.model._stream_step(x_t, self.state)
        self.t += 1
        return out

    @torch.no_grad()
    def run(self, x: Tensor) -> dict[str, Tensor]:
        """Step through a whole sequence (B, C_in, T) or (B, 2, S, T), continuing from the
        current state; returns ``{head: (B, C_k, T)}``."""
        if x.shape[-1] < 1:
            raise ValueError(f"run needs at least one time step, got shape {tuple(x.shape)}")
        frames = [self.step(x[..., t]) for t in range(x.shape[-1])]
        return {k: torch.stack([f[k] for f in frames], dim=-1) for k in frames[0]}
