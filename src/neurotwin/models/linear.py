"""``linear``: the linear-filter twin of the LIF demonstration.

One causal convolution from all input channels to a single trace ``z`` (kernel ``kernel_ms``,
with bias) — a learned linear temporal filter of the input. The heads read ``z`` only:

* ``spike`` = ``z`` itself, a logit (``predict`` applies the sigmoid);
* every other head channel (``soma`` by default; any head may be asked for) = ``a·z + b`` with
  its own learned gain ``a`` and offset ``b``, so the same filter can also fit the voltage.

Nothing else: no nonlinearity before the readout. Receptive field ``kernel_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neurotwin.models.base import Twin, TwinConfig, require
from neurotwin.models.layers import CausalConv1d
from neurotwin.models.registry import register

__all__ = ["LinearConfig", "LinearTwin"]


@dataclass(frozen=True)
class LinearConfig(TwinConfig):
    """kernel_ms: length of the learned filter (lags 0 … kernel_ms - 1 ms)."""

    heads: tuple[str, ...] = ("spike", "soma")
    kernel_ms: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            isinstance(self.kernel_ms, int) and self.kernel_ms >= 1,
            "kernel_ms",
            self.kernel_ms,
            "an int >= 1",
        )


class LinearTwin(Twin):
    config_class = LinearConfig
    name = "linear"
    config: LinearConfig

    def __init__(self, config: LinearConfig) -> None:
        super().__init__(config)
        self.filter = CausalConv1d(config.in_channels, 1, config.kernel_ms)
        channels = config.head_channels()
        self._affine_heads = [h for h in config.heads if h != "spike"]
        self._affine_sizes = [channels[h] for h in self._affine_heads]
        n = sum(self._affine_sizes)
        self.gain = nn.Parameter(torch.ones(n))
        self.offset = nn.Parameter(torch.zeros(n))

    @property
    def receptive_field_ms(self) -> int:
        return self.config.kernel_ms

    def _readout(self, z: Tensor) -> dict[str, Tensor]:
        """``z`` (B, 1, ...) → heads (B, C_k, ...)."""
        shape = [1, -1] + [1] * (z.dim() - 2)
        affine = z * self.gain.view(shape) + self.offset.view(shape)  # (B, n_affine, ...)
        parts = dict(
            zip(self._affine_heads, torch.split(affine, self._affine_sizes, dim=1), strict=True)
        )
        return {h: (z if h == "spike" else parts[h]) for h in self.config.heads}

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        return self._readout(self.filter(x))  # filter: (B, 1, T)

    has_compiled = True

    @torch.no_grad()
    def _forward_compiled(self, x: Tensor) -> dict[str, Tensor]:
        """Event-driven filter (``linear_kernel.py``): the kernel added at each input event."""
        from neurotwin.models.linear_kernel import filter_events

        bias = self.filter.bias
        lags = self.filter.weight[0].flip(-1) * self.scaling.input_scale  # (C_in, K), lag axis
        z = filter_events(
            x.detach().numpy(),
            lags.detach().numpy(),
            0.0 if bias is None else float(bias),
            threads=torch.get_num_threads(),
        )
        return self._readout(torch.from_numpy(z)[:, None])  # (B, 1, T)

    @torch.no_grad()
    def init_head_bias(self, values: dict[str, Tensor]) -> None:
        """Start each head at ``values[head]`` (learning units, per channel): the filter's bias
        carries the spike logit; each affine head's offset absorbs the rest."""
        bias = self.filter.bias
        assert bias is not None
        if "spike" in values:
            bias.copy_(values["spike"].reshape(1).to(bias))
        offsets = torch.split(self.offset, self._affine_sizes)
        gains = torch.split(self.gain, self._affine_sizes)
        for head, offset, gain in zip(self._affine_heads, offsets, gains, strict=True):
            if head in values:
                offset.copy_(values[head].to(offset) - gain * bias)

    def _stream_state(self, batch_size: int) -> Any:
        return self.filter.init_state(batch_size)

    def _stream_step(self, x: Tensor, state: Any) -> dict[str, Tensor]:
        return self._readout(self.filter.step(x, state))  # step: (B, 1)

    @torch.no_grad()
    def filter_kernel(self, head: str = "spike", channel: int = 0) -> np.ndarray:
        """The learned filter as a (in_channels, kernel_ms) array ``k`` with the *lag* on the
        time axis: ``k[c, d]`` weighs input channel ``c`` at ``d`` ms before the output
        (``d = 0``: the same millisecond), so ``out(t) = Σ_c Σ_d k[c, d] · x_raw[c, t - d]``
        (+ a constant), the orientation of the LIF kernel ``exp(-d / tau_ms)``.

        Units: per unit of *raw* input (the model's input scaling folded in), in logit for
        ``spike`` and ``near_spike``, mV for ``soma``/``dend`` (channel ``channel``), spikes/ms
        for ``inst_rate``."""
        if head not in self.config.heads:
            raise ValueError(f"head {head!r} is not one of this twin's heads {self.config.heads}")
        k = self.filter.weight[0].flip(-1) * self.scaling.input_scale  # (C_in, K), lag axis
        if head != "spike":
            sizes = dict(zip(self._affine_heads, self._affine_sizes, strict=True))
            if not 0 <= channel < sizes[head]:
                raise ValueError(f"channel must be in [0, {sizes[head]}), got {channel}")
            start = sum(self._affine_sizes[: self._affine_heads.index(head)])
            k = k * self.gain[start + channel]
            if head in ("soma", "dend"):
                k = k * self.scaling.v_scale_mV
            elif head == "inst_rate":
                k = k / self.scaling.inst_rate_scale
        return k.detach().cpu().numpy()


register(
    LinearTwin,
    {"short": {"kernel_ms": 50}, "medium": {"kernel_ms": 200}, "long": {"kernel_ms": 500}},
    default_preset="medium",
)
