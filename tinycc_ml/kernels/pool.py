"""Average and max pooling on NHWC images (whole tensors, or regions of a larger image
through their row strides)."""

from __future__ import annotations

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node
from ..quant import params as qparams
from . import access
from .call import KernelCall, TensorArg
from .common import image_row_stride, require_nhwc, struct
from .variant import KernelVariant, RowStrides


def build_pool(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.AveragePool2d | ops.MaxPool2d = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    require_nhwc(node, graph, x_name)
    require_nhwc(node, graph, y_name)
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
    p = struct(
        batch=n, in_h=in_h, in_w=in_w, channels=channels, out_h=y.shape[2], out_w=y.shape[3],
        kernel_h=attrs.kernel[0], kernel_w=attrs.kernel[1],
        stride_h=attrs.strides[0], stride_w=attrs.strides[1],
        pad_top=attrs.pads[0], pad_left=attrs.pads[1], pad_bottom=attrs.pads[2], pad_right=attrs.pads[3],
        count_include_pad=int(average and attrs.count_include_pad),  # type: ignore[union-attr]
        requantize=requant["requantize"],
        input_offset=offsets["input_offset"], output_offset=offsets["output_offset"],
        multiplier=requant["multiplier"], shift=requant["shift"],
        act_min=attrs.act_min, act_max=attrs.act_max,
        input_row_stride=image_row_stride(graph, strides, x_name), output_row_stride=image_row_stride(graph, strides, y_name),
    )  # fmt: skip
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, (TensorArg(x_name), TensorArg(y_name)))]


POOL_VARIANTS: tuple[KernelVariant, ...] = (
    KernelVariant("tinyc_avgpool_s8", "tinyc_pool_params", (ops.AveragePool2d.kind,), 2, "tinyc_avgpool_s8.c",
                  build_pool, access=access.pool, reason="average pooling, window by window", row_strides=True),
    KernelVariant("tinyc_maxpool_s8", "tinyc_pool_params", (ops.MaxPool2d.kind,), 2, "tinyc_maxpool_s8.c",
                  build_pool, access=access.pool, reason="max pooling, window by window", row_strides=True),
)
