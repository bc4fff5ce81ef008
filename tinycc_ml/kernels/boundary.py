"""The float boundary helpers of onnxruntime-style models (QuantizeLinear at the input,
DequantizeLinear at the output). They are not kernel variants (no node runs them and
they take plain arguments, not a parameter struct), but the runtime source table needs
to know where they live."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BoundaryFunction:
    symbol: str
    source: str  # the runtime_c/src file that defines it


QUANTIZE_INPUT = BoundaryFunction("tinyc_quantize_f32", "tinyc_quantize_f32.c")
DEQUANTIZE_OUTPUT = BoundaryFunction("tinyc_dequantize_f32", "tinyc_quantize_f32.c")
BOUNDARY_FUNCTIONS = {f.symbol: f for f in (QUANTIZE_INPUT, DEQUANTIZE_OUTPUT)}
