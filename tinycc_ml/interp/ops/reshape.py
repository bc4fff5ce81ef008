"""Reshape (also Flatten/Squeeze/Unsqueeze): the same values in row-major order, new shape."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ..registry import Operand

OP = ops.Reshape


def run(attrs: ops.Reshape, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    x = inputs[0]  # a frontend may keep ONNX Reshape's constant shape input; it is not needed
    assert x is not None
    return x.value.reshape(output.shape).copy()
