"""tinyc: an ahead-of-time compiler from int8-quantized ONNX models to C for Cortex-M."""

__version__ = "0.1.0"


def compile(model, board="stm32f746", out_dir=None, **options):  # noqa: A001, ANN001, ANN201 - mirrors api.compile
    """Compile an int8 ONNX model for a board: see tinycc_ml.api.compile (imported on first
    use, so `import tinycc_ml` and `tinyc boards` stay fast)."""
    from .api import compile as _compile  # noqa: PLC0415

    return _compile(model, board, out_dir, **options)
