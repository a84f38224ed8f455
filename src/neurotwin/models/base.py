"""The one model contract every twin follows.

A twin maps a neuron's synaptic input ``(B, C_in, T)`` — or ``(B, 2, S, T)``, flattened to
``(B, 2·S, T)`` — to named heads ``(B, C_k, T)`` at 1 ms resolution:

=============  =====  ==========================================================
head           C_k    meaning of ``forward`` output (learning units)
=============  =====  ==========================================================
``spike``      1      logit of a spike in the bin
``soma``       1      scaled soma voltage  (clamp(V, lo, hi) + offset) / scale
``near_spike`` 1      logit of the near-spike target
``inst_rate``  1      scaled instantaneous rate  rate_per_ms * inst_rate_scale
``dend``       S      scaled dendritic voltages, same transform as soma
=============  =====  ==========================================================

Every twin is causal (output at t sees only inputs at times <= t), reports ``num_params`` and
``receptive_field_ms``, has a frozen config dataclass (``TwinConfig`` subclass), and stores its
:class:`Scaling` so that :meth:`Twin.predict` returns probabilities and millivolts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from neurotwin.models.streaming import Streamer

HEADS: tuple[str, ...] = ("spike", "soma", "near_spike", "inst_rate", "dend")
IMPLS: tuple[str, ...] = ("auto", "torch", "compiled")  # Twin.impl: which forward path runs


def require(ok: bool, field_name: str, value: Any, rule: str) -> None:
    """Config validation: ``ValueError("<field> must be <rule>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{field_name} must be {rule}, got {value!r}")


