"""Expressive Leaky Memory twins ``elm`` and ``elm_branch`` (Spieler et al., ICLR 2024).

Per millisecond t (Δt = 1 ms, κ = exp(-Δt/τ)):

    s_t  = κ_s ⊙ s_{t-1} + x_t                         leaky synaptic trace per input channel
    b_t  = s_t                  (elm)                  what the MLP sees of the synapses
         = B · s_t              (elm_branch)           per-branch linear mix of the traces
    Δm_t = tanh(MLP([b_t, κ_m ⊙ m_{t-1}]))             one hidden layer (ReLU), M outputs
    m_t  = κ_m ⊙ m_{t-1} + λ (1 - κ_m) ⊙ Δm_t           M leaky memory units
    y_t  = W_y m_t + c                                 linear readout to the heads

* τ_s: ``tau_syn_ms`` (5 ms, the paper's value) for every channel, fixed or learned.
* τ_m: log-spaced over ``tau_mem_range_ms`` = [1, 150] ms, fixed by default (as in the
  authors' NeuronIO models) or learned within that range (sigmoid-bounded).
* λ = ``memory_lambda`` = 5, the default of the authors' implementation: with tanh-bounded Δm a
  memory unit can reach ±λ, and a unit with long τ_m still moves by λ(1-κ_m) per step.
* MLP hidden size: ``mlp_hidden`` or, when 0, 2·M (the authors' default).
* Branch variant: input channel c belongs to branch ``c % num_branches``; each branch mixes its
  synapses' traces linearly (``branch_features`` signed learned weights per synapse) — for the
  (2, S) ball-and-stick layout with ``num_branches = S`` a branch is one segment's excitatory
  and inhibitory synapse. This shrinks the MLP's input from C_in to num_branches·features.

Fast paths. With autograd (training): the traces and then ``W_in·b_t + bias`` are linear in
the input, so they are computed for all t at once (one scripted elementwise scan, one matmul);
only the small recurrence of the memory (two (B, M)×(M, H)-sized matmuls per step) runs in a
TorchScript loop; ``scan_impl = "eager"`` runs the same loops in Python (for comparison).
Inference on a CPU (no gradient needed): the whole step runs in one compiled numba loop with
the batch in the vector lanes (``elm_kernel.py``). benchmarks/twin_inference.py measures all
three.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurotwin.models.base import Twin, TwinConfig, require
from neurotwin.models.layers import Heads
from neurotwin.models.registry import register

__all__ = ["ELM", "ELMBranch", "ELMBranchConfig", "ELMConfig"]

log = logging.getLogger(__name__)


def trace_scan(x: Tensor, kappa: Tensor, s: Tensor) -> Tensor:
    """Leaky traces over time: x (T, B, C), kappa (C,), s (B, C) initial → (T, B, C)."""
    out: list[Tensor] = []
    for t in range(x.shape[0]):
        s = kappa * s + x[t]
        out.append(s)
    return torch.stack(out)


def memory_scan(
    pre: Tensor, m: Tensor, kappa: Tensor, gain: Tensor, w_mem: Tensor, w_out: Tensor, b_out: Tensor
) -> Tensor:
    """The memory recurrence. pre (T, B, H): input part of the MLP hidden pre-activation (bias
    included); m (B, M) initial memory; kappa, gain = λ(1-κ) (M,); w_mem (H, M) the MLP's
    memory weights with κ folded in (so ``m @ w_mem.T`` = W_m (κ ⊙ m)); w_out (M, H), b_out (M,).
    Returns m_t for every t, (T, B, M)."""
    out: list[Tensor] = []
    w_mem_t, w_out_t = w_mem.t(), w_out.t()
    for t in range(pre.shape[0]):
        h = torch.relu(torch.addmm(pre[t], m, w_mem_t))  # (B, H)
        m = kappa * m + gain * torch.tanh(torch.addmm(b_out, h, w_out_t))  # (B, M)
        out.append(m)
    return torch.stack(out)


_SCRIPTED: dict[str, Callable[..., Tensor]] = {}


def scripted(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """TorchScript version of ``fn`` (compiled once), or ``fn`` itself if scripting fails."""
    if fn.__name__ not in _SCRIPTED:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                _SCRIPTED[fn.__name__] = torch.jit.script(fn)
        except Exception as exc:  # noqa: BLE001 - any failure means: use the eager loop
            log.warning("TorchScript unavailable for %s (%s); using the eager loop", fn, exc)
            _SCRIPTED[fn.__name__] = fn
    return _SCRIPTED[fn.__name__]


@dataclass(frozen=True)
class ELMConfig(TwinConfig):
    """num_memory: M memory units; mlp_hidden: MLP hidden units (0: 2·M); memory_lambda: λ;
    tau_mem_range_ms: (min, max) of the log-spaced memory timescales; learn_tau_mem: learn
    them (within the range); tau_syn_ms: synaptic trace timescale; learn_tau_syn: learn it
    per input channel."""

    num_memory: int = 50
    mlp_hidden: int = 0
    memory_lambda: float = 5.0
    tau_mem_range_ms: tuple[float, float] = (1.0, 150.0)
    learn_tau_mem: bool = False
    tau_syn_ms: float = 5.0
    learn_tau_syn: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_memory",):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, value, "an int >= 1")
        require(
            isinstance(self.mlp_hidden, int) and self.mlp_hidden >= 0,
            "mlp_hidden",
            self.mlp_hidden,
            "an int >= 0 (0: 2·num_memory)",
        )
        require(self.memory_lambda > 0, "memory_lambda", self.memory_lambda, "> 0")
        lo_hi = self.tau_mem_range_ms
        require(
            len(lo_hi) == 2 and 0 < lo_hi[0] < lo_hi[1],
            "tau_mem_range_ms",
            lo_hi,
            "(min, max) with 0 < min < max",
        )
        require(self.tau_syn_ms > 0, "tau_syn_ms", self.tau_syn_ms, "> 0")

    @property
    def hidden_units(self) -> int:
        return self.mlp_hidden or 2 * self.num_memory


@dataclass(frozen=True)
class ELMBranchConfig(ELMConfig):
    """num_branches: branches (0: num_dend, or in_channels for a point cell); input channel c
    belongs to branch c % num_branches; branch_features: linear mixes per branch."""

    num_branches: int = 0
    branch_features: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        nb = self.num_branches
        require(
            isinstance(nb, int) and 0 <= nb <= self.in_channels,
            "num_branches",
            nb,
            f"an int in [0, in_channels={self.in_channels}]",
        )
        require(
            isinstance(self.branch_features, int) and self.branch_features >= 1,
            "branch_features",
            self.branch_features,
            "an int >= 1",
        )

    @property
    def branches(self) -> int:
        return self.num_branches or self.num_dend or self.in_channels


def _logit(p: Tensor) -> Tensor:
    return torch.log(p) - torch.log1p(-p)


class ELM(Twin):
    config_class = ELMConfig
    name = "elm"
    config: ELMConfig
    scan_impl: str = "script"  # or "eager": the same loops in Python

    def __init__(self, config: ELMConfig) -> None:
        super().__init__(config)
        c = config
        m, n_in = c.num_memory, self._num_features()
        log_tau_s = torch.full((c.in_channels,), math.log(c.tau_syn_ms))
        if c.learn_tau_syn:
            self.log_tau_syn = nn.Parameter(log_tau_s)
        else:
            self.register_buffer("log_tau_syn", log_tau_s)
        lo, hi = c.tau_mem_range_ms
        tau_m = torch.logspace(math.log10(lo), math.log10(hi), m)
        if c.learn_tau_mem:  # τ_m = lo + (hi - lo)·sigmoid(p), initialised log-spaced
            frac = ((tau_m - lo) / (hi - lo)).clamp(1e-6, 1 - 1e-6)
            self.tau_mem_param = nn.Parameter(_logit(frac))
        else:
            self.register_buffer("tau_mem_param", tau_m)
        self.mlp_in = nn.Linear(n_in + m, c.hidden_units)
        self.mlp_out = nn.Linear(c.hidden_units, m)
        self.heads = Heads(m, c.head_channels())

    # -- pieces ------------------------------------------------------------------------------
    def _num_features(self) -> int:
        return self.config.in_channels

    def _features(self, s: Tensor) -> Tensor:
        """Synaptic traces (..., C_in) → MLP input features (..., n_in)."""
        return s

    @property
    def tau_mem_ms(self) -> Tensor:
        if self.config.learn_tau_mem:
            lo, hi = self.config.tau_mem_range_ms
            return lo + (hi - lo) * torch.sigmoid(self.tau_mem_param)
        return self.tau_mem_param

    @property
    def receptive_field_ms(self) -> float:
        return math.inf

    def _constants(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """κ_s (C,), κ_m (M,), λ(1-κ_m) (M,), W_s (H, n_in), W_m·diag(κ_m) (H, M), b_in (H,)."""
        kappa_s = torch.exp(-torch.exp(-self.log_tau_syn))  # exp(-Δt/τ_s), Δt = 1 ms
        kappa_m = torch.exp(-1.0 / self.tau_mem_ms)
        gain = self.config.memory_lambda * (1.0 - kappa_m)
        n_in = self._num_features()
        w = self.mlp_in.weight
        return kappa_s, kappa_m, gain, w[:, :n_in], w[:, n_in:] * kappa_m, self.mlp_in.bias

    # -- full sequence -------------------------------------------------------------------------
    has_compiled = True

    def _compiled_wins(self, x: Tensor) -> bool:
        """Measured on one core (speed-up of the numba loop over TorchScript): M=10 6.7-16×
        at any batch, M=25 2.4-4.2×, M=50 1.0× up to batch 16 and 1.5-1.8× from 32, M=100
        0.3-0.6× below batch 64 and 1.5× at 64 (the lanes are the batch; large per-step
        matrices suit BLAS)."""
        work, batch = self.config.num_memory * self.config.hidden_units, x.shape[0]
        return work <= 1250 or batch >= 64 or (batch >= 32 and work <= 5000)

    @torch.no_grad()
    def _forward_compiled(self, x: Tensor) -> dict[str, Tensor]:
        from neurotwin.models.elm_kernel import elm_scan

        kappa_s, kappa_m, gain, w_s, w_m, b_in = self._constants()
        # The features are linear in the traces (identity, or the branch mix) and the traces in
        # the input, so the features and the input scaling fold into the MLP's input weights.
        eye = torch.eye(self.config.in_channels, dtype=w_s.dtype, device=w_s.device)
        features = self._features(eye * self.scaling.input_scale)  # (C_in, n_in)
        proj = self.heads.proj
        arrays = [kappa_s, kappa_m, gain, w_s @ features.t(), w_m, b_in]
        arrays += [self.mlp_out.weight, self.mlp_out.bias, proj.weight[:, :, 0], proj.bias]
        y = elm_scan(
            x.detach().numpy(),
            *(a.detach().cpu().numpy() for a in arrays),
            threads=torch.get_num_threads(),
        )
        return self.heads.split(torch.from_numpy(y))  # (B, ΣC_k, T) → heads

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        b, _, t = x.shape
        kappa_s, kappa_m, gain, w_s, w_m, b_in = self._constants()
        m = self.config.num_memory
        if t == 0:
            return self.heads(x.new_zeros(b, m, 0))
        fast = self.scan_impl == "script"
        traces = scripted(trace_scan) if fast else trace_scan
        memory = scripted(memory_scan) if fast else memory_scan
        s = traces(x.permute(2, 0, 1), kappa_s, x.new_zeros(b, x.shape[1]))  # (T, B, C)
        pre = F.linear(self._features(s), w_s, b_in)  # (T, B, H), all t in one matmul
        mem = memory(
            pre, x.new_zeros(b, m), kappa_m, gain, w_m, self.mlp_out.weight, self.mlp_out.bias
        )  # (T, B, M)
        return self.heads.forward_last(mem.transpose(0, 1))  # (B, T, M) → (B, C_k, T)

    # -- streaming -----------------------------------------------------------------------------
    def _stream_state(self, batch_size: int) -> dict[str, Tensor]:
        p = self.mlp_in.weight
        zeros = {"device": p.device, "dtype": p.dtype}
        return {
            "s": torch.zeros(batch_size, self.config.in_channels, **zeros),
            "m": torch.zeros(batch_size, self.config.num_memory, **zeros),
        }

    def _stream_step(self, x: Tensor, state: dict[str, Tensor]) -> dict[str, Tensor]:
        kappa_s, kappa_m, gain, w_s, w_m, b_in = self._constants()
        s = kappa_s * state["s"] + x
        pre = F.linear(self._features(s), w_s, b_in)  # (B, H)
        h = torch.relu(torch.addmm(pre, state["m"], w_m.t()))
        m = kappa_m * state["m"] + gain * torch.tanh(
            torch.addmm(self.mlp_out.bias, h, self.mlp_out.weight.t())
        )
        state["s"], state["m"] = s, m
        return self.heads.step(m)


class ELMBranch(ELM):
    config_class = ELMBranchConfig
    name = "elm_branch"
    config: ELMBranchConfig

    def __init__(self, config: ELMBranchConfig) -> None:
        nb, f = config.branches, config.branch_features
        super().__init__(config)
        c_in = config.in_channels
        assign = torch.zeros(c_in, nb)
        assign[torch.arange(c_in), torch.arange(c_in) % nb] = 1.0
        self.register_buffer("branch_of", assign)  # (C_in, nb) one-hot
        per_branch = math.ceil(c_in / nb)
        self.synapse_weight = nn.Parameter(torch.randn(c_in, f) / math.sqrt(per_branch))

    def _num_features(self) -> int:
        return self.config.branches * self.config.branch_features

    def _features(self, s: Tensor) -> Tensor:
        mix = self.branch_of[:, :, None] * self.synapse_weight[:, None, :]  # (C_in, nb, F)
        return s @ mix.flatten(1)  # (..., nb·F)


_PRESETS: dict[str, dict[str, Any]] = {
    "small": {"num_memory": 10},
    "medium": {"num_memory": 50},
    "large": {"num_memory": 100},
}
register(ELM, _PRESETS, default_preset="medium")
register(ELMBranch, _PRESETS, default_preset="medium")
