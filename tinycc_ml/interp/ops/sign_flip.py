"""SignFlip: a uint8 model's edge, uint8 q <-> int8 q - 128 (the byte XOR 0x80)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ..registry import Operand

OP = ops.SignFlip


def run(attrs: ops.SignFlip, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    (x,) = inputs
    assert x is not None
    flipped = np.ascontiguousarray(x.value).view(np.uint8) ^ np.uint8(0x80)
    return flipped.view(output.dtype.numpy).reshape(output.shape)
