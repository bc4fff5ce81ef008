"""Per-op constants derived from quantization parameters (TFLite Micro's Prepare step).

The interpreter and the code generator both call these, so the constants in the C
code are the ones the interpreter used. Scales are Python floats holding float32
values (as TFLite stores them); each function states TFLite's exact double/float
arithmetic because a different order can change the last bit of a multiplier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.graph import QuantParams
from ..ir.ops import ONNX, TFLITE
from .fixedpoint import ScaleRangeError, quantize_multiplier, round_half_away_from_zero

ADD_LEFT_SHIFT = 20  # TFLite's int8 Add works on inputs shifted left by 20 bits


@dataclass(frozen=True)
class ChannelRequant:
    """Output requantization of an accumulator, one (multiplier, shift) per output channel
    (a single entry when the weights are per-tensor)."""

    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]


def _f32(x: float) -> float:
    return float(np.float32(x))


def single_rounding_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) for which MultiplyByQuantizedMultiplier rounds x * real only once
    (ONNX semantics: the exact product, then one rounding).

    TFLite's constants for real < 1 have a negative shift: SaturatingRoundingDoublingHighMul
    rounds x * m / 2^31 first and RoundingDivideByPOT rounds again, which moves about
    2^(shift - 1) of the values next to a rounding boundary across it. With shift 0 the
    right shift is gone and the single rounding of x * m / 2^31 is the only one; m =
    round(real * 2^31) is exact to 2^-32 absolute, so |x * m / 2^31 - x * real| <= |x| * 2^-32,
    below 2^-16 LSB for every accumulator whose result fits int8 at a multiplier >= 2^-9
    (and below 2^-12 LSB down to 2^-13). A multiplier >= 1 keeps TFLite's form: its left
    shift is exact, so it already rounds once. The shared requantize tail (requant.h)
    computes these constants' result unchanged: no kernel knows which semantics it runs."""
    multiplier, shift = quantize_multiplier(real)
    if shift >= 0:
        return multiplier, shift
    scaled = round_half_away_from_zero(math.ldexp(real, 31))  # exact: a power-of-two scaling
    return (scaled, 0) if scaled < (1 << 31) else (1 << 30, 1)


def _multiplier(real: float, semantics: str) -> tuple[int, int]:
    if semantics == ONNX:
        return single_rounding_multiplier(real)
    return quantize_multiplier(real)


def conv_requant(input_q: QuantParams, weight_q: QuantParams, output_q: QuantParams,
                 semantics: str = TFLITE) -> ChannelRequant:
    """Conv2d (TFLite PopulateConvolutionQuantizationParams): double(s_in) * double(s_w[c]) / double(s_out),
    as TFLite's (multiplier, shift) or, for ONNX semantics, single_rounding_multiplier's."""
    pairs = [_multiplier(input_q.s * s_w / output_q.s, semantics) for s_w in weight_q.scale]
    return ChannelRequant(tuple(m for m, _ in pairs), tuple(s for _, s in pairs))


def conv_node_requant(fixed: tuple[int, int] | None, input_q: QuantParams, weight_q: QuantParams,
                      output_q: QuantParams, semantics: str = TFLITE) -> ChannelRequant:
    """A Conv2d's requantization: its fixed (multiplier, shift) if it carries one (TFLite's MEAN,
    whatever the semantics), else conv_requant."""
    if fixed is not None:
        return ChannelRequant((fixed[0],), (fixed[1],))
    return conv_requant(input_q, weight_q, output_q, semantics)


def mean_requant(input_q: QuantParams, output_q: QuantParams, count: int) -> tuple[int, int]:
    """TFLite Micro's int8 MEAN (reference_ops::QuantizedMeanOrSum): with (m, s) =
    QuantizeMultiplier(double(s_in) / double(s_out)) and k = min(floor(log2 count), 32, 31 + s),
    the mean of `count` centred values is MultiplyByQuantizedMultiplier(sum, (m << k) / count, s - k)
    (integer division; the multiplier may fall below 2^30, unnormalised, as TFLite Micro keeps it)."""
    multiplier, shift = quantize_multiplier(float(input_q.s) / float(output_q.s))
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def fully_connected_requant(input_q: QuantParams, weight_q: QuantParams, output_q: QuantParams,
                            semantics: str = TFLITE) -> ChannelRequant:
    """FullyConnected (TFLite GetQuantizedConvolutionMultipler): the product s_in * s_w is
    taken in float32 and only then widened to double, for per-tensor weights. ONNX semantics
    takes the exact product of the float32 scales, as conv does."""
    if semantics == ONNX:
        return conv_requant(input_q, weight_q, output_q, semantics)
    if weight_q.is_per_tensor:
        product = _f32(np.float32(input_q.s) * np.float32(weight_q.s))
        m, s = quantize_multiplier(product / output_q.s)
        return ChannelRequant((m,), (s,))
    return conv_requant(input_q, weight_q, output_q)


