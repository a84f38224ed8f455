"""Leaky integrate-and-fire point neuron (Beniaguev et al. 2021, Fig. 1), pure NumPy.

The cell sums exponentially filtered excitatory and inhibitory input events, fires when the
voltage reaches a threshold, and is then reset with an exponentially recovering reset current.
It needs no NEURON and runs a 64 x 8192 ms batch in tens of milliseconds, so it serves as the
fast reference cell of the pipeline (datasets, twins, tests).

Dynamics at 1 ms resolution, for one simulation of T bins (t = 0, 1, ..., T-1 ms):

1. Signed input ``s(t) = sum_exc x_i(t) - sum_inh x_j(t)``; a value ``w > 0`` at ``[i, t]`` is
   one event of weight ``w`` at ``t`` ms (``w = 1`` for the classic demo).
2. Kernel ``k[d] = exp(-d / tau_ms)`` for ``d = 0, ..., kernel_len - 1`` (zero beyond), causal
   and including the event bin itself: ``drive(t) = sum_d k[d] s(t - d)``.
3. Free voltage ``v_free(t) = v_reset_mV + gain_mV * drive(t)``.
4. Voltage ``v(t) = v_free(t) + r(t)`` with the reset term
   ``r(t) = -sum_{t_s < t} (v(t_s) - v_reset_mV) * exp(-(t - t_s) / tau_reset_ms)`` over the
   earlier spikes ``t_s``.
5. A spike is emitted at every bin where ``v(t) >= v_threshold_mV`` (no refractory period).
   The spike adds its own reset term from that bin on, so the post-reset voltage at the spike
   bin is exactly ``v_reset_mV``; the stored ``soma_v`` at the spike bin is the pre-reset
   (threshold-crossing) value, so spikes stay visible in the trace.

Since every reset term is negative, ``v(t) <= v_free(t)``: only bins with
``v_free >= v_threshold`` can spike, and the reset loop walks those candidates alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurotwin.sim.cells.base import CellConfig, require
from neurotwin.sim.outputs import SimulationResult

__all__ = ["LIFConfig", "lif_voltage", "simulate_lif"]


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def _is_real(x: object) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(
        x, bool | np.bool_
    )


@dataclass(frozen=True)
class LIFConfig(CellConfig):
    """Leaky integrate-and-fire cell; see the module docstring for the exact dynamics.

    Attributes:
        num_exc_inputs: excitatory input channels (input rows ``0 .. num_exc_inputs - 1``).
        num_inh_inputs: inhibitory input channels (the rows after the excitatory ones); may be 0.
        tau_ms: decay time constant of the synaptic/membrane kernel in ms.
        kernel_len_ms: kernel length in 1 ms samples; ``None`` means ``round(7 * tau_ms) + 1``
            (141 for ``tau_ms = 20``).
        gain_mV: voltage step in mV of a weight-1 event at its own bin.
        v_reset_mV: resting and reset voltage in mV.
        v_threshold_mV: spike threshold in mV; must exceed ``v_reset_mV``.
        tau_reset_ms: recovery time constant of the reset term in ms.
        soma_cap_mV: output cap, the threshold by default (a point neuron has no spike shape).
    """

    family: ClassVar[str] = "lif"
    name: str = "lif"
    num_exc_inputs: int = 80
    num_inh_inputs: int = 20
    tau_ms: float = 20.0
    kernel_len_ms: int | None = None
    gain_mV: float = 2.0
    v_reset_mV: float = -75.0
    v_threshold_mV: float = -55.0
    tau_reset_ms: float = 20.0
    soma_cap_mV: float = -55.0

    def validate(self) -> None:
        require(
            _is_int(self.num_exc_inputs) and self.num_exc_inputs >= 1,
            f"num_exc_inputs must be an integer >= 1, got {self.num_exc_inputs!r}",
        )
        require(
            _is_int(self.num_inh_inputs) and self.num_inh_inputs >= 0,
            f"num_inh_inputs must be an integer >= 0, got {self.num_inh_inputs!r}",
        )
        for field_name in ("tau_ms", "tau_reset_ms", "gain_mV"):
            value = getattr(self, field_name)
            require(
                _is_real(value) and math.isfinite(value) and value > 0,
                f"{field_name} must be a finite number > 0, got {value!r}",
            )
        require(
            self.kernel_len_ms is None or (_is_int(self.kernel_len_ms) and self.kernel_len_ms >= 1),
            f"kernel_len_ms must be None or an integer >= 1, got {self.kernel_len_ms!r}",
        )
        for field_name in ("v_reset_mV", "v_threshold_mV", "soma_cap_mV"):
            value = getattr(self, field_name)
            require(
                _is_real(value) and math.isfinite(value),
                f"{field_name} must be a finite number, got {value!r}",
            )
        require(
            self.v_threshold_mV > self.v_reset_mV,
            f"v_threshold_mV must be > v_reset_mV ({self.v_reset_mV}), got {self.v_threshold_mV}",
        )

    # -- input layout -------------------------------------------------------------------
    @property
    def kernel_len(self) -> int:
        """Resolved kernel length in 1 ms samples."""
        if self.kernel_len_ms is not None:
            return int(self.kernel_len_ms)
        return int(round(7.0 * self.tau_ms)) + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.num_exc_inputs + self.num_inh_inputs,)

    @property
    def num_exc(self) -> int:
        return self.num_exc_inputs

    @property
    def num_inh(self) -> int:
        return self.num_inh_inputs

    @property
    def num_dend(self) -> int:
        return 0

    def pack_inputs(self, exc: np.ndarray, inh: np.ndarray) -> np.ndarray:
        """Concatenate (..., num_exc, T) and (..., num_inh, T) into (..., num_exc + num_inh, T)."""
        if exc.shape[-2] != self.num_exc or inh.shape[-2] != self.num_inh:
            raise ValueError(
                f"pack_inputs expects exc (..., {self.num_exc}, T) and inh (..., {self.num_inh}, T)"
                f" for cell {self.name!r}, got {exc.shape} and {inh.shape}"
            )
        return np.concatenate([exc, inh], axis=-2)

    def unpack_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split (..., num_exc + num_inh, T) into (exc, inh) views."""
        if inputs.ndim < 2 or inputs.shape[-2] != self.input_shape[0]:
            raise ValueError(
                f"unpack_inputs expects (..., {self.input_shape[0]}, T) for cell {self.name!r}, "
                f"got {inputs.shape}"
            )
        return inputs[..., : self.num_exc, :], inputs[..., self.num_exc :, :]


