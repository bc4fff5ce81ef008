"""Mul: TFLite's int8 Mul (reference_integer_ops MulElementwise), with numpy broadcasting.

out = clamp(MBQM((a - zp_a) * (b - zp_b), m, s) + zp_out, act_min, act_max)
Constants: params.mul_params (double(s_a) * double(s_b) / double(s_out)).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ...quant import params
from ...quant.fixedpoint import multiply_by_quantized_multiplier as mbqm
from ..registry import Operand

OP = ops.Mul


def run(attrs: ops.Mul, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    a, b = inputs
    assert a is not None and b is not None
    p = params.mul_params(a.tensor.quant, b.tensor.quant, output.quant, attrs.semantics)
    product = (a.value.astype(np.int64) + p.input1_offset) * (b.value.astype(np.int64) + p.input2_offset)
    raw_out = mbqm(product, p.output_multiplier, p.output_shift) + p.output_offset
    out = np.clip(raw_out, attrs.act_min, attrs.act_max).astype(np.int8)
    return np.broadcast_to(out, output.shape).copy()
