"""tinyc: an ahead-of-time compiler from int8-quantized ONNX models to C for Cortex-M."""

import importlib

__version__ = "0.1.0"


def compile(model, board="stm32f746", out_dir=None, **options):  # noqa: A001, ANN001, ANN201 - mirrors api.compile
    """Compile an int8 ONNX model for a board: see tinycc_ml.api.compile. The package root
    imports nothing of its own at import time (modules read __version__ from it, and
    `tinyc boards` stays fast), so the API module is loaded on the first call."""
    return importlib.import_module("tinycc_ml.api").compile(model, board, out_dir, **options)