# -- simulation ------------------------------------------------------------------------------
def _check_inputs(cell: LIFConfig, inputs: np.ndarray) -> np.ndarray:
    """Validate the inputs and return them as a (B, C, T) array (no copy when possible)."""
    x = np.asarray(inputs)
    c = cell.input_shape[0]
    if x.ndim not in (2, 3) or x.shape[-2] != c or x.shape[-1] < 1:
        raise ValueError(
            f"inputs must have shape ({c}, T) or (B, {c}, T) with T >= 1 for cell "
            f"{cell.name!r}, got {x.shape}"
        )
    if x.dtype == np.bool_:
        x = x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.integer) and not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"inputs must be a real numeric array, got dtype {x.dtype}")
    if x.size:
        lo, hi = x.min(), x.max()  # NaN propagates through min/max
        if not (np.isfinite(lo) and np.isfinite(hi)):
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise ValueError(f"inputs must be finite, got {bad} NaN/inf value(s)")
        if lo < 0:
            raise ValueError(f"inputs must be >= 0 (event weights), got minimum {lo}")
    return x[None] if x.ndim == 2 else x


def _free_voltage(cell: LIFConfig, inputs: np.ndarray) -> np.ndarray:
    """``v_free`` in mV, (B, T) float64, for validated (B, C, T) inputs.

    The truncated exponential convolution is computed exactly as an IIR filter minus its
    delayed tail: ``sum_{d<L} a^d s(t-d) = y(t) - a^L y(t-L)`` with ``y = s / (1 - a z^-1)``.
    """
    exc, inh = cell.unpack_inputs(inputs)
    signed = exc.sum(axis=-2, dtype=np.float64) - inh.sum(axis=-2, dtype=np.float64)  # (B, T)
    a = math.exp(-1.0 / cell.tau_ms)
    from scipy.signal import lfilter  # slow to import: only when used

    y = lfilter([1.0], [1.0, -a], signed, axis=-1)  # (B, T), untruncated kernel
    drive = y.copy()
    n = cell.kernel_len
    if n < y.shape[-1]:
        drive[..., n:] -= math.exp(-n / cell.tau_ms) * y[..., :-n]
    return cell.v_reset_mV + cell.gain_mV * drive


