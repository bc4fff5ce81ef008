"""Softmax over the last axis.

tflite: TFLite Micro's int8 kernel (quant/softmax.py), output (1/256, -128).
onnx:   the exact softmax of the dequantized row, quantized once into the output's own
        quantization, through a compile-time exp table (quant/softmax_table.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ...quant import params
from ...quant.softmax import softmax_int8
from ...quant.softmax_table import softmax_table_int8, softmax_table_params
from ..registry import Operand

OP = ops.Softmax

SOFTMAX_OUTPUT_SCALE = 1.0 / 256.0
SOFTMAX_OUTPUT_ZERO_POINT = -128


def run(attrs: ops.Softmax, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    (x,) = inputs
    assert x is not None
    out_q = output.quant
    if attrs.semantics == ops.ONNX:
        assert out_q is not None
        return softmax_table_int8(x.value, softmax_table_params(x.tensor.quant, out_q, attrs.beta))
    if out_q is None or out_q.s != SOFTMAX_OUTPUT_SCALE or out_q.zp != SOFTMAX_OUTPUT_ZERO_POINT:
        raise ValueError(f"Softmax {output.name}: output must be quantized (1/256, -128), got {out_q}")
    return softmax_int8(x.value, params.softmax_params(x.tensor.quant, attrs.beta))
