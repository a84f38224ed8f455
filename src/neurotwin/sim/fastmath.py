"""``exp``, ``log`` and ``power`` for numba kernels, written in plain arithmetic so that LLVM can
vectorise the loops that call them (numba's LLVM has no vector math library here: a call to the C
library's ``exp`` keeps a loop scalar).

Accuracy (measured in ``tests/test_fastmath.py`` against the C library): ``exp`` within 1 ulp on
[-708, 709] (clamped outside: the result is never inf or 0), ``log`` within 2 ulp for positive
normal numbers, ``power(x, y) = exp(y·log(x))`` within a relative 1e-14 for the kinetics' range.
All three use only +, −, ×, ÷, floor and bit casts, which give the same result in a vector lane
as in scalar code, so a cell's trace does not depend on how many cells share its vector.
"""

from __future__ import annotations

import math

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["exp", "log", "power"]

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k·_LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_MANTISSA = (1 << 52) - 1
_EXP_ONE = 1023 << 52


@intrinsic
def _i64_as_f64(typingctx, x):  # noqa: ANN001, ANN202, ARG001
    """Reinterpret the bits of an int64 as a float64 (a free register move)."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _f64_as_i64(typingctx, x):  # noqa: ANN001, ANN202, ARG001
    """Reinterpret the bits of a float64 as an int64."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


_jit = numba.njit(inline="always", error_model="numpy", cache=True)


@_jit
def exp(x: float) -> float:
    """e**x: x = k·ln 2 + r with |r| <= ln 2 / 2, e**r by its Taylor series to r**13 (truncation
    below 1e-17 relative), times 2**k built in the exponent bits."""
    x = -708.0 if x < -708.0 else (709.0 if x > 709.0 else x)
    kf = math.floor(x * _LOG2E + 0.5)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _i64_as_f64((numba.int64(kf) + 1023) << 52)


@_jit
def log(x: float) -> float:
    """ln x for positive normal x: x = m·2**e with m in [√2/2, √2), ln m = 2·atanh(s) with
    s = (m − 1)/(m + 1), |s| <= 0.1716, by its series to s**23."""
    bits = _f64_as_i64(x)
    e = (bits >> 52) - 1023
    m = _i64_as_f64((bits & _MANTISSA) | _EXP_ONE)  # in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    ef = float(e + 1) if big else float(e)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    q = 2.0 / 23.0
    q = q * s2 + 2.0 / 21.0
    q = q * s2 + 2.0 / 19.0
    q = q * s2 + 2.0 / 17.0
    q = q * s2 + 2.0 / 15.0
    q = q * s2 + 2.0 / 13.0
    q = q * s2 + 2.0 / 11.0
    q = q * s2 + 2.0 / 9.0
    q = q * s2 + 2.0 / 7.0
    q = q * s2 + 2.0 / 5.0
    q = q * s2 + 2.0 / 3.0
    return ef * _LN2_HI + (ef * _LN2_LO + (2.0 * s + s * s2 * q))


@_jit
def power(x: float, y: float) -> float:
    """x**y for positive x."""
    return exp(y * log(x))
