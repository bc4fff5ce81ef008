"""Op kinds of the IR, one frozen dataclass of attributes each.

Every op reads int8 activations and writes one int8 activation (Conv2d and
FullyConnected also read constant int8 weights and an optional int32 bias).
Quantization parameters live on the tensors, not here: an op's attributes are what
is left once the tensors are known. `act_min`/`act_max` are the fused activation
clamp in the *output's* quantized domain (Relu/Clip fold into them).

Tensor roles per op (Node.inputs order):
    Conv2d          x [N,C,H,W], w [O,C/groups,KH,KW], bias [O] int32 or ""   -> y [N,O,OH,OW]
    FullyConnected  x [N,K], w [M,K] (out-major, like TFLite), bias [M] or "" -> y [N,M]
    Add, Mul        a, b (numpy broadcasting on logical shapes)              -> y
    AveragePool2d   x [N,C,H,W]                                               -> y [N,C,OH,OW]
    MaxPool2d       x [N,C,H,W]                                               -> y [N,C,OH,OW]
    Reshape         x                                                         -> y (same bytes, new shape)
    Transpose       x                                                         -> y = x.transpose(perm)
    Concat          x0, x1, ... (same quantization as y)                     -> y
    Pad             x                                                         -> y
    Softmax         x [..., D] (softmax over the last axis)                  -> y
    Lut             x                                                         -> y = table[x + 128]
    SignFlip        x uint8 (int8)                                           -> y int8 (uint8), the bytes XOR 0x80
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

INT8_MIN = -128
INT8_MAX = 127

# Whose integer arithmetic an op follows (ARCHITECTURE.md, "Integer semantics"):
#   "tflite": TFLite Micro's int8 kernels, bit for bit (double-rounding requantization, Add with
#             left_shift 20, gemmlowp softmax);
#   "onnx":   ONNX's definition as onnxruntime runs it: the op computed exactly, then one rounding
#             (single-rounding requantization, Add summed exactly, softmax through an exp table).
# Carried by every op whose arithmetic differs (and by Graph.semantics); the interpreter and the
# kernel registry read it from the node, so both follow the same definition.
TFLITE = "tflite"
ONNX = "onnx"
SEMANTICS = (TFLITE, ONNX)


@dataclass(frozen=True)
class OpAttrs:
    kind: ClassVar[str] = "?"


@dataclass(frozen=True)
class Conv2d(OpAttrs):
    kind: ClassVar[str] = "Conv2d"
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    groups: int = 1
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    # Run with the kernel variant that may write the output over its own input
    # (tinyc_depthwise_conv_inplace_s8 for a stride-1, same-size depthwise conv with
    # multiplier 1, tinyc_pointwise_conv_inplace_s8 for a 1x1 one). A memory decision of
    # passes/inplace.py; the arithmetic is the same either way.
    in_place: bool = False
    # (multiplier, shift) for every output channel instead of the pair derived from the scales:
    # TFLite's MEAN as a conv of ones, whose multiplier TFLite Micro divides by the element count
    # without normalising it again (quant/params.py mean_requant).
    fixed_requant: tuple[int, int] | None = None
    # Kernel variants (symbols) the registry must not pick for this node: the DSP cores'
    # im2col variants where their scratch would grow the arena at this step, so the next
    # record (a smaller scratch, or none) runs. A memory decision of passes/scratch.py; the
    # arithmetic is the same either way.
    avoid_variants: tuple[str, ...] = ()
    semantics: str = TFLITE


@dataclass(frozen=True)
class FullyConnected(OpAttrs):
    kind: ClassVar[str] = "FullyConnected"
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    semantics: str = TFLITE


@dataclass(frozen=True)
class Add(OpAttrs):
    """TFLite's int8 Add: both inputs rescaled to a common scale with left_shift 20 (under ONNX
    semantics straight to the output scale, so the sum is rounded once)."""

    kind: ClassVar[str] = "Add"
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    semantics: str = TFLITE


@dataclass(frozen=True)
class Mul(OpAttrs):
    kind: ClassVar[str] = "Mul"
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    semantics: str = TFLITE


@dataclass(frozen=True)
class AveragePool2d(OpAttrs):
    """Window clipped to the input (TFLite) unless count_include_pad.

    With count_include_pad the divisor counts the explicit pads too (ONNX), but never the
    overhang that ceil_mode adds past the bottom/right pad. The output shape (and so
    ceil_mode) is carried by the output tensor.

    `mean_of` names the ONNX form of a ReduceMean lowered to a whole-plane pool under ONNX
    semantics ("" for an AveragePool): MEAN_NCHW (axes [2, 3]) or MEAN_NHWC (axes [1, 2]);
    onnxruntime sums each form in its own float32 order (quant/ort_reduce.py).
    """

    kind: ClassVar[str] = "AveragePool2d"
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    count_include_pad: bool = False
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    semantics: str = TFLITE
    mean_of: str = ""


MEAN_NCHW = "nchw"
MEAN_NHWC = "nhwc"


@dataclass(frozen=True)
class MaxPool2d(OpAttrs):
    kind: ClassVar[str] = "MaxPool2d"
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX


@dataclass(frozen=True)
class Reshape(OpAttrs):
    """Also Flatten, Squeeze, Unsqueeze. Logical row-major reinterpretation."""

    kind: ClassVar[str] = "Reshape"


@dataclass(frozen=True)
class Transpose(OpAttrs):
    kind: ClassVar[str] = "Transpose"
    perm: tuple[int, ...] = ()


@dataclass(frozen=True)
class Concat(OpAttrs):
    kind: ClassVar[str] = "Concat"
    axis: int = 1  # non-negative, logical


@dataclass(frozen=True)
class Pad(OpAttrs):
    kind: ClassVar[str] = "Pad"
    pads: tuple[int, ...] = ()  # ONNX order: begin of every axis, then end of every axis
    value: int = 0  # already quantized: the output zero point for a real 0.0


@dataclass(frozen=True)
class Softmax(OpAttrs):
    """Softmax over the last axis: TFLite's int8 softmax, output (1/256, -128) by construction; under
    ONNX semantics the exact softmax through an exp table, into any output quantization."""

    kind: ClassVar[str] = "Softmax"
    beta: float = 1.0
    semantics: str = TFLITE


@dataclass(frozen=True)
class Lut(OpAttrs):
    """Any int8 -> int8 elementwise function as a 256-entry table indexed by x + 128.

    Used for Sigmoid, Tanh, HardSigmoid, HardSwish, a standalone Relu/Clip and Requantize.
    `function` names what the table computes (for reports and errors).
    """

    kind: ClassVar[str] = "Lut"
    table: tuple[int, ...] = ()
    function: str = "lut"

    def __post_init__(self) -> None:
        if len(self.table) != 256:
            raise ValueError("a Lut table has exactly 256 entries")


@dataclass(frozen=True)
class SignFlip(OpAttrs):
    """The edge of a uint8 model: uint8 q <-> int8 q - 128 (XOR 0x80 on every byte), with the
    zero point moved by 128 the same way, so the real values are unchanged. The only op that
    reads or writes a uint8 tensor (a graph input or output)."""

    kind: ClassVar[str] = "SignFlip"


ALL_OPS: tuple[type[OpAttrs], ...] = (
    Conv2d, FullyConnected, Add, Mul, AveragePool2d, MaxPool2d,
    Reshape, Transpose, Concat, Pad, Softmax, Lut, SignFlip,
)

OPS_BY_KIND: dict[str, type[OpAttrs]] = {op.kind: op for op in ALL_OPS}
