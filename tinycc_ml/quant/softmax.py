"""TFLite Micro's int8 softmax (reference_ops::Softmax, int8 in and out), bit for bit.

The input difference to the row maximum is rescaled into Q5.26
(kScaledDiffIntegerBits = 5), exponentiated with gemmlowp's exp_on_negative_values
(Q0.31 result), summed in Q12.19 (kAccumulationIntegerBits = 12), inverted with
gemmlowp's Newton-Raphson one_over_one_plus_x_for_x_in_0_1 (GetReciprocal), and
every exp is multiplied by that reciprocal and shifted down to 8 bits; the output is
(scale 1/256, zero point -128). The constants (input multiplier, left shift, diff_min)
come from params.softmax_params, TFLite's Prepare step.

All values are int32 quantities held in int64 NumPy arrays; the gemmlowp names are
kept so each line can be checked against fixedpoint.h. A FixedPoint<int32, n> value is
its raw int32; multiplying two of them is SaturatingRoundingDoublingHighMul and their
integer bits add up.
"""

from __future__ import annotations

import numpy as np

from .fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul as _fx_mul,
)
from .params import SCALED_DIFF_INTEGER_BITS, SoftmaxParams

ACCUMULATION_INTEGER_BITS = 12
_FRACTIONAL_BITS = 31 - SCALED_DIFF_INTEGER_BITS  # of the Q5.26 exp() input

# gemmlowp's exp_on_negative_values barrel shifter: (exponent, raw Q0.31 exp(-2^exponent)).
_EXP_BARREL = (
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
)
_EXP_MINUS_ONE_EIGHTH = 1895147668  # exp(-1/8) in Q0.31
_ONE_THIRD = 715827883  # 1/3 in Q0.31
_48_OVER_17 = 1515870810  # in Q2.29
_NEG_32_OVER_17 = -1010580540  # in Q2.29
_ONE_Q2_29 = 1 << 29


def _wrap32(x: np.ndarray) -> np.ndarray:
    """gemmlowp's plain int32 Add wraps on overflow (in practice); reproduce that."""
    return ((x - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def _saturating_rounding_multiply_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp::SaturatingRoundingMultiplyByPOT<exponent>: rounding right shift for a
    negative exponent, saturating left shift for a positive one."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    shifted = x * (1 << exponent)
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def _rounding_half_sum(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp::RoundingHalfSum for int32: (a + b + sign) / 2 with C truncation."""
    total = a + b
    total = total + np.where(total >= 0, 1, -1)
    half = np.abs(total) // 2
    return np.where(total < 0, -half, half)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8."""
    x = a + (1 << 28)
    x2 = _fx_mul(x, x)
    x3 = _fx_mul(x2, x)
    x4 = _fx_mul(x2, x2)
    x4_over_4 = _saturating_rounding_multiply_by_pot(x4, -2)
    poly = _saturating_rounding_multiply_by_pot(_fx_mul(x4_over_4 + x3, _ONE_THIRD) + x2, -1)
    return _wrap32(_EXP_MINUS_ONE_EIGHTH + _fx_mul(_EXP_MINUS_ONE_EIGHTH, x + poly))


def exp_on_negative_values(a: np.ndarray) -> np.ndarray:
    """gemmlowp::exp_on_negative_values for a Q5.26 input a <= 0; Q0.31 result."""
    a = np.asarray(a, dtype=np.int64)
    one_quarter = 1 << (_FRACTIONAL_BITS - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, SCALED_DIFF_INTEGER_BITS)
    )
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in _EXP_BARREL:
        if SCALED_DIFF_INTEGER_BITS > exponent:
            bit = 1 << (_FRACTIONAL_BITS + exponent)
            result = np.where((remainder & bit) != 0, _fx_mul(result, multiplier), result)
    # kIntegerBits == 5: gemmlowp's clamp below -32 only exists for more integer bits.
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp::one_over_one_plus_x_for_x_in_0_1: Q0.31 in, Q0.31 out, Newton-Raphson."""
    half_denominator = _rounding_half_sum(np.asarray(a, dtype=np.int64), INT32_MAX)
    x = _wrap32(_48_OVER_17 + _fx_mul(half_denominator, _NEG_32_OVER_17))
    for _ in range(3):
        half_denominator_times_x = _fx_mul(half_denominator, x)
        one_minus_half_denominator_times_x = _wrap32(_ONE_Q2_29 - half_denominator_times_x)
        x = _wrap32(x + _saturating_rounding_multiply_by_pot(_fx_mul(x, one_minus_half_denominator_times_x), 2))
    # ExactMulByPot<-1> reinterprets Q2.29 as Q1.30; Rescale<0> shifts left by one.
    return _saturating_rounding_multiply_by_pot(x, 1)


def _bit_length(x: np.ndarray) -> np.ndarray:
    # frexp's exponent is the bit length of a positive integer below 2^53.
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


def get_reciprocal(x: np.ndarray, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal for x > 0: (Q0.31 reciprocal of the normalised x, num_bits_over_unit)."""
    headroom_plus_one = 32 - _bit_length(x)  # CountLeadingZeros(uint32(x))
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = ((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def softmax_int8(x: np.ndarray, params: SoftmaxParams) -> np.ndarray:
    """Softmax over the last axis of an int8 array; int8 result with scale 1/256, zp -128."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"softmax_int8 expects int8 input, got {x.dtype}")
    depth = x.shape[-1]
    rows = x.reshape(-1, depth).astype(np.int64)
    input_diff = rows - rows.max(axis=1, keepdims=True)
    in_range = input_diff >= params.diff_min
    # Out-of-range differences are never rescaled in TFLite (their shift could overflow).
    safe_diff = np.where(in_range, input_diff, 0)
    # MultiplyByQuantizedMultiplierGreaterThanOne: the result is a Q5.26 raw value.
    scaled_diff = _fx_mul(safe_diff * (1 << params.input_left_shift), params.input_multiplier)
    exp_in_0 = exp_on_negative_values(scaled_diff)

    exp_accum = _saturating_rounding_multiply_by_pot(exp_in_0, -ACCUMULATION_INTEGER_BITS)
    sum_of_exps = _wrap32(np.where(in_range, exp_accum, 0).sum(axis=1, keepdims=True))
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    if np.any((exponent < 0) | (exponent > 31)):
        raise ValueError("softmax reciprocal exponent out of [0, 31] (TFLITE_CHECK fails here too)")

    unsat_output = rounding_divide_by_pot(_fx_mul(shifted_scale, exp_in_0), exponent)
    shifted_output = np.clip(unsat_output - 128, -128, 127)
    out = np.where(in_range, shifted_output, -128)
    return out.astype(np.int8).reshape(x.shape)
