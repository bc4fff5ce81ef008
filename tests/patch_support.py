"""Hand-built NCHW chains for the patch-stage tests: a fixed 3x3 conv, the op under test,
a depthwise conv, a Lut, a residual Add, so a halo propagates through several ops."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from codegen_support import Q, act, conv, conv_weights, graph
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, Node
from tinycc_ml.ir.layout import NHWC
from tinycc_ml.kernels.target import HOST_TARGET
from tinycc_ml.lowering import plan_graph
from tinycc_ml.program import Program, straight_program


def out_size(size: int, k: int, s: int, d: int, pb: int, pe: int) -> int:
    return (size + pb + pe - (k - 1) * d - 1) // s + 1


def chain(k: int, stride: int, dilation: int, pads: tuple[int, int, int, int], h: int = 11, w: int = 5,
          op: str = "conv", residual: bool = True) -> Graph:
    """x -> conv3x3 -> <op under test> -> depthwise 3x3 -> Lut -> (+ residual) -> y."""
    c = 3
    wa, ba = conv_weights("a", c, 2, 3, seed=1)
    tensors = [act("x", (1, 2, h, w)), wa, ba, act("t0", (1, c, h, w))]
    nodes = [conv("ca", "x", "a_w", "a_b", "t0", pads=(1, 1, 1, 1))]
    oh = out_size(h, k, stride, dilation, pads[0], pads[2])
    ow = out_size(w, k, stride, dilation, pads[1], pads[3])
    if op == "conv":
        wb, bb = conv_weights("b", 4, c, k, seed=k)
        tensors += [wb, bb]
        nodes.append(conv("cb", "t0", "b_w", "b_b", "t1", strides=(stride, stride), dilations=(dilation, dilation),
                          pads=pads))
        c1 = 4
    elif op == "depthwise":
        wb, bb = conv_weights("b", c, 1, k, seed=k)
        tensors += [wb, bb]
        nodes.append(conv("cb", "t0", "b_w", "b_b", "t1", strides=(stride, stride), dilations=(dilation, dilation),
                          pads=pads, groups=c))
        c1 = c
    elif op in ("maxpool", "avgpool"):
        kind = ops.MaxPool2d if op == "maxpool" else ops.AveragePool2d
        extra = {} if op == "maxpool" else {"count_include_pad": dilation == 2}  # dilation picks the divisor rule
        oh = out_size(h, k, stride, 1, pads[0], pads[2])
        ow = out_size(w, k, stride, 1, pads[1], pads[3])
        nodes.append(Node("cb", kind(kernel=(k, k), strides=(stride, stride), pads=pads, **extra), ("t0",), ("t1",)))
        c1 = c
    elif op == "pad":
        oh, ow = h + pads[0] + pads[2], w + pads[1] + pads[3]
        nodes.append(Node("cb", ops.Pad(pads=(0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]), value=-3),
                          ("t0",), ("t1",)))
        c1 = c
    else:
        raise ValueError(op)
    wd, bd = conv_weights("d", c1, 1, 3, seed=7)
    table = tuple(int(v) for v in np.clip(np.arange(-128, 128) // 2 + 5, -128, 127))
    tensors += [act("t1", (1, c1, oh, ow)), wd, bd, act("t2", (1, c1, oh, ow)), act("t3", (1, c1, oh, ow))]
    nodes += [conv("cd", "t1", "d_w", "d_b", "t2", pads=(1, 1, 1, 1), groups=c1),
              Node("lut", ops.Lut(table=table, function="half"), ("t2",), ("t3",))]
    last = "t3"
    if residual:
        tensors.append(act("t4", (1, c1, oh, ow)))
        nodes.append(Node("add", ops.Add(), ("t3", "t1"), ("t4",)))
        last = "t4"
    wo, bo = conv_weights("o", 2, c1, 1, seed=9)
    tensors += [wo, bo, act("y", (1, 2, oh, ow))]
    nodes.append(conv("co", last, "o_w", "o_b", "y"))
    return graph(tensors, nodes, "x", "y")


def split_tensor(g: Graph) -> str:
    """The tensor the stage ends at: the input of the final pointwise conv, after the passes."""
    return next(n for n in g.nodes if n.name == "co").inputs[0]


def nhwc_program(g: Graph, planner: str = "greedy_by_size") -> Program:
    """The layer-by-layer Program of `g` with every activation stored NHWC, without the
    passes (no layout transposes, no in-place variants): a quick straight program for the
    many small halo cases; the model tests run the whole pipeline."""
    nhwc = replace(g, dim_orders={t.name: NHWC for t in g.activations()})
    planned = plan_graph(nhwc, HOST_TARGET, planner)
    return straight_program(nhwc, planned.schedule.order, planned.calls, planned.plan, planned.schedule)


__all__ = ["Q", "chain", "nhwc_program", "split_tensor"]
