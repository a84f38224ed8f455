"""The ELM's inference loop compiled with numba, with the batch in the CPU's vector lanes.

The memory recurrence of an ELM is a handful of small matrix–vector products per millisecond.
PyTorch runs each of them as a separate kernel launch per step (TorchScript removes the
interpreter, not the launches), so at 1 ms per step a CPU spends its time in dispatch. Here the
whole loop is one compiled function. Every sequence of the batch follows the same arithmetic with
the same weights, so the kernel lays ``lanes`` sequences side by side: each state is stored as
``(units, lanes)`` and every operation is a loop over the lanes, which LLVM turns into vector
instructions (8 float32 per AVX2 instruction). Blocks of ``lanes`` sequences are spread over the
cores (``prange``).

Per step and block (κ and λ as in ``neurotwin.models.elm``):

    s   = κ_s ⊙ s + x_t                              (C, L)  synaptic traces
    h   = relu(b_in + W_s s + W_m m)                 (H, L)  W_m has κ_m folded in
    m   = κ_m ⊙ m + λ(1-κ_m) ⊙ tanh(b_o + W_o h)     (M, L)
    y_t = b_y + W_y m                                (O, L)  every head at once

``tanh`` is a rational approximation (odd degree-13 numerator, even degree-6 denominator, on
|x| ≤ 7.905; maximum error 2.5e-7, measured in ``tests/test_elm_kernel.py``) written in plain
arithmetic so that it vectorises; numba's LLVM has no vector maths library here. The result
equals the PyTorch path to float32 rounding (tested), so it is what ``ELM.forward`` runs on a
CPU when no gradient is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np

__all__ = ["LANES", "elm_scan", "numba_threads", "tanh32"]

LANES = 32  # sequences per block: 4 AVX2 vectors of float32 per state row
_CHUNK = 64  # time steps whose inputs and outputs are staged in a block-local buffer

_f32 = np.float32
# tanh(x) ≈ x·P(x²)/Q(x²) for |x| ≤ 7.905 (beyond it tanh rounds to ±1 in float32).
_P1, _P3, _P5, _P7 = (
    _f32(4.89352455891786e-03),
    _f32(6.37261928875436e-04),
    _f32(1.48572235717979e-05),
    _f32(5.12229709037114e-08),
)
_P9, _P11, _P13 = (
    _f32(-8.60467152213735e-11),
    _f32(2.00018790482477e-13),
    _f32(-2.76076847742355e-16),
)
_Q0, _Q2, _Q4, _Q6 = (
    _f32(4.89352518554385e-03),
    _f32(2.26843463243900e-03),
    _f32(1.18534705686654e-04),
    _f32(1.19825839466702e-06),
)
_CLAMP = _f32(7.90531110763549805)
_HALF = _f32(0.5)

# error_model="numpy": no ZeroDivisionError branch on ÷, which would keep the loops scalar.
_opts = {"fastmath": True, "error_model": "numpy", "cache": True}


@numba.njit(inline="always", **_opts)
def tanh32(x: float) -> float:
    """float32 tanh without branches (the clamp is ½(|x + c| − |x − c|)), so loops vectorise."""
    x = _HALF * (abs(x + _CLAMP) - abs(x - _CLAMP))
    x2 = x * x
    p = x2 * _P13 + _P11
    p = p * x2 + _P9
    p = p * x2 + _P7
    p = p * x2 + _P5
    p = p * x2 + _P3
    p = p * x2 + _P1
    q = x2 * _Q6 + _Q4
    q = q * x2 + _Q2
    q = q * x2 + _Q0
    return x * p / q


@numba.njit(inline="always", **_opts)
def _accumulate(dst: np.ndarray, w: np.ndarray, src: np.ndarray, lanes: int) -> None:
    """dst[l] += Σ_k w[k]·src[k, l], four rows of ``src`` per pass over ``dst`` (one load and
    one store of ``dst`` per four multiply-adds instead of per one)."""
    n = w.shape[0]
    k = 0
    while k + 4 <= n:
        w0, w1, w2, w3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        r0, r1, r2, r3 = src[k], src[k + 1], src[k + 2], src[k + 3]
        for lane in range(lanes):
            dst[lane] += (w0 * r0[lane] + w1 * r1[lane]) + (w2 * r2[lane] + w3 * r3[lane])
        k += 4
    while k < n:
        wk, rk = w[k], src[k]
        for lane in range(lanes):
            dst[lane] += wk * rk[lane]
        k += 1


@numba.njit(inline="always", **_opts)
def _matmul(dst: np.ndarray, w: np.ndarray, bias: np.ndarray, src: np.ndarray) -> None:
    """dst = bias + w @ src for (rows, cols) = (R, K) @ (K, cols): long column loops."""
    cols = src.shape[1]
    for r in range(w.shape[0]):
        row = dst[r]
        for col in range(cols):
            row[col] = bias[r]
        _accumulate(row, w[r], src, cols)


@numba.njit(parallel=True, **_opts)
def _scan_blocks(
    x: np.ndarray,  # (B, C, T) scaled inputs
    kappa_s: np.ndarray,  # (C,)
    kappa_m: np.ndarray,  # (M,)
    gain: np.ndarray,  # (M,) λ(1-κ_m)
    w_s: np.ndarray,  # (H, C)
    w_m: np.ndarray,  # (H, M), κ_m folded in
    b_in: np.ndarray,  # (H,)
    w_o: np.ndarray,  # (M, H)
    b_o: np.ndarray,  # (M,)
    w_y: np.ndarray,  # (O, M)
    b_y: np.ndarray,  # (O,)
    out: np.ndarray,  # (B, O, T)
    lanes: int,  # a runtime value: a compile-time trip count gets unrolled and stays scalar
) -> None:
    n_batch, n_in, n_t = x.shape
    n_hidden, n_mem, n_out = w_s.shape[0], w_m.shape[1], w_y.shape[0]
    span = _CHUNK * lanes  # one chunk of a block, (time, lane) flattened
    for block in numba.prange((n_batch + lanes - 1) // lanes):
        b0 = block * lanes
        used = min(lanes, n_batch - b0)
        s = np.zeros((n_in, lanes), np.float32)
        m = np.zeros((n_mem, lanes), np.float32)
        h = np.empty((n_hidden, lanes), np.float32)
        acc = np.empty(lanes, np.float32)  # one memory unit's MLP output
        xs = np.zeros((n_in, span), np.float32)  # inputs, then traces; lanes ≥ used stay 0
        pre = np.empty((n_hidden, span), np.float32)  # b_in + W_s·traces for the chunk
        ms = np.empty((n_mem, span), np.float32)  # memory for the chunk
        ys = np.empty((n_out, span), np.float32)  # heads for the chunk
        for t0 in range(0, n_t, _CHUNK):
            steps = min(_CHUNK, n_t - t0)
            for c in range(n_in):  # (B, C, T) → (C, T·L)
                row = xs[c]
                for lane in range(used):
                    for k in range(steps):
                        row[k * lanes + lane] = x[b0 + lane, c, t0 + k]
            for c in range(n_in):  # leaky traces, in place
                kc, row, sc = kappa_s[c], xs[c], s[c]
                for k in range(steps):
                    for lane in range(lanes):
                        sc[lane] = kc * sc[lane] + row[k * lanes + lane]
                        row[k * lanes + lane] = sc[lane]
            _matmul(pre, w_s, b_in, xs)  # the input half of the MLP, all steps at once
            for k in range(steps):  # the recurrence: only the memory half per step
                base = k * lanes
                for i in range(n_hidden):
                    hi, pi = h[i], pre[i]
                    for lane in range(lanes):
                        hi[lane] = pi[base + lane]
                    _accumulate(hi, w_m[i], m, lanes)
                    for lane in range(lanes):  # relu as ½(v + |v|): no branch
                        v = hi[lane]
                        hi[lane] = _HALF * (v + abs(v))
                for j in range(n_mem):
                    kj, gj, mj, hist = kappa_m[j], gain[j], m[j], ms[j]
                    for lane in range(lanes):
                        acc[lane] = b_o[j]
                    _accumulate(acc, w_o[j], h, lanes)
                    for lane in range(lanes):
                        mj[lane] = kj * mj[lane] + gj * tanh32(acc[lane])
                        hist[base + lane] = mj[lane]
            _matmul(ys, w_y, b_y, ms)  # every head, all steps at once
            for o in range(n_out):  # (O, T·L) → (B, O, T)
                row = ys[o]
                for lane in range(used):
                    for k in range(steps):
                        out[b0 + lane, o, t0 + k] = row[k * lanes + lane]


@contextmanager
def numba_threads(threads: int | None) -> Iterator[None]:
    """Run numba's parallel loops on at most ``threads`` cores (None: numba's setting), and
    put the previous setting back afterwards (the batched simulator shares it)."""
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def elm_scan(
    x: np.ndarray,
    kappa_s: np.ndarray,
    kappa_m: np.ndarray,
    gain: np.ndarray,
    w_s: np.ndarray,
    w_m: np.ndarray,
    b_in: np.ndarray,
    w_o: np.ndarray,
    b_o: np.ndarray,
    w_y: np.ndarray,
    b_y: np.ndarray,
    threads: int | None = None,
) -> np.ndarray:
    """Run the ELM on scaled inputs ``x`` (B, C, T) from zero state; return every head's
    output stacked, (B, O, T) float32 (O = rows of ``w_y``). Arrays are float32; ``threads``
    caps the cores used (default: numba's)."""
    arrays = [kappa_s, kappa_m, gain, w_s, w_m, b_in, w_o, b_o, w_y, b_y]
    arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty((x.shape[0], arrays[8].shape[0], x.shape[2]), np.float32)
    lanes = min(LANES, max(1, x.shape[0]))
    with numba_threads(threads):
        _scan_blocks(x, *arrays, out, lanes)
    return out
