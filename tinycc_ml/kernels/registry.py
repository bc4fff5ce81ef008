"""Kernel selection: IR node -> the C kernel calls that execute it.

This is the one place where variants are chosen (the kernels never dispatch): a Conv2d
whose groups equal its input channels becomes tinyc_depthwise_conv_s8, any other
tinyc_conv_s8, and so on. Two memory decisions of the passes pick in-place variants: a
conv marked `in_place` runs tinyc_depthwise_conv_inplace_s8 or
tinyc_pointwise_conv_inplace_s8, and a depthwise conv whose tensors the layout pass stored
channel-major (CHW) runs tinyc_depthwise_conv_chw_inplace_s8, with the
tinyc_pointwise_conv_{chw,chw_hwc,hwc_chw}_s8 layout variants for 1x1 convs next to it.
Every constant in a call comes from tinycc_ml/quant (the
interpreter uses the same functions), and every weight is reordered here, at compile
time, into the layout its kernel reads. Parameter structs list their fields in the C
declaration order of runtime_c/include/tinyc/tinyc_nn.h.

Spatial kernels (conv, pooling) read and write NHWC, so their 4-D activations must have
dim order (0, 2, 3, 1), except the channel-major conv variants above; anything else is a
bug in the layout pass (KernelLayoutError).
A model the kernels cannot run at all is a ModelError naming the node.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node, Tensor
from ..quant import params as qparams
from ..quant.fixedpoint import ScaleRangeError
from . import physical
from .call import ConstArg, KernelArg, KernelCall, NullArg, ParamStruct, ScratchArg, TensorArg

NHWC = (0, 2, 3, 1)
CHW = (0, 1, 2, 3)  # channel-major images: NCHW stored row-major
BROADCAST_DIMS = 4  # tinyc_broadcast
TRANSPOSE_DIMS = 6  # TINYC_MAX_DIMS
PAD_DIMS = 4  # tinyc_pad_params
SOFTMAX_MAX_DEPTH = 4095  # a Q12.19 sum of up to 4095 exps (each <= 2^19) fits int32


class KernelLayoutError(RuntimeError):
    """A tensor's physical layout is not what its kernel reads: a compiler bug upstream."""


Builder = Callable[[Node, Graph], list[KernelCall]]


def kernel_calls(node: Node, graph: Graph) -> list[KernelCall]:
    """The C calls that execute `node`, in order (empty when nothing has to move)."""
    builder = _BUILDERS.get(node.kind)
    if builder is None:
        raise ModelError(f"node {node.name}: no C kernel implements op {node.kind}")
    try:
        return builder(node, graph)
    except ScaleRangeError as exc:  # the node's scales, as the model gives them, have no int8 kernel
        raise ModelError(f"node {node.name!r} ({node.kind}): {exc}; {exc.advice}") from None


def scratch_bytes(call: KernelCall) -> int:
    """Scratch the call needs: the Python twin of the kernel's C _get_buffer_size (the
    portable kernels need none; tests compare this with the C function)."""
    return _SCRATCH.get(call.symbol, _no_scratch)(call.params)


def _no_scratch(params: ParamStruct) -> int:
    return 0


def _ring_scratch(params: ParamStruct) -> int:
    """tinyc_depthwise_conv_inplace_s8: a ring of pad_top * in_w + pad_left + 1 input pixels."""
    pixels = params["in_h"] * params["in_w"]
    return min(params["pad_top"] * params["in_w"] + params["pad_left"] + 1, pixels) * params["in_c"]


def _pixel_scratch(params: ParamStruct) -> int:
    """tinyc_pointwise_conv_inplace_s8: one input pixel."""
    return params["in_c"]


def _plane_scratch(params: ParamStruct) -> int:
    """tinyc_depthwise_conv_chw_inplace_s8: one output channel."""
    return params["out_h"] * params["out_w"]


