"""Lut: y = table[x + 128] (sigmoid, tanh, hard-sigmoid/-swish, relu/clip, requantize)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ..registry import Operand

OP = ops.Lut


def run(attrs: ops.Lut, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    (x,) = inputs
    assert x is not None
    table = np.asarray(attrs.table, dtype=np.int8)
    return table[x.value.astype(np.int64) + 128]
