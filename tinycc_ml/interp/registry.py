"""Op implementations of the interpreter, found by op kind.

Each module in interp/ops/ implements one op kind and declares it with two names:

    OP = ops.Conv2d            # the attribute dataclass it implements
    def run(attrs, inputs, output) -> np.ndarray

`inputs` are the node's operands in Node.inputs order (None for an absent optional
input), `output` the IR tensor the result must match. Adding an op is adding one module;
nothing here changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from ..ir.graph import Tensor
from ..ir.ops import OpAttrs
from . import ops as _ops_package


@dataclass(frozen=True, eq=False)
class Operand:
    """An op input: its IR tensor (quantization, shape) and its current value."""

    tensor: Tensor
    value: np.ndarray


OpFn = Callable[[OpAttrs, Sequence["Operand | None"], Tensor], np.ndarray]


def _discover() -> Mapping[str, OpFn]:
    found: dict[str, OpFn] = {}
    for info in pkgutil.iter_modules(_ops_package.__path__):
        module = importlib.import_module(f"{_ops_package.__name__}.{info.name}")
        op = getattr(module, "OP", None)
        if op is None:
            continue
        if op.kind in found:
            raise RuntimeError(f"two interpreter modules implement {op.kind}")
        found[op.kind] = module.run
    return MappingProxyType(found)


IMPLEMENTATIONS: Mapping[str, OpFn] = _discover()


def implementation(kind: str) -> OpFn:
    try:
        return IMPLEMENTATIONS[kind]
    except KeyError:
        raise NotImplementedError(f"the interpreter has no implementation of op {kind!r}") from None
