"""The one place where tinyc's integer semantics live: TFLite's int8 scheme, and ONNX's (each op
exact, one rounding) for onnxruntime-born models (ir/ops.py SEMANTICS).

fixedpoint: the primitives (twin: runtime_c/include/tinyc/requant.h)
params:     per-op constants from quantization parameters (TFLite's Prepare)
softmax:    TFLite's int8 softmax (gemmlowp exp / reciprocal)
softmax_table: ONNX's softmax through a compile-time exp table (ONNX semantics)
lut:        256-entry tables for elementwise functions
qdq:        ONNX QuantizeLinear / DequantizeLinear in float32 (the float model boundary)
"""
