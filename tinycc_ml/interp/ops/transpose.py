"""Transpose: y = x.transpose(perm)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ..registry import Operand

OP = ops.Transpose


def run(attrs: ops.Transpose, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    (x,) = inputs
    assert x is not None
    return np.ascontiguousarray(x.value.transpose(attrs.perm))
