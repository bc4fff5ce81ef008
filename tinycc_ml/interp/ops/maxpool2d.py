"""MaxPool2d: TFLite's int8 max pool. Max over the window clipped to the input (pads
never win), then clamp to [act_min, act_max]. Input and output share quantization."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ..pooling import padded_geometry, windows
from ..registry import Operand

OP = ops.MaxPool2d

_OUTSIDE = -(1 << 20)  # below any int8: a cell outside the input never wins the max


def run(attrs: ops.MaxPool2d, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    (x,) = inputs
    assert x is not None
    if x.tensor.quant != output.quant:
        raise ValueError(f"MaxPool2d {output.name}: input and output quantization differ")
    _, _, h, w = x.value.shape
    out_hw = output.shape[2], output.shape[3]
    (top, left, bottom, right), inside, _ = padded_geometry((h, w), attrs.kernel, attrs.strides, attrs.pads, out_hw)
    padded = np.pad(x.value.astype(np.int64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    padded = np.where(inside, padded, _OUTSIDE)
    result = windows(padded, attrs.kernel, attrs.strides, out_hw).max(axis=(-2, -1))
    if np.any(result == _OUTSIDE):
        raise ValueError("a max pool window covers no input cell (pads at least as large as the kernel)")
    return np.clip(result, attrs.act_min, attrs.act_max).astype(np.int8)