@dataclass(frozen=True)
class Scaling:
    """Input and target scaling stored in every model (and its checkpoint)."""

    input_scale: float = 0.1  # inputs ÷ 10
    soma_clamp_mV: tuple[float, float] = (-90.0, -57.0)
    v_offset_mV: float = 85.0  # scaled V = (clamp(V) + offset) / scale
    v_scale_mV: float = 11.5
    dend_clamp_mV: tuple[float, float] = (-90.0, 0.0)
    inst_rate_scale: float = 20.0  # spikes/ms × 20 ≈ O(1)

    def scale_voltage(self, v: Tensor, clamp: tuple[float, float]) -> Tensor:
        return (v.clamp(*clamp) + self.v_offset_mV) / self.v_scale_mV

    def unscale_voltage(self, y: Tensor) -> Tensor:
        return y * self.v_scale_mV - self.v_offset_mV

    def scale_targets(self, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """Raw dataset targets (mV, spikes/ms, bools) → learning units of each head."""
        out: dict[str, Tensor] = {}
        for name, t in targets.items():
            if name == "soma":
                out[name] = self.scale_voltage(t.float(), self.soma_clamp_mV)
            elif name == "dend":
                out[name] = self.scale_voltage(t.float(), self.dend_clamp_mV)
            elif name == "inst_rate":
                out[name] = t.float() * self.inst_rate_scale
            else:
                out[name] = t.float()
        return out


@dataclass(frozen=True)
class TwinConfig:
    """Base of every twin's config. ``in_channels`` = 2·S for a ball-and-stick with S segments
    (100 for the LIF cell); ``num_dend`` = S (0: no dend head)."""

    in_channels: int = 16
    num_dend: int = 8
    heads: tuple[str, ...] = HEADS
    scaling: Scaling = field(default_factory=Scaling)

    def __post_init__(self) -> None:
        unknown = set(self.heads) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown head(s) {sorted(unknown)}; valid heads: {', '.join(HEADS)}")
        if not self.heads:
            raise ValueError("a twin needs at least one head")
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}")
        if "dend" in self.heads and self.num_dend < 1:
            raise ValueError("the dend head needs num_dend >= 1 (a cell with dendrites)")

    def head_channels(self) -> dict[str, int]:
        return {h: (self.num_dend if h == "dend" else 1) for h in self.heads}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def plain(value: Any) -> Any:
    """Tuples → lists, recursively: the JSON form of a config dict (``spec()["config"]``)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class Twin(nn.Module):
    """Base class of every twin. Subclasses set ``config_class`` and implement ``_forward`` on
    scaled inputs ``(B, C_in, T)`` returning the heads, and ``receptive_field_ms``."""

    config_class: ClassVar[type[TwinConfig]] = TwinConfig
    name: ClassVar[str] = ""  # the registry name (``neurotwin.models.build(name)``)
    # Twins with a compiled CPU inference path set this and implement ``_forward_compiled``.
    has_compiled: ClassVar[bool] = False
    # "auto": the compiled path when it applies (CPU, float32, no gradient needed), else
    # PyTorch; "torch" or "compiled" force one (tests and benchmarks compare them).
    impl: str = "auto"

    def __init__(self, config: TwinConfig) -> None:
        super().__init__()
        self.config = config
        self.scaling = config.scaling

    # -- the contract ----------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def receptive_field_ms(self) -> int | float:
        """Bins of input that can influence one output bin (``inf`` for recurrent twins)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``x``: raw inputs (B, C_in, T) or (B, 2, S, T) of event weights. Returns heads in
        learning units, each (B, C_k, T)."""
        if x.dim() == 4:
            x = x.flatten(1, 2)  # (B, 2, S, T) → (B, 2·S, T)
        if x.dim() != 3 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected inputs (B, {self.config.in_channels}, T), got {tuple(x.shape)}"
            )
        if self._use_compiled(x):
            return self._forward_compiled(x.float())
        return self._forward(x.float() * self.scaling.input_scale)

    def _use_compiled(self, x: Tensor) -> bool:
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(IMPLS)}, got {self.impl!r}")
        if not self.has_compiled or self.impl == "torch" or torch.jit.is_tracing():
            return False  # a trace (TorchScript, ONNX export) must record torch operations
        if self.impl == "compiled":
            if x.device.type != "cpu":
                raise ValueError(f"impl='compiled' runs on the CPU; the inputs are on {x.device}")
            return True
        params = list(self.parameters())
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in params)
        on_cpu32 = all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params)
        return x.device.type == "cpu" and on_cpu32 and not needs_grad and self._compiled_wins(x)

    def _compiled_wins(self, x: Tensor) -> bool:
        """Whether the compiled path is the faster one for inputs ``x`` (when both apply)."""
        return True

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def _forward_compiled(self, x: Tensor) -> dict[str, Tensor]:
        """The same function as ``_forward`` on *raw* float32 CPU inputs (B, C_in, T), without
        autograd (the input scaling is the kernel's to fold in)."""
        raise NotImplementedError

    # -- serialisation and streaming -------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """``{"name": registry name, "config": JSON-able config}``; ``neurotwin.models.from_spec``
        rebuilds an identical (untrained) twin, so a checkpoint is spec + state_dict."""
        return {"name": self.name, "config": plain(self.config.to_dict())}

    def stream(self, batch_size: int = 1) -> Streamer:
        """A stateful step-by-step runner: ``stream(B).step(x_t)`` with ``x_t`` (B, C_in) gives
        ``{head: (B, C_k)}``, equal to ``forward`` on the whole sequence (see streaming.py)."""
        from neurotwin.models.streaming import Streamer

        return Streamer(self, batch_size)

    def _stream_state(self, batch_size: int) -> Any:
        """Fresh streaming state (all history zero) for ``batch_size`` sequences."""
        raise NotImplementedError(f"{type(self).__name__} does not support streaming")

    def _stream_step(self, x: Tensor, state: Any) -> dict[str, Tensor]:
        """One frame of *scaled* input (B, C_in) → heads (B, C_k); updates ``state`` in place."""
        raise NotImplementedError(f"{type(self).__name__} does not support streaming")

    @torch.no_grad()
    def predict(self, x: Tensor) -> dict[str, Tensor]:
        """Heads in physical units: probabilities for spike/near_spike, mV for soma/dend
        (clamped to the target clamps, outside which the targets carry no information),
        spikes/ms for inst_rate."""
        out = self(x)
        s = self.scaling
        phys: dict[str, Tensor] = {}
        for name, y in out.items():
            if name in ("spike", "near_spike"):
                phys[name] = torch.sigmoid(y)
            elif name == "soma":  # clamped like the targets: mV within soma_clamp_mV
                phys[name] = s.unscale_voltage(y).clamp(*s.soma_clamp_mV)
            elif name == "dend":
                phys[name] = s.unscale_voltage(y).clamp(*s.dend_clamp_mV)
            elif name == "inst_rate":
                phys[name] = y / s.inst_rate_scale
            else:  # pragma: no cover - HEADS is closed
                phys[name] = y
        return phys
