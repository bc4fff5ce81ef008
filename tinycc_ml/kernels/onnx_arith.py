"""Kernel variants for ONNX semantics (ops.ONNX): ops whose ONNX definition the TFLite kernels'
constants cannot express. Conv, fully connected, Add and Mul need none: their single-rounding
constants (quant/params.py) run on the shared kernels unchanged.

* tinyc_softmax_table_s8: the exact softmax through a compile-time exp table, quantized once
  into any output quantization (quant/softmax_table.py);
* tinyc_avgpool_onnx_s8: onnxruntime's float32 DequantizeLinear -> AveragePool -> QuantizeLinear,
  operation by operation in MLAS's summation order (quant/ort_pool.py);
* tinyc_reduce_mean_onnx_s8: a ReduceMean lowered to a whole-plane pool (AveragePool2d.mean_of),
  in onnxruntime's reduction order for its ONNX form (quant/ort_reduce.py).

The registry lists these before the TFLite records of the same op kinds; each applies only to
nodes whose attributes say "onnx".
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node
from ..quant import ort_pool
from ..quant import params as qparams
from ..quant.softmax_table import softmax_table_params
from . import access
from .call import ConstArg, KernelCall, TensorArg
from .common import require_nhwc, struct
from .elementwise import require_softmax_rows
from .target import KernelTarget
from .variant import KernelVariant, RowStrides

SOFTMAX_TABLE_MAX_DEPTH = 1 << 16  # the uint64 sum of exps (each <= 2^24) and its quotient stay exact


def _onnx(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return getattr(node.attrs, "semantics", ops.TFLITE) == ops.ONNX


def _onnx_pool(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return _onnx(node, graph, target) and not node.attrs.mean_of  # type: ignore[attr-defined]


def _onnx_mean(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return _onnx(node, graph, target) and bool(node.attrs.mean_of)  # type: ignore[attr-defined]


def build_softmax_table(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    del strides  # dense tensors only
    attrs: ops.Softmax = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    require_softmax_rows(node, graph)
    depth = x.shape[-1]
    if depth > SOFTMAX_TABLE_MAX_DEPTH:
        raise ModelError(f"node {node.name}: Softmax over {depth} values; the table kernel supports "
                         f"{SOFTMAX_TABLE_MAX_DEPTH}")
    q = softmax_table_params(x.quant, y.quant, attrs.beta)
    p = struct(outer=x.size // depth, depth=depth, output_multiplier=q.output_multiplier,
               output_shift=q.output_shift, output_offset=q.output_offset)
    table = ConstArg("exp_table", "int32_t", np.asarray(q.exp_table, dtype=np.int32))
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, (table, TensorArg(x_name), TensorArg(y_name)))]


def build_avgpool_onnx(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    del strides  # dense tensors only (the record does not take row strides)
    attrs: ops.AveragePool2d = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    require_nhwc(node, graph, x_name)
    require_nhwc(node, graph, y_name)
    if attrs.kernel[0] * attrs.kernel[1] > qparams.MAX_POOL_WINDOW:
        raise ModelError(f"node {node.name}: an average pool window of {attrs.kernel[0]}x{attrs.kernel[1]} cells; "
                         f"the ONNX-semantics kernel supports {qparams.MAX_POOL_WINDOW}")
    n, channels, in_h, in_w = x.shape
    order = ort_pool.summation_order((in_h, in_w), attrs.kernel, attrs.strides, attrs.pads, attrs.mean_of)
    # multiplier / shift carry the float32 bit patterns of the two scales, requantize the order
    p = struct(
        batch=n, in_h=in_h, in_w=in_w, channels=channels, out_h=y.shape[2], out_w=y.shape[3],
        kernel_h=attrs.kernel[0], kernel_w=attrs.kernel[1],
        stride_h=attrs.strides[0], stride_w=attrs.strides[1],
        pad_top=attrs.pads[0], pad_left=attrs.pads[1], pad_bottom=attrs.pads[2], pad_right=attrs.pads[3],
        count_include_pad=int(attrs.count_include_pad), requantize=order,
        input_offset=-int(x.quant.zp), output_offset=int(y.quant.zp),
        multiplier=ort_pool.float32_bits(float(x.quant.s)), shift=ort_pool.float32_bits(float(y.quant.s)),
        act_min=attrs.act_min, act_max=attrs.act_max,
        input_row_stride=in_w * channels, output_row_stride=y.shape[3] * channels,
    )  # fmt: skip
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, (TensorArg(x_name), TensorArg(y_name)))]


ONNX_VARIANTS: tuple[KernelVariant, ...] = (
    KernelVariant("tinyc_softmax_table_s8", "tinyc_softmax_table_params", (ops.Softmax.kind,), 3,
                  "tinyc_softmax_table_s8.c", build_softmax_table, applies=_onnx, access=access.softmax,
                  reason="softmax, row by row"),
    KernelVariant("tinyc_avgpool_onnx_s8", "tinyc_pool_params", (ops.AveragePool2d.kind,), 2,
                  "tinyc_avgpool_onnx_s8.c", build_avgpool_onnx, applies=_onnx_pool, access=access.pool,
                  reason="average pooling, window by window"),
    KernelVariant("tinyc_reduce_mean_onnx_s8", "tinyc_pool_params", (ops.AveragePool2d.kind,), 2,
                  "tinyc_reduce_mean_onnx_s8.c", build_avgpool_onnx, applies=_onnx_mean, access=access.pool,
                  reason="a whole-plane mean, channel by channel"),
)
