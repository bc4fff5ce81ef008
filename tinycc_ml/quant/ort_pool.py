"""onnxruntime's float32 average pool under ORT_DISABLE_ALL, reproduced operation by operation.

A QDQ AveragePool runs in onnxruntime as DequantizeLinear -> float AveragePool (MLAS MlasPool,
onnxruntime/core/mlas/lib/pooling.cpp) -> QuantizeLinear. Every step is IEEE float32 with round to
nearest, so the result is a function of the order of the additions, which MLAS picks per node:

* GLOBAL (kernel == input, strides 1, no pads: MlasPoolGlobalKernel): four lane sums over the
  flattened H*W plane (lane j takes elements j, j+4, ...), folded as (l0 + l2) + (l1 + l3), then
  the remaining n % 4 elements one by one;
* COLUMNS (2-D, stride_w <= 2, kernels <= 32, the padded row fits MLAS's 2048-float buffer:
  MlasPool2DVectorKernel): per input column the window's rows summed top to bottom, then the
  window's column sums left to right;
* ROWS (otherwise, MlasPool2DKernel): the window's cells row-major, from 0.0f;
* EIGEN_ROWS, SEQUENTIAL: not a pool but a ReduceMean over the spatial axes lowered to one
  (AveragePool2d.mean_of), NCHW or NHWC, summed as onnxruntime's reduction sums them
  (quant/ort_reduce.py; its C twin is tinyc_reduce_mean_onnx_s8.c), the row index deciding the
  Eigen order.

Pad cells add 0.0f, which changes no float sum. The divisor is float(count): the cells inside
the input, or with count_include_pad the whole kernel (MLAS never clips it, not even in the
ceil_mode overhang), and the sum is divided by it (not multiplied by 1/count). Dequantize is
float(q - zp) * scale, quantize is nearbyint(x / scale) half to even, + zp, clamped.
The C twin is runtime_c/src/tinyc_avgpool_onnx_s8.c.
"""

from __future__ import annotations

import numpy as np

from ..ir import ops
from . import ort_reduce

ROWS, COLUMNS, GLOBAL, EIGEN_ROWS, SEQUENTIAL = 0, 1, 2, 3, 4  # the C kernel's `requantize` field carries this
MLAS_REDUCTION_BUFFER = 2048 - 3  # MLAS_POOL_REDUCTION_BUFFER_STACK - MLAS_POOL_REDUCTION_BUFFER_PADDING
MLAS_SMALL_KERNEL = 32


def summation_order(in_hw: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
                    pads: tuple[int, int, int, int], mean_of: str = "") -> int:
    """Which MLAS kernel onnxruntime runs for this pool (MlasPool's choice), hence its float order;
    for a ReduceMean (`mean_of`, whose window is the whole padded plane) its reduction's order."""
    if mean_of:
        return {ops.MEAN_NCHW: EIGEN_ROWS, ops.MEAN_NHWC: SEQUENTIAL}[mean_of]
    if tuple(kernel) == tuple(in_hw) and tuple(strides) == (1, 1) and not any(pads):
        return GLOBAL
    if strides[1] <= 2 and max(kernel) <= MLAS_SMALL_KERNEL and pads[1] + pads[3] + in_hw[1] <= MLAS_REDUCTION_BUFFER:
        return COLUMNS
    return ROWS


def float32_bits(value: float) -> int:
    """The float32 nearest `value` as a signed int32 bit pattern (how the C kernel receives a scale)."""
    return int(np.array([value], dtype=np.float32).view(np.int32)[0])


def ort_average_pool(x: np.ndarray, zp_in: int, s_in: float, zp_out: int, s_out: float,
                     kernel: tuple[int, int], strides: tuple[int, int], pads: tuple[int, int, int, int],
                     count_include_pad: bool, out_hw: tuple[int, int], act_min: int, act_max: int,
                     mean_of: str = "") -> np.ndarray:
    """The int8 output for int8 NCHW `x`, as onnxruntime computes it (see the module docstring)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (oh, ow) = kernel, strides, out_hw
    scale_in, scale_out = np.float32(s_in), np.float32(s_out)
    values = (x.astype(np.int32) - np.int32(zp_in)).astype(np.float32) * scale_in
    order = summation_order((h, w), kernel, strides, pads, mean_of)
    if order in (EIGEN_ROWS, SEQUENTIAL):
        if out_hw != (1, 1) or (h + pads[0] + pads[2], w + pads[1] + pads[3]) != (kh, kw):
            raise ValueError("a ReduceMean lowered to a pool covers the whole (padded) plane once")
        plane = np.pad(values, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3]))).reshape(n * c, kh * kw)
        row_sums = ort_reduce.eigen_row_sums if order == EIGEN_ROWS else ort_reduce.sequential_row_sums
        sums = row_sums(plane).reshape(n, c, 1, 1)
        inside = h * w
        counts = np.full((1, 1), np.float32(kh * kw if count_include_pad else inside))
    elif order == GLOBAL:
        plane = values.reshape(n, c, h * w)
        body = (h * w) // 4 * 4
        lanes = [np.zeros((n, c), np.float32) for _ in range(4)]
        for i in range(0, body, 4):
            for j in range(4):
                lanes[j] = lanes[j] + plane[:, :, i + j]
        total = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
        for i in range(body, h * w):
            total = total + plane[:, :, i]
        sums = total.reshape(n, c, 1, 1)
        counts = np.full((1, 1), np.float32(h * w))
    else:
        top, left = pads[0], pads[1]
        bottom = max(0, (oh - 1) * sh + kh - top - h)
        right = max(0, (ow - 1) * sw + kw - left - w)
        padded = np.pad(values, ((0, 0), (0, 0), (top, bottom), (left, right)))  # pads and overhang add 0.0f
        win = np.lib.stride_tricks.as_strided(
            padded, shape=(n, c, oh, ow, kh, kw),
            strides=(*padded.strides[:2], padded.strides[2] * sh, padded.strides[3] * sw, *padded.strides[2:]),
            writeable=False)
        sums = np.zeros((n, c, oh, ow), np.float32)
        if order == COLUMNS:
            for dx in range(kw):
                column = win[..., 0, dx]
                for dy in range(1, kh):
                    column = column + win[..., dy, dx]
                sums = sums + column
        else:
            for dy in range(kh):
                for dx in range(kw):
                    sums = sums + win[..., dy, dx]
        rows = np.minimum(np.arange(oh) * sh - top + kh, h) - np.maximum(np.arange(oh) * sh - top, 0)
        cols = np.minimum(np.arange(ow) * sw - left + kw, w) - np.maximum(np.arange(ow) * sw - left, 0)
        inside = np.maximum(rows, 0)[:, None] * np.maximum(cols, 0)[None, :]
        counts = np.full((oh, ow), kh * kw) if count_include_pad else inside
        if np.any(counts == 0):
            raise ValueError("an average pool window covers no input cell (pads at least as large as the kernel)")
        counts = counts.astype(np.float32)
    average = sums / counts
    q = np.rint(average / scale_out).astype(np.int64) + zp_out
    return np.clip(q, act_min, act_max).astype(np.int8)
