"""The single-rounding requantize tail, proved at compile time.

A layer whose every channel has right shift 0 (shift >= 0: ONNX semantics'
single_rounding_multiplier constants, or a TFLite multiplier >= 1) rounds only once:
MultiplyByQuantizedMultiplier(acc, m, shift) == SRDHM(acc << shift, m), and SRDHM(y, m) ==
floor((y * m + 2^30) / 2^31) == SMMULR(2y, m) for both signs (requant.h) whenever 2y fits
int32. So the byte before its clamp is one SMMLAR,

    SMMLAR(acc << double_shift, m, output_offset),   double_shift = shift + 1,

with no guard once the compiler has shown 2 * (acc << shift) fits int32 for every
accumulator the layer can produce (requant_tail.h tinyc_tail_single). The TFLite-form proof
(pointwise.proved_tail_table, depthwise3x3.fast_tail_table) needs right_shift >= 1, so it
never holds for these layers; this is their proof. |SMMULR(2y, m)| <= 2^30 for m < 2^31, so
adding an int8 offset cannot overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INT32 = 1 << 31


@dataclass(frozen=True)
class SingleTail:
    """Per output channel the SMMLAR operands of the proved single-rounding tail."""

    double_shift: int  # every channel's (the kernels take one per call)
    multiplier: np.ndarray  # int64 [C]; 0 for a channel whose output is constant
    offset: np.ndarray  # int64 [C]: the output offset, or the constant channel's byte

    def table(self) -> np.ndarray:
        """[C][2] int32 (multiplier, offset), what a channel's tail loads with one LDRD."""
        return np.stack([self.multiplier, self.offset], axis=1).reshape(-1).astype(np.int32)


def prove_single_tail(multipliers: np.ndarray, shifts: np.ndarray, acc_bound: np.ndarray, output_offset: int,
                      constant: np.ndarray | None = None) -> SingleTail | None:
    """The single-rounding tail of a layer, or None where it is not exact for every
    accumulator with |acc| <= acc_bound (a channel with right shift, channels with different
    shifts, or a doubled accumulator that can leave int32). `constant`: per channel the byte
    it writes for every input (its weights are all 0; pointwise.constant_outputs), -1000
    elsewhere; such a channel needs no proof (multiplier 0: SMMLAR returns the byte)."""
    m = np.asarray(multipliers, dtype=np.int64).reshape(-1)
    shift = np.asarray(shifts, dtype=np.int64).reshape(-1)
    bound = np.broadcast_to(np.asarray(acc_bound, dtype=np.int64), m.shape)
    fixed = np.zeros(len(m), dtype=bool) if constant is None else np.asarray(constant).reshape(-1) > -1000
    live = ~fixed
    if len(m) == 0 or not live.any():
        return None
    if np.any(shift[live] < 0) or np.any(shift[live] != shift[live][0]) or np.any((m[live] < 0) | (m[live] >= INT32)):
        return None
    double_shift = int(shift[live][0]) + 1
    if double_shift > 31 or np.any(np.left_shift(bound[live], double_shift) >= INT32):
        return None
    offset = np.full(len(m), int(output_offset), dtype=np.int64)
    if constant is not None:
        offset = np.where(fixed, np.asarray(constant, dtype=np.int64).reshape(-1), offset)
    return SingleTail(double_shift, np.where(fixed, 0, m), offset)