@dataclass(frozen=True)
class AddParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    left_shift: int


def add_params(a: QuantParams, b: QuantParams, out: QuantParams, semantics: str = TFLITE) -> AddParams:
    """TFLite Micro add.cc CalculateOpData for int8, or onnx_add_params."""
    if semantics == ONNX:
        return onnx_add_params(a, b, out)
    twice_max_input_scale = 2.0 * max(a.s, b.s)
    m1, s1 = quantize_multiplier(a.s / twice_max_input_scale)
    m2, s2 = quantize_multiplier(b.s / twice_max_input_scale)
    mo, so = quantize_multiplier(twice_max_input_scale / ((1 << ADD_LEFT_SHIFT) * out.s))
    return AddParams(-a.zp, -b.zp, out.zp, m1, s1, m2, s2, mo, so, ADD_LEFT_SHIFT)


def onnx_add_params(a: QuantParams, b: QuantParams, out: QuantParams) -> AddParams:
    """ONNX's Add (dequantize both, add, quantize once) with the constants of TFLite's kernel.

    Each input is rescaled straight to the output scale, times 2^(left_shift - e):
    input_i_multiplier = (s_i / s_out) / 2^e, with 2^e >= 2 max(s_a, s_b) / s_out so both
    rescaled inputs and their sum keep int32 headroom as TFLite's do. Each of those two
    roundings is at most 2^-(left_shift - e + 1) output LSB (2^-20 for comparable scales).
    The output multiplier is then the power of two 2^(e - left_shift) with shift 0, so the
    shared tail divides the sum exactly and rounds once, where TFLite's output multiplier
    rounds a second time."""
    add_params(a, b, out)  # the same scales as TFLite's Add are accepted, with the same error otherwise
    ratio_a, ratio_b = a.s / out.s, b.s / out.s
    if not (math.isfinite(ratio_a) and math.isfinite(ratio_b)) or max(ratio_a, ratio_b) <= 0:
        raise ScaleRangeError(f"cannot add with scales {a.s!r}, {b.s!r} into {out.s!r}")
    exponent = math.frexp(2.0 * max(ratio_a, ratio_b))[1]  # 2^exponent > 2 max ratio
    # the output multiplier 2^(31 + exponent - left_shift) must be an int32 in [1, 2^30]
    exponent = min(max(exponent, ADD_LEFT_SHIFT - 30), ADD_LEFT_SHIFT - 1)
    m1, s1 = quantize_multiplier(math.ldexp(ratio_a, -exponent))
    m2, s2 = quantize_multiplier(math.ldexp(ratio_b, -exponent))
    if s1 > 0 or s2 > 0:
        raise ScaleRangeError(f"Add input scales {a.s!r}, {b.s!r} are more than 2^18 times the output scale {out.s!r}")
    output_multiplier = 1 << (31 + exponent - ADD_LEFT_SHIFT)
    return AddParams(-a.zp, -b.zp, out.zp, m1, s1, m2, s2, output_multiplier, 0, ADD_LEFT_SHIFT)


@dataclass(frozen=True)
class MulParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int


def mul_params(a: QuantParams, b: QuantParams, out: QuantParams, semantics: str = TFLITE) -> MulParams:
    """TFLite Micro mul_common.cc: double(s1) * double(s2) / double(s_out) (single-rounding
    constants for ONNX semantics)."""
    m, s = _multiplier(a.s * b.s / out.s, semantics)
    return MulParams(-a.zp, -b.zp, out.zp, m, s)


