"""Add: TFLite's int8 Add (reference_integer_ops AddFunc), with numpy broadcasting.

a' = (a - zp_a) << 20, b' = (b - zp_b) << 20
sum = MBQM(a', m_a, s_a) + MBQM(b', m_b, s_b)        (shifts <= 0: rescale to 2*max scale)
out = clamp(MBQM(sum, m_out, s_out) + zp_out, act_min, act_max)
Constants: params.add_params (onnx_add_params under ONNX semantics: each input rescaled straight
to the output scale, the output multiplier a power of two, so the sum is rounded once).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ...quant import params
from ...quant.fixedpoint import multiply_by_quantized_multiplier as mbqm
from ..registry import Operand

OP = ops.Add


def run(attrs: ops.Add, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    a, b = inputs
    assert a is not None and b is not None
    p = params.add_params(a.tensor.quant, b.tensor.quant, output.quant, attrs.semantics)
    a_val = (a.value.astype(np.int64) + p.input1_offset) * (1 << p.left_shift)
    b_val = (b.value.astype(np.int64) + p.input2_offset) * (1 << p.left_shift)
    raw_sum = mbqm(a_val, p.input1_multiplier, p.input1_shift) + mbqm(b_val, p.input2_multiplier, p.input2_shift)
    raw_out = mbqm(raw_sum, p.output_multiplier, p.output_shift) + p.output_offset
    out = np.clip(raw_out, attrs.act_min, attrs.act_max).astype(np.int8)
    return np.broadcast_to(out, output.shape).copy()
