"""Pad with a constant (already quantized) value. ONNX pads: begins of every axis, then
ends; a negative pad crops."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ..registry import Operand

OP = ops.Pad


def run(attrs: ops.Pad, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    x = inputs[0]  # ONNX Pad's pads/value inputs may ride along as constants; attrs hold them
    assert x is not None
    rank = x.value.ndim
    begins, ends = attrs.pads[:rank], attrs.pads[rank:]
    grown = np.pad(
        x.value,
        [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)],
        constant_values=np.int8(attrs.value),
    )
    crop = tuple(slice(max(-b, 0), grown.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begins, ends)))
    return np.ascontiguousarray(grown[crop])
