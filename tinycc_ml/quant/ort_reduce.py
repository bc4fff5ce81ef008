"""onnxruntime's float32 ReduceMean over the spatial axes, reproduced addition by addition.

A QDQ ReduceMean runs in onnxruntime (ORT_DISABLE_ALL) as DequantizeLinear -> float ReduceMean
(onnxruntime/core/providers/cpu/reduction/reduction_ops.h, ReduceAggregatorMean's fast paths) ->
QuantizeLinear. The mean is the float32 sum of each reduced row divided by float(count); the
sum's order depends on the ONNX layout:

* NCHW, axes [2, 3] (the fast "KR" shape [N*C, H*W]): each row is an Eigen vector sum(). Eigen
  (SSE packets of 4 floats in onnxruntime's x86-64 build) first skips the `start` leading
  elements that precede the first 16-byte-aligned one, sums the aligned body in two packet
  accumulators p0, p1 (p0 takes elements start + 8i .. +3, p1 the next four), folds p0 + p1,
  adds one more packet if four elements remain, reduces the packet as (a0 + a2) + (a1 + a3),
  then adds the skipped leading elements and the trailing ones in order. A body shorter than
  one packet is summed element by element from the first. onnxruntime's buffers are 64-byte
  aligned, so row d (d = n * C + c) begins at float d * H * W and start = -(d * H * W) mod 4.
* NHWC, axes [1, 2], batch 1 (the fast "RK" shape [H*W, C]): a 1 x (H*W) x C MatMul with a row
  of ones, MLAS's single-row SGEMM kernel, which adds the rows one after the other: each
  channel's sum is sequential over the H*W pixels (1.0f * x is exact, so fused multiply-adds
  change nothing). Batched NHWC means take Eigen's rowwise() path, which is not replayed.

Determined against onnxruntime 1.32.0 on x86-64 (tests/test_onnx_reduce_mean.py checks every
element against onnxruntime). The C twin is runtime_c/src/tinyc_reduce_mean_onnx_s8.c. Pad cells (a Pad folded into the whole-plane pool) are 0.0f: they
change no sum, but they occupy their position in the row, which decides the order.
"""

from __future__ import annotations

import numpy as np

PACKET = 4  # floats per SSE packet


def aligned_start(row: int, length: int) -> int:
    """Elements of row `row` (of `length` floats, rows back to back from a 16-byte-aligned
    base) before its first 16-byte-aligned element, at most `length`."""
    return min((-row * length) % PACKET, length)


def _fold(packet: np.ndarray) -> np.ndarray:
    """Eigen's predux of an SSE packet: (a0 + a2) + (a1 + a3)."""
    return (packet[:, 0] + packet[:, 2]) + (packet[:, 1] + packet[:, 3])


def _eigen_sum(rows: np.ndarray, start: int) -> np.ndarray:
    """Eigen's vectorized sum of every row of float32 `rows` [R, K], all with the same `start`."""
    k = rows.shape[1]
    body = (k - start) // PACKET * PACKET
    if body == 0:
        total = rows[:, 0]
        for i in range(1, k):
            total = total + rows[:, i]
        return total
    pairs_end = start + (k - start) // (2 * PACKET) * (2 * PACKET)
    p0 = rows[:, start:start + PACKET]
    if body > PACKET:
        p1 = rows[:, start + PACKET:start + 2 * PACKET]
        for i in range(start + 2 * PACKET, pairs_end, 2 * PACKET):
            p0 = p0 + rows[:, i:i + PACKET]
            p1 = p1 + rows[:, i + PACKET:i + 2 * PACKET]
        p0 = p0 + p1
        if start + body > pairs_end:
            p0 = p0 + rows[:, pairs_end:pairs_end + PACKET]
    total = _fold(p0)
    for i in [*range(start), *range(start + body, k)]:
        total = total + rows[:, i]
    return total


def eigen_row_sums(rows: np.ndarray) -> np.ndarray:
    """The float32 sum of each row of `rows` [R, K] (row r at float r * K of an aligned buffer),
    as Eigen sums a vector in onnxruntime's NCHW ReduceMean."""
    rows = np.asarray(rows, dtype=np.float32)
    sums = np.zeros(rows.shape[0], np.float32)
    starts = np.array([aligned_start(r, rows.shape[1]) for r in range(rows.shape[0])], dtype=np.int64)
    for start in np.unique(starts):
        chosen = starts == start
        sums[chosen] = _eigen_sum(rows[chosen], int(start))
    return sums


def sequential_row_sums(rows: np.ndarray) -> np.ndarray:
    """The float32 sum of each row of `rows` [R, K], element after element from 0.0f (MLAS's
    single-row SGEMM, onnxruntime's NHWC ReduceMean)."""
    rows = np.asarray(rows, dtype=np.float32)
    total = np.zeros(rows.shape[0], np.float32)
    for i in range(rows.shape[1]):
        total = total + rows[:, i]
    return total
