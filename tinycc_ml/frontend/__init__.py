"""ONNX frontend: int8 QDQ / QOperator models -> tinyc IR (see onnx_import)."""

from .onnx_import import import_model, load_model

__all__ = ["import_model", "load_model"]