_SCRATCH: dict[str, Callable[[ParamStruct], int]] = {
    "tinyc_conv_s8": _no_scratch,
    "tinyc_depthwise_conv_s8": _no_scratch,
    "tinyc_depthwise_conv_inplace_s8": _ring_scratch,
    "tinyc_depthwise_conv_chw_inplace_s8": _plane_scratch,
    "tinyc_pointwise_conv_inplace_s8": _pixel_scratch,
}


# --- helpers -----------------------------------------------------------------


def _struct(**fields: int | tuple[int, ...] | ParamStruct) -> ParamStruct:
    """A ParamStruct in keyword order (Python keeps it), i.e. the C declaration order."""
    return ParamStruct(tuple(fields.items()))


def _data_arg(graph: Graph, name: str, label: str) -> KernelArg:
    """An operand as an argument: an arena buffer, or a constant emitted to flash in its
    physical order."""
    tensor = graph.tensor(name)
    if tensor.is_constant:
        data = np.transpose(tensor.data, graph.dim_order(name))
        return ConstArg(label, "int8_t", np.ascontiguousarray(data, dtype=np.int8).reshape(-1))
    return TensorArg(name)


def _require_nhwc(node: Node, graph: Graph, name: str) -> None:
    shape = graph.tensor(name).shape
    order = graph.dim_order(name)
    if len(shape) != 4 or not physical.same_layout(shape, order, NHWC):
        raise KernelLayoutError(
            f"node {node.name} ({node.kind}): tensor {name} has shape {list(shape)} and dim order "
            f"{list(order)}; the kernel reads NHWC, dim order [0, 2, 3, 1] (layout pass bug)"
        )


def _require_same_layout(node: Node, graph: Graph, name: str, order: tuple[int, ...]) -> None:
    shape = graph.tensor(name).shape
    if not physical.same_layout(shape, graph.dim_order(name), order):
        raise KernelLayoutError(
            f"node {node.name} ({node.kind}): tensor {name} has dim order {list(graph.dim_order(name))}, "
            f"the kernel needs {list(order)} (layout pass bug)"
        )


def _per_channel_args(requant: qparams.ChannelRequant, channels: int) -> tuple[ConstArg, ConstArg]:
    """Multiplier and shift arrays with one entry per output channel (per-tensor weights
    repeat their single pair)."""
    repeat = channels if len(requant.multipliers) == 1 else 1
    multipliers = np.asarray(requant.multipliers * repeat, dtype=np.int32)
    shifts = np.asarray(requant.shifts * repeat, dtype=np.int32)
    return ConstArg("multiplier", "int32_t", multipliers), ConstArg("shift", "int32_t", shifts)


def _bias_arg(graph: Graph, name: str) -> KernelArg:
    if not name:
        return NullArg()
    return ConstArg("bias", "int32_t", np.asarray(graph.tensor(name).data, dtype=np.int32).reshape(-1))


def _fold_input_offset(
    weights: np.ndarray, bias: KernelArg, input_offset: int
) -> tuple[KernelArg, int] | None:
    """The input offset folded into the bias, for a kernel whose every tap reads the input
    (fully connected, unpadded 1x1 conv): sum (x + off) * w + b == sum x * w + (b + off *
    sum w), exactly, so the kernel's inner loop needs no offset (its DSP path then keeps
    every value in registers: runtime_c/include/tinyc/dot_s8.h). `weights` is [out][taps];
    returns the new bias argument and input offset 0, or None when the offset is already 0
    or a folded bias would leave int32."""
    if input_offset == 0:
        return None
    folded = input_offset * weights.astype(np.int64).sum(axis=1)
    if isinstance(bias, ConstArg):
        folded = folded + np.asarray(bias.values, dtype=np.int64)
    if np.abs(folded).max(initial=0) >= 1 << 31:
        return None
    return ConstArg("bias", "int32_t", folded.astype(np.int32)), 0


def _tensors(node: Node, graph: Graph) -> list[Tensor | None]:
    return [graph.tensor(name) if name else None for name in node.inputs]


# --- convolution and fully connected ----------------------------------------


def _is_layout(graph: Graph, name: str, order: tuple[int, ...]) -> bool:
    shape = graph.tensor(name).shape
    return len(shape) == 4 and physical.same_layout(shape, graph.dim_order(name), order)


