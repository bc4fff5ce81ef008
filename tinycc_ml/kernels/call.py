"""What one C kernel call needs, as plain data.

The registry (registry.py) turns each IR node into a list of KernelCall; code generation
prints them through Jinja2 templates, and the kernel tests marshal the same data into a
shared library with ctypes. Python decides every value here; nobody downstream recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

# A parameter struct field: an int, a fixed-size int array, or a nested struct.
ParamValue = Union[int, tuple[int, ...], "ParamStruct"]


@dataclass(frozen=True)
class ParamStruct:
    """Field values in the order the C struct declares them."""

    fields: tuple[tuple[str, ParamValue], ...]

    def __getitem__(self, key: str) -> ParamValue:
        for name, value in self.fields:
            if name == key:
                return value
        raise KeyError(key)


@dataclass(frozen=True, eq=False)
class ConstArg:
    """A constant array emitted to flash (weights, bias, multipliers, tables)."""

    name: str  # unique within its node; the emitted C identifier adds the node's prefix
    ctype: str  # "int8_t" or "int32_t"
    values: np.ndarray


@dataclass(frozen=True)
class TensorArg:
    """An activation buffer in the arena, read or written by the kernel."""

    tensor: str
    row_stride: int = 0  # a region of a larger image: elements between its rows (in the params too); 0: dense


@dataclass(frozen=True)
class ScratchArg:
    """Temporary bytes the kernel needs during this call only (its _get_buffer_size)."""

    nbytes: int


@dataclass(frozen=True)
class NullArg:
    """A NULL pointer (e.g. no bias)."""


KernelArg = Union[ConstArg, TensorArg, ScratchArg, NullArg]


@dataclass(frozen=True)
class KernelCall:
    node: str
    symbol: str  # e.g. "tinyc_conv_s8"
    params_type: str  # e.g. "tinyc_conv_params"
    params: ParamStruct
    args: tuple[KernelArg, ...]  # C arguments after the params pointer, in order

    @property
    def scratch_bytes(self) -> int:
        return sum(a.nbytes for a in self.args if isinstance(a, ScratchArg))
