"""ParamStruct -> ctypes, built by walking the fields, so no struct layout is written twice.

An int field is an int32_t, a tuple an int32_t array, a nested ParamStruct a nested struct:
exactly the rule tinyc_nn.h follows (every field int32_t). Tests check the resulting
sizeof against the C compiler's for every params type.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

from .call import ParamStruct, ParamValue

Shape = tuple[tuple[str, object], ...]


def _shape_of(params: ParamStruct) -> Shape:
    """The layout-relevant description of a struct: names, kinds and array lengths."""
    parts: list[tuple[str, object]] = []
    for name, value in params.fields:
        if isinstance(value, ParamStruct):
            parts.append((name, _shape_of(value)))
        elif isinstance(value, tuple):
            parts.append((name, len(value)))
        else:
            parts.append((name, None))
    return tuple(parts)


@lru_cache(maxsize=None)
def _struct_type(type_name: str, shape: Shape) -> type[ctypes.Structure]:
    fields: list[tuple[str, type]] = []
    for name, kind in shape:
        if isinstance(kind, tuple):
            fields.append((name, _struct_type(f"{type_name}_{name}", kind)))
        elif isinstance(kind, int):
            fields.append((name, ctypes.c_int32 * kind))
        else:
            fields.append((name, ctypes.c_int32))
    return type(type_name, (ctypes.Structure,), {"_fields_": fields})


def ctypes_type(params: ParamStruct, type_name: str) -> type[ctypes.Structure]:
    """The ctypes Structure class with the fields of `params` in order."""
    return _struct_type(type_name, _shape_of(params))


def _assign(target: ctypes.Structure, params: ParamStruct) -> None:
    for name, value in params.fields:
        _set_field(target, name, value)


def _set_field(target: ctypes.Structure, name: str, value: ParamValue) -> None:
    if isinstance(value, ParamStruct):
        _assign(getattr(target, name), value)
    elif isinstance(value, tuple):
        array = getattr(target, name)
        for index, item in enumerate(value):
            array[index] = _int32(name, item)
    else:
        setattr(target, name, _int32(name, value))


def _int32(name: str, value: int) -> int:
    value = int(value)
    if not -(1 << 31) <= value < (1 << 31):
        raise OverflowError(f"parameter {name} = {value} does not fit int32_t")
    return value


def to_ctypes(params: ParamStruct, type_name: str) -> ctypes.Structure:
    """A filled ctypes instance of `params` (raises on a value that does not fit int32)."""
    instance = ctypes_type(params, type_name)()
    _assign(instance, params)
    return instance


def to_bytes(params: ParamStruct, type_name: str) -> bytes:
    """The struct's bytes as the C compiler lays them out on this host."""
    return bytes(to_ctypes(params, type_name))
