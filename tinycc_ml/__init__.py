"""tinyc: an ahead-of-time compiler from int8-quantized ONNX models to C for Cortex-M."""

__version__ = "0.1.0"
