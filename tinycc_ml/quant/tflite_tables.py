"""TFLite Micro's int8 elementwise kernels as 256-entry tables (indexed by q + 128).

A TFLite-born model must give TFLite Micro's bytes, and TFLite Micro computes these ops
with integer arithmetic of its own (gemmlowp fixed point, int16 steps), not with the float
formula quant/lut.py tabulates for ONNX. An int8 input has only 256 values, so running the
kernel's arithmetic on all of them at compile time gives a table that the existing Lut op
(interpreter and C) applies bit for bit; no new kernel is needed. Each function names the
TFLite Micro Prepare/Eval pair it reproduces, and keeps its float/double steps in the same
precision (a float32 product rounded where TFLite rounds it changes multipliers).
"""

from __future__ import annotations

import math

import numpy as np

from ..ir.graph import QuantParams
from .fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    ScaleRangeError,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    round_half_away_from_zero,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul as fx_mul,
)
from .softmax import one_over_one_plus_x_for_x_in_0_1

Table = tuple[int, ...]
ALL_INT8 = np.arange(-128, 128, dtype=np.int64)
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def _table(values: np.ndarray) -> Table:
    return tuple(int(v) for v in np.clip(values, -128, 127))


def _f32(x: float) -> np.float32:
    return np.float32(x)


def identity_table() -> Table:
    """The bytes unchanged: an op TFLite runs as a byte copy whose output tensor declares other
    quantization parameters than its input (TFLite Micro ignores them, so does this table)."""
    return _table(ALL_INT8)


def bitwise_not_table() -> Table:
    """~q = -q - 1. With zero point -zp - 1 the real value is negated exactly (q' - zp' = -(q - zp)),
    inside int8 for every q and zp: SUB(a, b) is ADD(a, ~b) bit for bit (TFLite's sub negates the
    rescaled second input, which is what Add computes on ~b)."""
    return _table(-ALL_INT8 - 1)


def negated_quant(q: QuantParams) -> QuantParams:
    """The quantization under which bitwise_not_table's output holds -x."""
    return QuantParams.per_tensor(q.s, -q.zp - 1)


# --- RELU, RELU6, LEAKY_RELU (activations_common.cc, leaky_relu_common.cc) ---------------


def relu_table(in_q: QuantParams, out_q: QuantParams, high: float | None = None) -> Table:
    """RELU / RELU_N1_TO_1 style: MultiplyByQuantizedMultiplier(q - zp_in, s_in / s_out) + zp_out, clamped
    to [max(-128, zp_out + roundf(0 / s_out)), min(127, zp_out + roundf(high / s_out))]."""
    multiplier, shift = quantize_multiplier(float(in_q.s) / float(out_q.s))
    low_q = max(-128, out_q.zp)
    high_q = 127 if high is None else min(127, out_q.zp + round_half_away_from_zero(float(_f32(high) / _f32(out_q.s))))
    scaled = multiply_by_quantized_multiplier(ALL_INT8 - in_q.zp, multiplier, shift) + out_q.zp
    return _table(np.minimum(np.maximum(scaled, low_q), high_q))


def relu6_table(in_q: QuantParams) -> Table:
    """RELU6 (Relu6Prepare/Relu6Quantized): a clamp in the *input* quantization to
    [zp_in, zp_in + round(6 / s_in)] (saturated to int8); the output tensor's parameters are not used."""
    upper = min(127, in_q.zp + round_half_away_from_zero(float(_f32(6.0) / _f32(in_q.s))))
    lower = in_q.zp
    q = ALL_INT8
    return _table(np.where(q > upper, upper, np.where(q < lower, lower, q)))


def leaky_relu_table(in_q: QuantParams, out_q: QuantParams, alpha: float) -> Table:
    """QuantizeLeakyRelu: identity or alpha multiplier (each float32 s_in * alpha / s_out) by the sign."""
    alpha_real = float(_f32(_f32(in_q.s) * _f32(alpha)) / _f32(out_q.s))
    identity_real = float(_f32(in_q.s) / _f32(out_q.s))
    if alpha_real < 0:
        raise ScaleRangeError(f"LEAKY_RELU alpha {alpha!r} is negative; tinyc supports alpha >= 0")
    m_alpha, s_alpha = quantize_multiplier(alpha_real)
    m_id, s_id = quantize_multiplier(identity_real)
    x = ALL_INT8 - in_q.zp
    out = np.where(x >= 0, multiply_by_quantized_multiplier(x, m_id, s_id),
                   multiply_by_quantized_multiplier(x, m_alpha, s_alpha)) + out_q.zp
    return _table(out)


# --- LOGISTIC, TANH (gemmlowp fixed point; logistic_common.cc, tanh_common.cc) -----------

