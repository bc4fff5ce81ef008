"""Shape arithmetic with ONNX semantics: conv/pool windows, auto_pad, reshape targets.

Pure functions on tuples; `ValueError` carries the reason and the caller names the node.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def window_output(size: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int, ceil_mode: bool) -> int:
    """Output length of one spatial axis (ONNX Conv/pool, incl. ceil_mode's 'start inside' rule)."""
    span = dilation * (kernel - 1) + 1
    numerator = size + pad_begin + pad_end - span
    if numerator < 0:
        raise ValueError(f"the window ({span}) is larger than the padded input ({size + pad_begin + pad_end})")
    if not ceil_mode:
        return numerator // stride + 1
    out = -(-numerator // stride) + 1
    # ONNX (like PyTorch) drops a last window that would start in the end padding.
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def resolve_pads(
    auto_pad: str,
    pads: Sequence[int] | None,
    spatial: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> tuple[int, ...]:
    """Explicit ONNX pads (begins then ends) for NOTSET/VALID/SAME_UPPER/SAME_LOWER."""
    rank = len(spatial)
    if auto_pad in ("", "NOTSET"):
        result = tuple(int(p) for p in (pads if pads is not None else [0] * 2 * rank))
        if len(result) != 2 * rank:
            raise ValueError(f"pads has {len(result)} entries, expected {2 * rank}")
        if any(p < 0 for p in result):
            raise ValueError("negative pads are not supported")
        return result
    if auto_pad == "VALID":
        return (0,) * (2 * rank)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise ValueError(f"unknown auto_pad {auto_pad!r}")
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return tuple(begins + ends)


def onnx_to_ir_pads(pads: Sequence[int]) -> tuple[int, int, int, int]:
    """ONNX 2-D pads (top, left, bottom, right) are already the IR order."""
    top, left, bottom, right = (int(p) for p in pads)
    return (top, left, bottom, right)


def broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError as exc:
        raise ValueError(f"shapes {list(a)} and {list(b)} do not broadcast") from exc


def reshape_target(in_shape: Sequence[int], target: Sequence[int], allowzero: bool) -> tuple[int, ...]:
    """ONNX Reshape: 0 copies the input dim (unless allowzero), one -1 is inferred."""
    dims = []
    for i, d in enumerate(int(x) for x in target):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ValueError(f"target dim {i} is 0 but the input has rank {len(in_shape)}")
            d = in_shape[i]
        dims.append(d)
    total = math.prod(in_shape)
    if dims.count(-1) > 1:
        raise ValueError("more than one -1 in the target shape")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {list(in_shape)} to {list(target)}")
        dims[dims.index(-1)] = total // known
    if math.prod(dims) != total or any(d < 0 for d in dims):
        raise ValueError(f"cannot reshape {list(in_shape)} to {list(target)}")
    return tuple(dims)


def flatten(in_shape: Sequence[int], axis: int) -> tuple[int, ...]:
    rank = len(in_shape)
    if not -rank <= axis <= rank:
        raise ValueError(f"axis {axis} is out of range for rank {rank}")
    if axis < 0:
        axis += rank
    return (math.prod(in_shape[:axis]), math.prod(in_shape[axis:]))


def squeeze(in_shape: Sequence[int], axes: Sequence[int] | None) -> tuple[int, ...]:
    rank = len(in_shape)
    if axes is None:
        return tuple(d for d in in_shape if d != 1)
    norm = {a % rank for a in axes}
    if any(in_shape[a] != 1 for a in norm):
        raise ValueError(f"cannot squeeze axes {sorted(norm)} of shape {list(in_shape)}")
    return tuple(d for i, d in enumerate(in_shape) if i not in norm)


def unsqueeze(in_shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    rank = len(in_shape) + len(axes)
    norm = sorted(a % rank for a in axes)
    result = list(in_shape)
    for a in norm:
        result.insert(a, 1)
    return tuple(result)


def transpose(in_shape: Sequence[int], perm: Sequence[int] | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rank = len(in_shape)
    perm = tuple(range(rank))[::-1] if perm is None else tuple(int(p) % rank for p in perm)
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"perm {list(perm)} is not a permutation of {rank} axes")
    return perm, tuple(in_shape[p] for p in perm)


def remap_axis_after_reshape(old: Sequence[int], new: Sequence[int], axis: int) -> int | None:
    """The axis of `new` holding the same elements as `old[axis]` (row-major), if there is one."""
    before = math.prod(old[:axis])
    for j in range(len(new)):
        if math.prod(new[:j]) == before and new[j] == old[axis]:
            return j
    return None
