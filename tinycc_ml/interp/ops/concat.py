"""Concat along a logical axis. Every input already has the output's quantization
(the frontend inserts requantize tables otherwise), so this only moves bytes."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...ir import ops
from ...ir.graph import Tensor
from ..registry import Operand

OP = ops.Concat


def run(attrs: ops.Concat, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    parts = [op for op in inputs if op is not None]
    for part in parts:
        if part.tensor.quant != output.quant:
            raise ValueError(
                f"Concat {output.name}: input {part.tensor.name} is not quantized like the output"
            )
    return np.concatenate([part.value for part in parts], axis=attrs.axis)
