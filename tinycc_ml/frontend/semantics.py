"""Whose arithmetic an imported model follows: `tflite` or `onnx` (ARCHITECTURE.md, "Integer semantics").

A model reproduces the numbers its author validated in the framework it came from:

* TFLite-born (a .tflite, or tf2onnx's conversion of one, which keeps TFLite's scales and is
  checked against TFLite Micro): `tflite`, TFLite Micro's integer kernels bit for bit;
* onnxruntime-born (onnxruntime.quantization writes producer_name "onnx.quantize", QDQ and
  QOperator alike): `onnx`, each op exact and rounded once, as onnxruntime computes it.

A model whose producer says neither keeps `tflite`, the arithmetic tinyc always had (and the one
every Cortex-M tool checks against); `--semantics onnx` forces the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import TinycError
from ..ir.ops import ONNX, SEMANTICS, TFLITE

AUTO = "auto"
CHOICES = (AUTO, *SEMANTICS)
ONNXRUNTIME_PRODUCERS = frozenset({"onnx.quantize", "onnxruntime.quantization"})
TFLITE_PRODUCERS = frozenset({"tf2onnx"})

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class SemanticsChoice:
    semantics: str  # "tflite" or "onnx"
    reason: str  # why, for the compile summary and report.json

    def as_report(self) -> dict[str, str]:
        return {"semantics": self.semantics, "reason": self.reason}


def check_requested(requested: str) -> str:
    if requested not in CHOICES:
        raise TinycError(f"unknown semantics {requested!r}; choose one of {', '.join(CHOICES)} "
                         "(auto: tflite for TFLite-born models, onnx for onnxruntime-quantized ones)")
    return requested


def onnx_semantics(model: onnx.ModelProto, requested: str = AUTO) -> SemanticsChoice:
    """The semantics of an ONNX model: `requested` unless it is "auto", else from its producer."""
    if check_requested(requested) != AUTO:
        return SemanticsChoice(requested, "forced by --semantics")
    producer = model.producer_name
    if producer in ONNXRUNTIME_PRODUCERS:
        return SemanticsChoice(ONNX, f"producer {producer!r}: quantized by onnxruntime, follows ONNX's definition")
    if producer in TFLITE_PRODUCERS:
        return SemanticsChoice(TFLITE, f"producer {producer!r}: converted from TFLite, follows TFLite Micro")
    label = f"producer {producer!r}" if producer else "no producer name"
    return SemanticsChoice(TFLITE, f"{label}: TFLite's arithmetic (the default; --semantics onnx to change it)")


def tflite_semantics(requested: str = AUTO) -> SemanticsChoice:
    """A .tflite model always follows TFLite: its scales and fused ops are TFLite's."""
    if check_requested(requested) == ONNX:
        raise TinycError("--semantics onnx does not apply to a .tflite model: TFLite models follow TFLite's "
                         "arithmetic (use --semantics auto or tflite)")
    return SemanticsChoice(TFLITE, "a .tflite model: follows TFLite Micro" if requested == AUTO
                           else "forced by --semantics")
