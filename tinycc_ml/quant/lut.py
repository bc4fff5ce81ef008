"""256-entry int8 -> int8 tables (indexed by q + 128) for elementwise functions.

elementwise_table follows ONNX QDQ float semantics, which is what onnxruntime runs for
a DequantizeLinear -> f -> QuantizeLinear chain:

    x   = float32(q - zp_in) * float32(s_in)                      (DequantizeLinear)
    y   = f(x) in float32
    out = saturate(round_half_even(float32(y) / float32(s_out)) + zp_out)  (QuantizeLinear)

Transcendental functions (sigmoid, tanh) are evaluated in float64 and rounded once to
float32, i.e. the correctly rounded float32 value. onnxruntime's MLAS kernels use
polynomial approximations a few float32 ulps away, so a table entry can differ from
onnxruntime by one LSB when f(x) / s_out lands within those ulps of a rounding
boundary; the piecewise-linear functions are computed in float32 exactly as ONNX
defines them and match exactly.

requantize_table is TFLite's int8 -> int8 Quantize op (a rescale between two
quantizations) with integer arithmetic: MultiplyByQuantizedMultiplier(q - zp_in) + zp_out.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from ..ir.graph import QuantParams
from .fixedpoint import multiply_by_quantized_multiplier
from .params import requantize_multiplier
from .qdq import dequantize_f32, quantize_f32

_ALL_INT8 = np.arange(-128, 128, dtype=np.int32)

FloatFn = Callable[[np.ndarray, Mapping[str, float]], np.ndarray]


def _f32(value: float) -> np.float32:
    return np.float32(value)


def _sigmoid(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):  # exp(-x) = inf for a huge input scale: sigmoid is then exactly 0
        return (1.0 / (1.0 + np.exp(-x64))).astype(np.float32)


def _tanh(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    return np.tanh(x.astype(np.float64)).astype(np.float32)


def _hardsigmoid_with(x: np.ndarray, alpha: np.float32, beta: np.float32) -> np.ndarray:
    # ONNX HardSigmoid: max(0, min(1, alpha * x + beta)), every step in float32.
    return np.maximum(np.float32(0), np.minimum(np.float32(1), alpha * x + beta))


def _hardsigmoid(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    return _hardsigmoid_with(x, _f32(attrs.get("alpha", 0.2)), _f32(attrs.get("beta", 0.5)))


def _hardswish(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    # ONNX defines HardSwish as x * HardSigmoid(x, alpha=1/6, beta=0.5), float32.
    return x * _hardsigmoid_with(x, _f32(1.0 / 6.0), _f32(0.5))


def _relu(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    return np.maximum(x, np.float32(0))


def _leakyrelu(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    # ONNX LeakyRelu: x for x >= 0, alpha * x otherwise (float32; alpha may be any float)
    return np.where(x >= 0, x, _f32(attrs.get("alpha", 0.01)) * x).astype(np.float32)


def _identity(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    return x  # DequantizeLinear then QuantizeLinear: ONNX's requantization


def _clip(x: np.ndarray, attrs: Mapping[str, float]) -> np.ndarray:
    low = attrs.get("min")
    high = attrs.get("max")
    y = x
    if low is not None:
        y = np.maximum(y, _f32(low))
    if high is not None:
        y = np.minimum(y, _f32(high))
    return y


FUNCTIONS: Mapping[str, FloatFn] = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "hardsigmoid": _hardsigmoid,
    "hardswish": _hardswish,
    "relu": _relu,
    "leakyrelu": _leakyrelu,
    "clip": _clip,
    "identity": _identity,
}


def elementwise_table(
    function: str, attrs: Mapping[str, float], in_q: QuantParams, out_q: QuantParams
) -> tuple[int, ...]:
    """The table of `function` (a key of FUNCTIONS) between two per-tensor quantizations."""
    try:
        fn = FUNCTIONS[function]
    except KeyError:
        known = ", ".join(sorted(FUNCTIONS))
        raise ValueError(f"no int8 table for function {function!r} (known: {known})") from None
    x = dequantize_f32(_ALL_INT8, in_q)
    y = fn(x, attrs)
    return tuple(int(v) for v in quantize_f32(y, out_q))


def requantize_table(in_q: QuantParams, out_q: QuantParams) -> tuple[int, ...]:
    """TFLite's int8 -> int8 Quantize: MultiplyByQuantizedMultiplier(q - zp_in) + zp_out, saturated."""
    multiplier, shift = requantize_multiplier(in_q, out_q)
    scaled = multiply_by_quantized_multiplier(_ALL_INT8.astype(np.int64) - in_q.zp, multiplier, shift)
    return tuple(int(v) for v in np.clip(scaled + out_q.zp, -128, 127))