INPUT_INTEGER_BITS = 4


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def _sat_mul_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp::SaturatingRoundingMultiplyByPOT."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x * (1 << exponent)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    x = a + (1 << 28)
    x2 = fx_mul(x, x)
    x3 = fx_mul(x2, x)
    x4 = fx_mul(x2, x2)
    x4_over_4 = _sat_mul_pot(x4, -2)
    poly = _sat_mul_pot(fx_mul(x4_over_4 + x3, 715827883) + x2, -1)
    return _wrap32(1895147668 + fx_mul(1895147668, x + poly))


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp::exp_on_negative_values for a FixedPoint<int32, integer_bits> a <= 0 (Q0.31 result)."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(_sat_mul_pot(a_mod, integer_bits))
    remainder = a_mod - a
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, fx_mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (fractional_bits + 5))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    total = a + INT32_MAX
    total = total + np.where(total >= 0, 1, -1)
    half_denominator = np.where(total < 0, -(np.abs(total) // 2), np.abs(total) // 2)
    x = _wrap32(1515870810 + fx_mul(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = _wrap32((1 << 29) - fx_mul(half_denominator, x))
        x = _wrap32(x + _sat_mul_pot(fx_mul(x, one_minus), 2))
    return _sat_mul_pot(_wrap32(x - (1 << 29)), 2)  # Rescale<0> of an F2 value


def _logistic_fx(a: np.ndarray) -> np.ndarray:
    """gemmlowp::logistic on FixedPoint<int32, 4>; Q0.31 result."""
    abs_a = np.where(a > 0, a, -a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_a, INPUT_INTEGER_BITS))
    negative = _wrap32(INT32_MAX - positive)
    return np.where(a == 0, 1 << 30, np.where(a > 0, positive, negative))


def _tanh_fx(a: np.ndarray) -> np.ndarray:
    """gemmlowp::tanh on FixedPoint<int32, 4> (exp of 2a read as FixedPoint<int32, 5>); Q0.31 result."""
    n = np.where(a < 0, a, -a)
    t = _one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, INPUT_INTEGER_BITS + 1))
    return np.where(a == 0, 0, np.where(a < 0, -t, t))


def _input_rescale(in_q: QuantParams) -> tuple[int, int, int]:
    """(multiplier, left shift, range radius) of TFLite Micro's logistic/tanh Prepare for int8."""
    real = float(in_q.s) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    multiplier = round_half_away_from_zero(q * (1 << 31))
    if multiplier == 1 << 31:  # static_cast<int32_t> of 2^31 wraps
        multiplier = INT32_MIN
    max_input_rescaled = (1.0 * ((1 << INPUT_INTEGER_BITS) - 1) * (1 << (31 - INPUT_INTEGER_BITS))
                          / (1 << left_shift) if left_shift >= 0 else
                          1.0 * ((1 << INPUT_INTEGER_BITS) - 1) * (1 << (31 - INPUT_INTEGER_BITS)) * (1 << -left_shift))
    return multiplier, left_shift, int(math.floor(max_input_rescaled))


def _gemmlowp_unary(in_q: QuantParams, fn, output_bits: int, output_offset: int) -> Table:
    multiplier, left_shift, radius = _input_rescale(in_q)
    x = ALL_INT8 - in_q.zp
    in_q4 = multiply_by_quantized_multiplier(x, multiplier, left_shift)
    out = rounding_divide_by_pot(fn(in_q4), 31 - output_bits) + output_offset
    out = np.clip(out, -128, 127)
    return _table(np.where(x <= -radius, -128, np.where(x >= radius, 127, out)))


def logistic_table(in_q: QuantParams) -> Table:
    """reference_integer_ops::Logistic: output scale 1/256, zero point -128."""
    return _gemmlowp_unary(in_q, _logistic_fx, 8, -128)


def tanh_table(in_q: QuantParams) -> Table:
    """reference_integer_ops::Tanh: output scale 1/128, zero point 0."""
    return _gemmlowp_unary(in_q, _tanh_fx, 7, 0)


# --- HARD_SWISH (hard_swish_common.cc, reference_ops::HardSwish), int16 arithmetic ---------


def _downscale_to_int16(multiplier: int) -> int:
    if multiplier >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp::SaturatingRoundingDoublingHighMul on int16."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    total = ab + nudge
    high = np.where(total < 0, -(np.abs(total) >> 15), total >> 15)
    return np.where((a == b) & (a == INT16_MIN), INT16_MAX, high)


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLite's SaturatingDoublingHighMul on int16 (rounds toward zero)."""
    ab = a * b
    high = np.where(ab < 0, -(np.abs(ab) >> 15), ab >> 15)
    return np.where((a == b) & (a == INT16_MIN), INT16_MAX, high)


def _sat_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), INT16_MIN, INT16_MAX)


def hard_swish_table(in_q: QuantParams, out_q: QuantParams) -> Table:
    hires_input_scale = _f32(_f32(1.0 / 128.0) * _f32(in_q.s))
    reluish_scale = _f32(_f32(3.0) / _f32(32768.0))
    out_m32, out_exp = quantize_multiplier(float(_f32(hires_input_scale / _f32(out_q.s))))
    if out_exp > 0:
        raise ScaleRangeError(f"HARD_SWISH output scale {out_q.s!r} is below input scale / 128 (TFLite requires the "
                              "output multiplier exponent <= 0)")
    out_m16 = _downscale_to_int16(out_m32)
    rel_m32, rel_exp = quantize_multiplier(float(_f32(hires_input_scale / reluish_scale)))
    rel_m16 = _downscale_to_int16(rel_m32)

    x = ALL_INT8 - in_q.zp
    hires = x * 128
    preshift_out = _srdhm16(hires, out_m16)
    reluish = hires
    if rel_exp > 0:
        reluish = _sat_left_shift16(reluish, rel_exp - 1)
    reluish = _srdhm16(reluish, rel_m16)
    if rel_exp > 0:
        reluish = _sat_left_shift16(reluish, 1)
    if rel_exp < 0:
        reluish = rounding_divide_by_pot(reluish, -rel_exp)
    reluish = (reluish + (1 << 15)) >> 1
    out = rounding_divide_by_pot(_sdhm16(reluish, preshift_out), -out_exp) + out_q.zp
    return _table(out)