def is_pointwise(node: Node, graph: Graph) -> bool:
    """1x1, stride 1, unpadded, ungrouped: a per-pixel matrix product, any layout."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    return (node.kind == "Conv2d" and graph.tensor(node.inputs[1]).shape[2:] == (1, 1) and attrs.groups == 1
            and attrs.strides == (1, 1) and attrs.pads == (0, 0, 0, 0))


def is_plain_depthwise(node: Node, graph: Graph) -> bool:
    """Depthwise with multiplier 1: what the in-place depthwise kernels run."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    return node.kind == "Conv2d" and len(x.shape) == 4 and attrs.groups == x.shape[1] == y.shape[1]


def in_place_capable(node: Node, graph: Graph) -> bool:
    """Has the conv an in-place variant: tinyc_depthwise_conv_inplace_s8 (depthwise
    multiplier 1, stride 1, an output as large as the input) or
    tinyc_pointwise_conv_inplace_s8 (pointwise)?"""
    if node.kind != "Conv2d":
        return False
    if is_pointwise(node, graph):
        return True
    if not is_plain_depthwise(node, graph):
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    return attrs.strides == (1, 1) and x.shape == y.shape


def _conv_symbol(node: Node, graph: Graph) -> str:
    """The variant for a Conv2d, from its shape, its tensors' layouts and its in_place flag."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    depthwise = attrs.groups == x.shape[1] and y.shape[1] % x.shape[1] == 0
    # One input channel (kws's first layer: 1 -> 64): as much a regular conv as a depthwise
    # one with multiplier out_c, and tinyc_conv_s8's DSP path computes four of its output
    # channels per pass over the window; the access models of the two coincide for it.
    depthwise = depthwise and x.shape[1] > 1
    x_nhwc, y_nhwc = _is_layout(graph, x_name, NHWC), _is_layout(graph, y_name, NHWC)
    if x_nhwc and y_nhwc:
        if attrs.in_place:
            if not in_place_capable(node, graph):
                raise KernelLayoutError(f"node {node.name}: marked in_place, but only pointwise convs and stride-1, "
                                        "same-size depthwise convs with multiplier 1 run in place (pass bug)")
            return "tinyc_pointwise_conv_inplace_s8" if is_pointwise(node, graph) else "tinyc_depthwise_conv_inplace_s8"
        return "tinyc_depthwise_conv_s8" if depthwise else "tinyc_conv_s8"
    x_chw, y_chw = _is_layout(graph, x_name, CHW), _is_layout(graph, y_name, CHW)
    if x_chw and y_chw and is_plain_depthwise(node, graph):
        return "tinyc_depthwise_conv_chw_inplace_s8"
    if is_pointwise(node, graph) and (x_chw or x_nhwc) and (y_chw or y_nhwc):
        return {(True, True): "tinyc_pointwise_conv_chw_s8", (True, False): "tinyc_pointwise_conv_chw_hwc_s8",
                (False, True): "tinyc_pointwise_conv_hwc_chw_s8"}[(x_chw and not x_nhwc, y_chw and not y_nhwc)]
    for name in (x_name, y_name):
        _require_nhwc(node, graph, name)  # raises, naming the tensor in the wrong layout
    raise KernelLayoutError(f"node {node.name}: no conv kernel reads {x_name} and writes {y_name} in these layouts")


def _conv2d(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x_name, w_name = node.inputs[0], node.inputs[1]
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    (y_name,) = node.outputs
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    if any(zp != 0 for zp in w.quant.zero_point):
        raise ModelError(f"node {node.name}: conv weights {w_name} must be symmetric (zero point 0)")
    n, in_c, in_h, in_w = x.shape
    out_c, _, kernel_h, kernel_w = w.shape
    _, _, out_h, out_w = y.shape
    symbol = _conv_symbol(node, graph)
    if symbol == "tinyc_depthwise_conv_chw_inplace_s8":
        weights = w.data[:, 0, :, :]  # OIHW (I = 1) -> [C][KH][KW]
    elif symbol.startswith("tinyc_depthwise_conv"):
        weights = w.data[:, 0, :, :].transpose(1, 2, 0)  # OIHW (I = 1) -> [KH][KW][OUT_C]
    elif symbol.startswith("tinyc_pointwise_conv"):
        weights = w.data[:, :, 0, 0]  # [OUT_C][IN_C]
    else:
        weights = w.data.transpose(0, 2, 3, 1)  # OIHW -> OHWI
    input_offset, bias = -x.quant.zp, _bias_arg(graph, b_name)
    folded = _fold_conv_input_offset(symbol, attrs, weights, bias, input_offset)
    if folded is not None:
        bias, input_offset = folded
    p = _struct(
        batch=n, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
        kernel_h=kernel_h, kernel_w=kernel_w,
        stride_h=attrs.strides[0], stride_w=attrs.strides[1],
        dilation_h=attrs.dilations[0], dilation_w=attrs.dilations[1],
        pad_top=attrs.pads[0], pad_left=attrs.pads[1],
        groups=attrs.groups, input_offset=input_offset, output_offset=y.quant.zp,
        act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    multiplier, shift = _per_channel_args(qparams.conv_requant(x.quant, w.quant, y.quant), out_c)
    args = (
        TensorArg(x_name),
        ConstArg("weights", "int8_t", np.ascontiguousarray(weights, dtype=np.int8).reshape(-1)),
        bias,
        multiplier,
        shift,
        TensorArg(y_name),
    )
    if symbol in _SCRATCH and _SCRATCH[symbol] is not _no_scratch:
        args += (ScratchArg(_SCRATCH[symbol](p)),)
    return [KernelCall(node.name, symbol, "tinyc_conv_params", p, args)]


# Conv kernels whose DSP path runs the offset-free loop when the registry folds the input
# offset into the bias (unpadded convs only: a skipped padding tap must add nothing).
_FOLDS_INPUT_OFFSET = frozenset({"tinyc_conv_s8", "tinyc_pointwise_conv_inplace_s8", "tinyc_pointwise_conv_hwc_chw_s8"})


def _fold_conv_input_offset(
    symbol: str, attrs: ops.Conv2d, weights: np.ndarray, bias: KernelArg, input_offset: int
) -> tuple[KernelArg, int] | None:
    if symbol not in _FOLDS_INPUT_OFFSET or any(attrs.pads):
        return None
    return _fold_input_offset(weights.reshape(weights.shape[0], -1), bias, input_offset)


def _fully_connected(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.FullyConnected = node.attrs  # type: ignore[assignment]
    x_name, w_name = node.inputs[0], node.inputs[1]
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    (y_name,) = node.outputs
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    for name in (x_name, y_name):
        _require_same_layout(node, graph, name, tuple(range(len(graph.tensor(name).shape))))
    out_features, in_features = w.shape
    zero_points = set(w.quant.zero_point)
    if len(zero_points) != 1:
        raise ModelError(f"node {node.name}: per-channel weights {w_name} need one common zero point")
    requant = qparams.fully_connected_requant(x.quant, w.quant, y.quant)
    per_channel = len(requant.multipliers) > 1
    input_offset, filter_offset, bias = -x.quant.zp, -zero_points.pop(), _bias_arg(graph, b_name)
    folded = _fold_input_offset(w.data, bias, input_offset) if filter_offset == 0 else None
    if folded is not None:
        bias, input_offset = folded
    p = _struct(
        batch=x.size // in_features, in_features=in_features, out_features=out_features,
        input_offset=input_offset, filter_offset=filter_offset, output_offset=y.quant.zp,
        per_channel=int(per_channel), act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    args = (
        TensorArg(x_name),
        ConstArg("weights", "int8_t", np.ascontiguousarray(w.data, dtype=np.int8).reshape(-1)),
        bias,
        ConstArg("multiplier", "int32_t", np.asarray(requant.multipliers, dtype=np.int32)),
        ConstArg("shift", "int32_t", np.asarray(requant.shifts, dtype=np.int32)),
        TensorArg(y_name),
    )
    return [KernelCall(node.name, "tinyc_fully_connected_s8", "tinyc_fully_connected_params", p, args)]


# --- elementwise -------------------------------------------------------------


def _broadcast(node: Node, graph: Graph) -> ParamStruct:
    a_name, b_name = node.inputs
    (y_name,) = node.outputs
    a, b, y = graph.tensor(a_name), graph.tensor(b_name), graph.tensor(y_name)
    y_order = graph.dim_order(y_name)
    dims = physical.physical_shape(y.shape, y_order)
    a_strides = physical.broadcast_strides(y.shape, y_order, a.shape, graph.dim_order(a_name))
    b_strides = physical.broadcast_strides(y.shape, y_order, b.shape, graph.dim_order(b_name))
    dims, (a_strides, b_strides) = physical.simplify(dims, a_strides, b_strides)
    if len(dims) > BROADCAST_DIMS:
        raise ModelError(
            f"node {node.name} ({node.kind}): broadcasting {list(a.shape)} with {list(b.shape)} needs "
            f"{len(dims)} strided dims in memory; the kernel supports {BROADCAST_DIMS}"
        )
    return _struct(
        dims=physical.pad_leading(dims, BROADCAST_DIMS, 1),
        a_strides=physical.pad_leading(a_strides, BROADCAST_DIMS, 0),
        b_strides=physical.pad_leading(b_strides, BROADCAST_DIMS, 0),
    )


def _elementwise_args(node: Node, graph: Graph) -> tuple[KernelArg, ...]:
    a_name, b_name = node.inputs
    return (_data_arg(graph, a_name, "a"), _data_arg(graph, b_name, "b"), TensorArg(node.outputs[0]))


def _add(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Add = node.attrs  # type: ignore[assignment]
    a, b = _tensors(node, graph)
    y = graph.tensor(node.outputs[0])
    q = qparams.add_params(a.quant, b.quant, y.quant)
    p = _struct(
        shape=_broadcast(node, graph),
        input1_offset=q.input1_offset, input2_offset=q.input2_offset, output_offset=q.output_offset,
        input1_multiplier=q.input1_multiplier, input1_shift=q.input1_shift,
        input2_multiplier=q.input2_multiplier, input2_shift=q.input2_shift,
        output_multiplier=q.output_multiplier, output_shift=q.output_shift,
        left_shift=q.left_shift, act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    return [KernelCall(node.name, "tinyc_add_s8", "tinyc_add_params", p, _elementwise_args(node, graph))]


def _mul(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Mul = node.attrs  # type: ignore[assignment]
    a, b = _tensors(node, graph)
    y = graph.tensor(node.outputs[0])
    q = qparams.mul_params(a.quant, b.quant, y.quant)
    p = _struct(
        shape=_broadcast(node, graph),
        input1_offset=q.input1_offset, input2_offset=q.input2_offset, output_offset=q.output_offset,
        output_multiplier=q.output_multiplier, output_shift=q.output_shift,
        act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    return [KernelCall(node.name, "tinyc_mul_s8", "tinyc_mul_params", p, _elementwise_args(node, graph))]


def _lut(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Lut = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    _require_same_layout(node, graph, x_name, graph.dim_order(y_name))
    table = ConstArg("table", "int8_t", np.asarray(attrs.table, dtype=np.int8))
    p = _struct(size=graph.tensor(y_name).size)
    args = (table, _data_arg(graph, x_name, "x"), TensorArg(y_name))
    return [KernelCall(node.name, "tinyc_lut_s8", "tinyc_lut_params", p, args)]


def _softmax(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Softmax = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    order = graph.dim_order(x_name)
    moving = [axis for axis in order if x.shape[axis] != 1]
    if not physical.same_layout(x.shape, order, graph.dim_order(y_name)) or (
        x.shape[-1] != 1 and moving[-1] != len(x.shape) - 1
    ):
        raise KernelLayoutError(
            f"node {node.name} (Softmax): {x_name} and {y_name} must share a layout whose innermost "
            f"axis is the softmax axis; dim orders {list(order)}, {list(graph.dim_order(y_name))}"
        )
    if y.quant.s != 1.0 / 256.0 or y.quant.zp != -128:
        raise ModelError(f"node {node.name}: Softmax output {y_name} must be quantized (1/256, -128)")
    depth = x.shape[-1]
    if depth > SOFTMAX_MAX_DEPTH:
        raise ModelError(f"node {node.name}: Softmax over {depth} values; the int8 kernel supports {SOFTMAX_MAX_DEPTH}")
    q = qparams.softmax_params(x.quant, attrs.beta)
    p = _struct(
        outer=x.size // depth, depth=depth,
        input_multiplier=q.input_multiplier, input_left_shift=q.input_left_shift, diff_min=q.diff_min,
    )  # fmt: skip
    args = (TensorArg(x_name), TensorArg(y_name))
    return [KernelCall(node.name, "tinyc_softmax_s8", "tinyc_softmax_params", p, args)]


# --- pooling -----------------------------------------------------------------


def _pool(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.AveragePool2d | ops.MaxPool2d = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    _require_nhwc(node, graph, x_name)
    _require_nhwc(node, graph, y_name)
    average = isinstance(attrs, ops.AveragePool2d)
    if average:
        q = qparams.avgpool_params(x.quant, y.quant)
        requant = dict(requantize=int(q.requantize), multiplier=q.multiplier, shift=q.shift)
        offsets = dict(input_offset=-x.quant.zp, output_offset=y.quant.zp)
    else:
        if x.quant != y.quant:
            raise ModelError(
                f"node {node.name}: MaxPool2d input {x_name} and output {y_name} are quantized differently"
            )
        requant = dict(requantize=0, multiplier=0, shift=0)
        offsets = dict(input_offset=0, output_offset=0)
    n, channels, in_h, in_w = x.shape
    p = _struct(
        batch=n, in_h=in_h, in_w=in_w, channels=channels, out_h=y.shape[2], out_w=y.shape[3],
        kernel_h=attrs.kernel[0], kernel_w=attrs.kernel[1],
        stride_h=attrs.strides[0], stride_w=attrs.strides[1],
        pad_top=attrs.pads[0], pad_left=attrs.pads[1], pad_bottom=attrs.pads[2], pad_right=attrs.pads[3],
        count_include_pad=int(average and attrs.count_include_pad),  # type: ignore[union-attr]
        requantize=requant["requantize"],
        input_offset=offsets["input_offset"], output_offset=offsets["output_offset"],
        multiplier=requant["multiplier"], shift=requant["shift"],
        act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    symbol = "tinyc_avgpool_s8" if average else "tinyc_maxpool_s8"
    return [KernelCall(node.name, symbol, "tinyc_pool_params", p, (TensorArg(x_name), TensorArg(y_name)))]


# --- data movement -----------------------------------------------------------


def _strided_copy(node: Node, graph: Graph, dims: tuple[int, ...], strides: tuple[int, ...]) -> list[KernelCall]:
    dims, (strides,) = physical.simplify(dims, strides)
    if len(dims) > TRANSPOSE_DIMS:
        raise ModelError(
            f"node {node.name} ({node.kind}): needs a {len(dims)}-D strided copy; the kernel supports {TRANSPOSE_DIMS}"
        )
    p = _struct(
        out_dims=physical.pad_leading(dims, TRANSPOSE_DIMS, 1),
        in_strides=physical.pad_leading(strides, TRANSPOSE_DIMS, 0),
    )
    args = (_data_arg(graph, node.inputs[0], "x"), TensorArg(node.outputs[0]))
    return [KernelCall(node.name, "tinyc_transpose_s8", "tinyc_transpose_params", p, args)]


def _transpose(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Transpose = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    y_order = graph.dim_order(y_name)
    strides = physical.transpose_strides(attrs.perm, y_order, x.shape, graph.dim_order(x_name))
    return _strided_copy(node, graph, physical.physical_shape(y.shape, y_order), strides)


def _reshape(node: Node, graph: Graph) -> list[KernelCall]:
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    x_order, y_order = graph.dim_order(x_name), graph.dim_order(y_name)
    if _flat_positions(x.shape, x_order).tolist() == _flat_positions(y.shape, y_order).tolist():
        return []  # same bytes in the same places: the planner may alias the two buffers
    copy = physical.reshape_copy(x.shape, x_order, y.shape, y_order)
    if copy is None:
        raise ModelError(
            f"node {node.name} (Reshape): {x_name} (dim order {list(x_order)}) to {y_name} "
            f"(dim order {list(y_order)}) needs two copies; the layout pass must make one side row-major"
        )
    return _strided_copy(node, graph, *copy)


def _flat_positions(shape: tuple[int, ...], order: tuple[int, ...]) -> np.ndarray:
    """For each byte in memory, the logical row-major index of the element it holds."""
    size = int(np.prod(shape, dtype=np.int64))
    return np.arange(size).reshape(shape).transpose(order).reshape(-1)


def _concat(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Concat = node.attrs  # type: ignore[assignment]
    (y_name,) = node.outputs
    y = graph.tensor(y_name)
    y_order = graph.dim_order(y_name)
    position = y_order.index(attrs.axis)
    y_dims = physical.physical_shape(y.shape, y_order)
    outer = int(np.prod(y_dims[:position], dtype=np.int64))
    inner_unit = int(np.prod(y_dims[position + 1 :], dtype=np.int64))
    calls = []
    offset = 0
    for index, name in enumerate(n for n in node.inputs if n):
        x = graph.tensor(name)
        _require_same_layout(node, graph, name, y_order)
        inner = x.shape[attrs.axis] * inner_unit
        p = _struct(outer=outer, inner=inner, out_inner=y.shape[attrs.axis] * inner_unit, offset=offset)
        args = (_data_arg(graph, name, f"x{index}"), TensorArg(y_name))
        calls.append(KernelCall(node.name, "tinyc_concat_s8", "tinyc_concat_params", p, args))
        offset += inner
    return calls


def _pad(node: Node, graph: Graph) -> list[KernelCall]:
    attrs: ops.Pad = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x = graph.tensor(x_name)
    order = graph.dim_order(y_name)
    _require_same_layout(node, graph, x_name, order)
    rank = len(x.shape)
    in_dims = [x.shape[axis] for axis in order]
    before = [attrs.pads[axis] for axis in order]
    after = [attrs.pads[rank + axis] for axis in order]
    # Drop untouched extent-1 dims; fold a dim into its outer neighbour when it has no pads.
    merged: list[list[int]] = []
    for d, pb, pa in zip(in_dims, before, after):
        if d == 1 and pb == 0 and pa == 0:
            continue
        if merged and pb == 0 and pa == 0:
            merged[-1] = [merged[-1][0] * d, merged[-1][1] * d, merged[-1][2] * d]
            continue
        merged.append([d, pb, pa])
    if len(merged) > PAD_DIMS:
        raise ModelError(f"node {node.name} (Pad): pads {len(merged)} dims in memory; the kernel supports {PAD_DIMS}")
    merged = [[1, 0, 0]] * (PAD_DIMS - len(merged)) + merged
    p = _struct(
        in_dims=tuple(m[0] for m in merged),
        pad_before=tuple(m[1] for m in merged),
        pad_after=tuple(m[2] for m in merged),
        value=attrs.value,
    )
    args = (_data_arg(graph, x_name, "x"), TensorArg(y_name))
    return [KernelCall(node.name, "tinyc_pad_s8", "tinyc_pad_params", p, args)]


_BUILDERS: dict[str, Builder] = {
    ops.Conv2d.kind: _conv2d,
    ops.FullyConnected.kind: _fully_connected,
    ops.Add.kind: _add,
    ops.Mul.kind: _mul,
    ops.AveragePool2d.kind: _pool,
    ops.MaxPool2d.kind: _pool,
    ops.Softmax.kind: _softmax,
    ops.Lut.kind: _lut,
    ops.Transpose.kind: _transpose,
    ops.Reshape.kind: _reshape,
    ops.Concat.kind: _concat,
    ops.Pad.kind: _pad,
}
