"""Fixed-point primitives of TFLite's int8 scheme (gemmlowp / TFLite Micro reference kernels).

This module and runtime_c/include/tinyc/requant.h are twins: every function here has a
C function of the same name (prefixed tinyc_) that computes the same bits. All functions
take and return int64 NumPy arrays (or Python ints) holding int32 values, so nothing
wraps silently in NumPy; C does the same arithmetic in int32/int64.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

ArrayLike = np.ndarray | int


class ScaleRangeError(ValueError):
    """The model's scales ask for a multiplier that int32 fixed point cannot hold (a scale
    ratio of 2^30 or more, a NaN): a fact about the model, which callers report naming the node."""

    advice = ("the scales it combines are too far apart (a ratio of 2^30 or more) for int8 arithmetic; check the "
              "model's scales or re-quantize it (onnxruntime.quantization.quantize_static)")


def _i64(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _truncating_div_pow2(x: np.ndarray, bits: int) -> np.ndarray:
    """C's `x / (1 << bits)` for int64 x: rounds toward zero, unlike NumPy's //."""
    q = np.abs(x) >> bits
    return np.where(x < 0, -q, q)


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp::SaturatingRoundingDoublingHighMul on int32 values."""
    a, b = _i64(a), _i64(b)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _truncating_div_pow2(ab + nudge, 31)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """gemmlowp::RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x, exponent = _i64(x), _i64(exponent)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding, as in TFLite Micro's reference)."""
    x, multiplier, shift = _i64(x), _i64(multiplier), _i64(shift)
    left_shift = np.maximum(shift, 0)
    right_shift = np.maximum(-shift, 0)
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x * (np.int64(1) << left_shift), multiplier), right_shift
    )


def multiply_by_quantized_multiplier_greater_than_one(x: ArrayLike, multiplier: int, left_shift: int) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(_i64(x) * (1 << left_shift), multiplier)


def round_half_away_from_zero(value: float) -> int:
    """std::round / TfLiteRound for doubles."""
    magnitude = abs(value)
    whole = math.floor(magnitude)
    # magnitude - whole is exact; magnitude + 0.5 is not (0.49999999999999994 + 0.5 == 1.0).
    rounded = whole + 1 if magnitude - whole >= 0.5 else whole
    return -rounded if value < 0 else rounded


def quantize_multiplier(real_multiplier: float, max_shift: int = 30) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).

    max_shift: requantization multipliers must keep shift <= 30; softmax's input multiplier
    (a multiplier > 1 that TFLite caps at 2^31 - 1) may reach 31."""
    if real_multiplier == 0.0:
        return 0, 0
    if not math.isfinite(real_multiplier) or real_multiplier < 0:
        raise ScaleRangeError(f"cannot quantize multiplier {real_multiplier!r}")
    q, shift = math.frexp(real_multiplier)
    q_fixed = round_half_away_from_zero(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > max_shift:
        raise ScaleRangeError(
            f"multiplier {real_multiplier!r} is too large for int8 requantization (shift {shift} > {max_shift})"
        )
    return int(q_fixed), int(shift)


def quantize_multiplier_greater_than_one(real_multiplier: float) -> tuple[int, int]:
    multiplier, shift = quantize_multiplier(real_multiplier)
    if shift < 0:
        raise ValueError(f"multiplier {real_multiplier!r} is below one")
    return multiplier, shift


def saturate_int8(x: ArrayLike) -> np.ndarray:
    return np.clip(_i64(x), -128, 127).astype(np.int8)
