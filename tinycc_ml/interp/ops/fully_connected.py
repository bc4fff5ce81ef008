"""FullyConnected: TFLite's integer fully connected.

acc[n, m] = bias[m] + sum_k (x[n, k] - zp_in) * (w[m, k] - zp_w)
out = clamp(MultiplyByQuantizedMultiplier(acc, mult, shift) + zp_out, act_min, act_max)

params.fully_connected_requant gives the multipliers: per tensor, TFLite multiplies
s_in * s_w in float32 before widening to double (unlike conv); per channel as conv.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ...quant import params
from ..common import channel_requantize, exact_matmul
from ..registry import Operand

OP = ops.FullyConnected


def run(attrs: ops.FullyConnected, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    x, w, bias = inputs
    assert x is not None and w is not None
    in_q, w_q, out_q = x.tensor.quant, w.tensor.quant, output.quant
    m, k = w.value.shape
    w_zero = np.asarray(w_q.zero_point, dtype=np.int64).reshape(-1, 1)  # one per row, or one
    weights = w.value.astype(np.int64) - w_zero
    rows = x.value.astype(np.int64).reshape(-1, k) - in_q.zp
    acc = exact_matmul(rows, weights.T)
    if bias is not None:
        acc = acc + bias.value.astype(np.int64).reshape(1, m)
    requant = params.fully_connected_requant(in_q, w_q, out_q, attrs.semantics)
    out = channel_requantize(acc, requant, 1, out_q.zp, attrs.act_min, attrs.act_max)
    return out.reshape(output.shape)