def _walk_spikes(
    cell: LIFConfig, v_free: np.ndarray, decay: list[float]
) -> tuple[list[int], list[float], list[float]]:
    """Spike bins, reset term right after each spike, and pre-reset voltages of one trace."""
    th, v_reset = cell.v_threshold_mV, cell.v_reset_mV
    cand = np.flatnonzero(v_free >= th)
    times: list[int] = []
    resets: list[float] = []
    pre: list[float] = []
    t_last = -1
    r_last = 0.0  # reset term r(t_last) including the reset of the spike at t_last
    for t, vf in zip(cand.tolist(), v_free[cand].tolist(), strict=True):
        r = r_last * decay[t - t_last] if t_last >= 0 else 0.0
        v = vf + r
        if v >= th:
            r_last = r - (v - v_reset)
            t_last = t
            times.append(t)
            resets.append(r_last)
            pre.append(v)
    return times, resets, pre


def lif_voltage(cell: LIFConfig, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voltage and spikes of the LIF cell in float64, without building results.

    Args:
        cell: the cell config.
        inputs: (B, C, T) or (C, T) event weights, C = num_exc + num_inh, values >= 0.

    Returns:
        ``v`` (B, T) float64 in mV (B = 1 for (C, T) inputs), holding the pre-reset
        (threshold-crossing) voltage at spike bins, and ``spikes`` (B, T) bool.
    """
    if not isinstance(cell, LIFConfig):
        raise TypeError(f"the LIF simulator needs a LIFConfig, got {type(cell).__name__}")
    x = _check_inputs(cell, inputs)  # (B, C, T)
    num_t = x.shape[-1]
    v = _free_voltage(cell, x)  # (B, T), becomes the voltage in place
    spikes = np.zeros(v.shape, dtype=bool)  # (B, T)
    decay_arr = np.exp(-np.arange(num_t, dtype=np.float64) / cell.tau_reset_ms)  # (T,)
    decay = decay_arr.tolist()
    bins = np.arange(num_t)
    for b in range(v.shape[0]):
        times, resets, pre = _walk_spikes(cell, v[b], decay)
        if not times:
            continue
        t_spk = np.asarray(times, dtype=np.int64)
        r_spk = np.asarray(resets, dtype=np.float64)
        last = np.searchsorted(t_spk, bins, side="right") - 1  # (T,) index of last spike <= t
        after = last >= 0
        idx = last[after]
        # Same float64 operations as in _walk_spikes, so the trace matches its decisions.
        v[b, after] += r_spk[idx] * decay_arr[bins[after] - t_spk[idx]]
        v[b, t_spk] = np.asarray(pre, dtype=np.float64)
        spikes[b, t_spk] = True
    return v, spikes


def simulate_lif(cell: LIFConfig, inputs: np.ndarray) -> list[SimulationResult]:
    """Simulate the LIF cell on (B, C, T) or (C, T) inputs, C = num_exc + num_inh.

    Returns one :class:`SimulationResult` per simulation (a list of length 1 for (C, T)):
    ``soma_v`` (T,) float32 in mV with the pre-reset voltage at spike bins, ``dend_v`` (0, T),
    ``spike_times_ms`` the spike bins as floats, ``spikes`` (T,) bool. Each simulation is
    computed independently, so batched and one-by-one results are identical.
    """
    v, spikes = lif_voltage(cell, inputs)  # (B, T), (B, T)
    num_t = v.shape[-1]
    return [
        SimulationResult(
            soma_v=v_b.astype(np.float32),
            dend_v=np.zeros((0, num_t), dtype=np.float32),
            spike_times_ms=np.flatnonzero(s_b).astype(np.float64),
            spikes=s_b.copy(),
        )
        for v_b, s_b in zip(v, spikes, strict=True)
    ]
