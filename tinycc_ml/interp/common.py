"""Small helpers the op modules share: requantize-and-clamp, exact integer matmul."""

from __future__ import annotations

import numpy as np

from ..quant.fixedpoint import multiply_by_quantized_multiplier
from ..quant.params import ChannelRequant


def channel_requantize(
    acc: np.ndarray, requant: ChannelRequant, channel_axis: int, zero_point: int, act_min: int, act_max: int
) -> np.ndarray:
    """MultiplyByQuantizedMultiplier per output channel, + output zero point, clamp, int8."""
    shape = [1] * acc.ndim
    shape[channel_axis] = len(requant.multipliers)
    multipliers = np.asarray(requant.multipliers, dtype=np.int64).reshape(shape)
    shifts = np.asarray(requant.shifts, dtype=np.int64).reshape(shape)
    scaled = multiply_by_quantized_multiplier(acc, multipliers, shifts) + zero_point
    return np.clip(scaled, act_min, act_max).astype(np.int8)


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matmul in int64: exact, and single-threaded.

    (float64 BLAS would be exact too, but its worker threads spin against each other on a
    loaded 2-core machine and run 100x slower than this for the small layers here.)
    """
    return np.matmul(np.ascontiguousarray(a, dtype=np.int64), np.ascontiguousarray(b, dtype=np.int64))