def requantize_multiplier(input_q: QuantParams, output_q: QuantParams) -> tuple[int, int]:
    """TFLite's int8 -> int8 Quantize op: double(s_in) / double(s_out)."""
    return quantize_multiplier(input_q.s / output_q.s)


def quantize_real(value: float, q: QuantParams) -> int:
    """TFLite's activation-range quantization: zp + TfLiteRound(float32(value) / float32(scale))."""
    ratio = _f32(np.float32(value) / np.float32(q.s))
    return q.zp + round_half_away_from_zero(ratio)


def activation_range(q: QuantParams, low: float | None, high: float | None) -> tuple[int, int]:
    """Clamp bounds of a fused Relu/Clip in the output domain (CalculateActivationRangeQuantized)."""
    act_min, act_max = -128, 127
    if low is not None:
        act_min = max(act_min, quantize_real(low, q))
    if high is not None:
        act_max = min(act_max, quantize_real(high, q))
    return act_min, act_max


# --- Softmax (TFLite Micro softmax_common.cc CalculateSoftmaxParams, int8 in/out) ---

SCALED_DIFF_INTEGER_BITS = 5  # the exp() input is Q5.26


@dataclass(frozen=True)
class SoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(input_q: QuantParams, beta: float = 1.0) -> SoftmaxParams:
    """PreprocessSoftmaxScaling (double-rounding build) and CalculateInputRadius.

    real = min(double(beta) * double(s_in) * 2^(31 - 5), 2^31 - 1), turned into a
    multiplier > 1 with a left shift; diff_min = -floor(31 * 2^26 / 2^left_shift), the
    most negative input difference whose left shift cannot overflow int32.
    """
    beta_f32 = _f32(beta)  # TfLiteSoftmaxParams stores beta as float
    real = min(beta_f32 * input_q.s * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    # real <= 2^31 - 1 gives left_shift <= 31; at 31 diff_min is 0 and only the row maxima count.
    multiplier, left_shift = quantize_multiplier(real, max_shift=31)
    if left_shift < 0:
        raise ScaleRangeError(f"softmax input scale {input_q.s!r} is too small (beta * scale * 2^26 < 1)")
    max_input_rescaled = (
        1.0 * ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << left_shift)
    )
    return SoftmaxParams(multiplier, left_shift, -int(math.floor(max_input_rescaled)))


# --- Average pooling ---


@dataclass(frozen=True)
class AvgPoolParams:
    """Fields of tinyc_pool_params that depend on quantization.

    requantize == False (input and output quantization equal, every TFLite model):
        TFLite's raw formula: acc = sum of the raw int8 inputs in the window (an explicit
        pad cell counted by count_include_pad adds -input_offset, the zero point: a real
        0.0), out = acc > 0 ? (acc + n/2) / n : (acc - n/2) / n (C division), clamped.
    requantize == True (onnxruntime models whose pool output has its own scale):
        acc = sum of (x - zp_in) over the window (a padded cell adds 0, a real 0.0),
        scaled = MultiplyByQuantizedMultiplier(acc, multiplier, shift) with
        multiplier/shift = double(s_in) / double(s_out), then the same rounded division
        by n, + zp_out, clamped. Multiplying before dividing keeps the only rounding
        before the last one to 0.5 / n output LSB, so the result is within 1 LSB of
        onnxruntime's float average for any scale ratio (dividing first would add
        0.5 * s_in / s_out LSB, more than 1 LSB once s_in > 2 s_out).
    """

    requantize: bool
    input_offset: int  # -zp_in
    output_offset: int  # zp_out (added only when requantize)
    multiplier: int  # 0 unless requantize
    shift: int


def avgpool_params(input_q: QuantParams, output_q: QuantParams) -> AvgPoolParams:
    if input_q == output_q:
        return AvgPoolParams(False, -input_q.zp, output_q.zp, 0, 0)
    multiplier, shift = quantize_multiplier(input_q.s / output_q.s)
    return AvgPoolParams(True, -input_q.zp, output_q.zp, multiplier, shift)


# --- Average pooling under ONNX semantics ---


# The window's cell count as a float32 divisor stays exact (onnxruntime's float(count)); 2^16 cells.
MAX_POOL_WINDOW = 1 << 16
