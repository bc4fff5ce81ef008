"""AveragePool2d: TFLite's int8 average pool, and a requantizing variant for onnxruntime models.

The window is clipped to the input; n is the number of cells it keeps, or with
count_include_pad the number it keeps when clipped to input + explicit pads (never the
ceil_mode overhang). Rounded division as TFLite: acc > 0 ? (acc + n/2)/n : (acc - n/2)/n
with C truncation, i.e. half away from zero.

params.avgpool_params decides the variant (see AvgPoolParams):
  equal input/output quantization: acc = sum of raw int8 values (an explicit pad cell
      counted by count_include_pad adds the input zero point, a real 0.0), out = rdiv(acc, n);
  different quantization: acc = sum of (x - zp_in) (pads add 0),
      out = rdiv(MBQM(acc, multiplier, shift), n) + zp_out.
Then clamp to [act_min, act_max].

Under ONNX semantics: onnxruntime's own float32 computation (DequantizeLinear, MLAS's float
AveragePool in its summation order, QuantizeLinear), operation by operation (quant/ort_pool.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ...quant import params
from ...quant.fixedpoint import multiply_by_quantized_multiplier
from ...quant.ort_pool import ort_average_pool
from ..pooling import padded_geometry, windows
from ..registry import Operand

OP = ops.AveragePool2d


def rounded_divide(acc: np.ndarray, count: np.ndarray) -> np.ndarray:
    """TFLite: acc > 0 ? (acc + n/2) / n : (acc - n/2) / n, C integer division."""
    magnitude = (np.abs(acc) + count // 2) // count
    return np.where(acc < 0, -magnitude, magnitude)


def run(attrs: ops.AveragePool2d, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    (x,) = inputs
    assert x is not None
    if attrs.semantics == ops.ONNX:
        return _onnx_average(attrs, x, output)
    p = params.avgpool_params(x.tensor.quant, output.quant)
    _, _, h, w = x.value.shape
    out_hw = output.shape[2], output.shape[3]
    (top, left, bottom, right), inside, with_pads = padded_geometry(
        (h, w), attrs.kernel, attrs.strides, attrs.pads, out_hw
    )
    counted = with_pads if attrs.count_include_pad else inside

    values = x.value.astype(np.int64)
    pad_value = 0
    if p.requantize:
        values = values + p.input_offset
    elif attrs.count_include_pad:
        pad_value = -p.input_offset  # the zero point: raw int8 of a real 0.0 in the shared quantization
    padded = np.pad(values, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=pad_value)
    padded = np.where(counted, padded, 0)  # overhang (and, without count_include_pad, pads) add nothing

    acc = windows(padded, attrs.kernel, attrs.strides, out_hw).sum(axis=(-2, -1))
    count = windows(counted.astype(np.int64), attrs.kernel, attrs.strides, out_hw).sum(axis=(-2, -1))
    if np.any(count == 0):
        raise ValueError("an average pool window covers no input cell (pads at least as large as the kernel)")
    if p.requantize:
        scaled = multiply_by_quantized_multiplier(acc, p.multiplier, p.shift)
        result = rounded_divide(scaled, count) + p.output_offset
    else:
        result = rounded_divide(acc, count)
    return np.clip(result, attrs.act_min, attrs.act_max).astype(np.int8)


def _onnx_average(attrs: ops.AveragePool2d, x: Operand, output: Tensor) -> np.ndarray:
    q_in, q_out = x.tensor.quant, output.quant
    return ort_average_pool(x.value, int(q_in.zp), float(q_in.s), int(q_out.zp), float(q_out.s), attrs.kernel,
                            attrs.strides, attrs.pads, attrs.count_include_pad, (output.shape[2], output.shape[3]),
                            attrs.act_min, attrs.act_max, attrs.mean_of)
