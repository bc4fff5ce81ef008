"""ONNX's softmax on int8 (DequantizeLinear -> Softmax -> QuantizeLinear) through a compile-time exp table.

The twin of runtime_c/src/tinyc_softmax_table_s8.c, bit for bit. Per row of int8 inputs x:

    d        = max(x) - x                                   (0 .. 255)
    e        = exp_table[d] = round(exp(-beta * s_in * d) * 2^24)   (computed at compile time;
                                                             e = 2^24 at the row maximum)
    sum      = sum of e over the row                        (uint64: depth * 2^24 at most)
    scale    = round_half_up(out_multiplier * 2^24 / sum)    (one division per row; < 2^31
                                                             because sum >= 2^24)
    out      = round_half_even(e * scale / 2^out_shift) + zp_out, clamped to int8

with out_multiplier / 2^(out_shift - 24) = 1 / s_out (out_multiplier in [2^30, 2^31)), so
out = round(e / sum / s_out) + zp_out: the exact softmax of the dequantized row, quantized once
as QuantizeLinear does, up to a relative error of about 2^-24 (1e-5 LSB for any output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.graph import QuantParams
from .fixedpoint import ScaleRangeError, round_half_away_from_zero

EXP_BITS = 24  # exp_table[0] = 2^24: the row maximum's exp
MAX_OUTPUT_SHIFT = 62  # e * scale < 2^55; the rounding adds below 2^62 and shifts in uint64


@dataclass(frozen=True)
class SoftmaxTableParams:
    exp_table: tuple[int, ...]  # 256 entries, exp_table[d] for d = max - x
    output_multiplier: int
    output_shift: int
    output_offset: int


def softmax_table_params(input_q: QuantParams, output_q: QuantParams, beta: float = 1.0) -> SoftmaxTableParams:
    step = float(np.float32(beta)) * float(input_q.s)  # one input step in real units, times beta
    exp_table = tuple(round_half_away_from_zero(math.ldexp(math.exp(-step * d), EXP_BITS)) for d in range(256))
    inverse = 1.0 / float(output_q.s)
    if not math.isfinite(inverse) or inverse <= 0:
        raise ScaleRangeError(f"softmax output scale {output_q.s!r} is not a positive number")
    fraction, exponent = math.frexp(inverse)  # inverse = fraction * 2^exponent, fraction in [0.5, 1)
    multiplier = round_half_away_from_zero(math.ldexp(fraction, 31))
    fraction_bits = 31 - exponent
    if multiplier == 1 << 31:
        multiplier, fraction_bits = 1 << 30, fraction_bits - 1
    shift = EXP_BITS + fraction_bits
    if not 1 <= shift <= MAX_OUTPUT_SHIFT:
        raise ScaleRangeError(f"softmax output scale {output_q.s!r} is outside what the int8 table kernel "
                              f"represents (1 / scale must lie between 2^-6 and 2^53)")
    return SoftmaxTableParams(exp_table, multiplier, shift, output_q.zp)


def softmax_table_int8(x: np.ndarray, p: SoftmaxTableParams) -> np.ndarray:
    """Softmax over the last axis of an int8 array, into the output quantization `p` was made for."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"softmax_table_int8 expects int8 input, got {x.dtype}")
    depth = x.shape[-1]
    rows = x.reshape(-1, depth).astype(np.int64)
    table = np.asarray(p.exp_table, dtype=np.uint64)
    exps = table[rows.max(axis=1, keepdims=True) - rows]  # uint64
    sums = exps.sum(axis=1, keepdims=True, dtype=np.uint64)
    scale = ((np.uint64(p.output_multiplier) << np.uint64(EXP_BITS)) + (sums >> np.uint64(1))) // sums
    product = exps * scale
    n = np.uint64(p.output_shift)
    odd = (product >> n) & np.uint64(1)
    rounded = (product + ((np.uint64(1) << (n - np.uint64(1))) - np.uint64(1)) + odd) >> n
    out = rounded.astype(np.int64) + p.output_offset
    return np.clip(out, -128, 127).astype(np.int8).reshape(x.shape)
