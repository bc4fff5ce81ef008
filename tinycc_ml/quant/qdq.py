"""ONNX QuantizeLinear / DequantizeLinear in float32, bit for bit.

These are the float boundaries of onnxruntime's QDQ models (the C twins are
tinyc_quantize_f32 / tinyc_dequantize_f32) and the float semantics the elementwise
tables in lut.py are built from:

    quantize:   q = saturate(round_half_even(float32(x) / float32(scale)) + zero_point)
    dequantize: x = float32(q - zero_point) * float32(scale)

Every intermediate is float32, as ONNX and onnxruntime compute them: a float64
division could round differently at a tie and give another int8 value.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import QuantParams

INT8_MIN = -128
INT8_MAX = 127


def quantize_f32(x: np.ndarray, q: QuantParams) -> np.ndarray:
    """Float32 values -> int8 with a per-tensor (scale, zero point)."""
    scale = np.float32(q.s)
    ratio = np.asarray(x, dtype=np.float32) / scale
    # np.rint rounds half to even, like std::nearbyint in the default rounding mode.
    rounded = np.rint(ratio).astype(np.float64)
    # Saturate in float first: a huge ratio must not wrap when turned into an integer.
    shifted = np.clip(rounded + q.zp, INT8_MIN, INT8_MAX)
    return shifted.astype(np.int8)


def dequantize_f32(q_values: np.ndarray, q: QuantParams) -> np.ndarray:
    """Int8 values -> float32 with a per-tensor (scale, zero point)."""
    centered = (np.asarray(q_values, dtype=np.int32) - np.int32(q.zp)).astype(np.float32)
    return centered * np.float32(q.s)
