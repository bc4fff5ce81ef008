"""Hand-built IR graphs for the layout, memory and codegen tests (no frontend needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import BoundaryIO, DType, Graph, Node, QuantParams, Tensor

Q = QuantParams.per_tensor(0.5, -3)
MODELS = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny" / "onnx"


def act(name: str, shape: tuple[int, ...], q: QuantParams = Q) -> Tensor:
    return Tensor(name, shape, DType.INT8, q)


def const(name: str, data: np.ndarray, q: QuantParams | None = None) -> Tensor:
    dtype = DType.INT8 if data.dtype == np.int8 else DType.INT32
    return Tensor(name, tuple(data.shape), dtype, q, data)


def graph(tensors: list[Tensor], nodes: list[Node], inp: str, out: str,
          in_dtype: str = "int8", out_dtype: str = "int8", in_shape=None, out_shape=None) -> Graph:
    table = {t.name: t for t in tensors}
    i, o = table[inp], table[out]
    return Graph(
        "handmade", table, tuple(nodes),
        (BoundaryIO(inp, in_dtype, tuple(in_shape or i.shape), inp, i.quant),),
        (BoundaryIO(out, out_dtype, tuple(out_shape or o.shape), out, o.quant),),
    )


def conv_weights(name: str, out_c: int, in_c: int, k: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, size=(out_c, in_c, k, k), dtype=np.int64).astype(np.int8)
    b = rng.integers(-2000, 2000, size=(out_c,), dtype=np.int64).astype(np.int32)
    wq = QuantParams(tuple(0.01 + 0.001 * c for c in range(out_c)), (0,) * out_c, axis=0)
    bq = QuantParams(tuple(0.5 * s for s in wq.scale), (0,) * out_c, axis=0)
    return const(f"{name}_w", w, wq), const(f"{name}_b", b, bq)


def conv(name: str, x: str, w: str, b: str, y: str, **attrs) -> Node:
    return Node(name, ops.Conv2d(**attrs), (x, w, b), (y,))


def reshape_graph(in_shape: tuple[int, ...], out_shape: tuple[int, ...], in_dtype: str = "int8") -> Graph:
    """input -> Reshape -> output: an alias, so the generated code calls no kernel."""
    return graph(
        [act("x", in_shape), act("y", out_shape)],
        [Node("reshape", ops.Reshape(), ("x",), ("y",))],
        "x", "y", in_dtype=in_dtype, out_dtype=in_dtype,
    )


def kws_like() -> Graph:
    """kws's shape of things: NHWC-as-NCHW Reshape in, conv, pool, Reshape to FC, softmax."""
    w1, b1 = conv_weights("c1", 8, 1, 3)
    fw = np.arange(12 * 8, dtype=np.int64).reshape(12, 8).astype(np.int8)
    tensors = [
        act("in", (1, 49, 10, 1)), act("r", (1, 1, 49, 10)), w1, b1, act("c", (1, 8, 25, 5)),
        act("p", (1, 8, 1, 1)), act("f", (1, 8)), const("fw", fw, QuantParams.per_tensor(0.02, 0)),
        act("l", (1, 12)), act("out", (1, 12), QuantParams.per_tensor(1 / 256, -128)),
    ]
    nodes = [
        Node("reshape_in", ops.Reshape(), ("in",), ("r",)),
        conv("conv", "r", "c1_w", "c1_b", "c", strides=(2, 2), pads=(1, 1, 1, 1)),
        Node("pool", ops.AveragePool2d(kernel=(25, 5)), ("c",), ("p",)),
        Node("flatten", ops.Reshape(), ("p",), ("f",)),
        Node("fc", ops.FullyConnected(), ("f", "fw", ""), ("l",)),
        Node("softmax", ops.Softmax(), ("l",), ("out",)),
    ]
    return graph(tensors, nodes, "in", "out")


def vww_like() -> Graph:
    """tf2onnx's image input: NHWC int8 [1,H,W,3], Transpose(0,3,1,2), then convs."""
    w1, b1 = conv_weights("c1", 4, 3, 3)
    tensors = [act("in", (1, 8, 8, 3)), act("t", (1, 3, 8, 8)), w1, b1, act("c", (1, 4, 4, 4)),
               act("p", (1, 4, 1, 1)), act("out", (1, 4))]
    nodes = [
        Node("transpose_in", ops.Transpose(perm=(0, 3, 1, 2)), ("in",), ("t",)),
        conv("conv", "t", "c1_w", "c1_b", "c", strides=(2, 2), pads=(1, 1, 1, 1), act_min=-3),
        Node("pool", ops.AveragePool2d(kernel=(4, 4)), ("c",), ("p",)),
        Node("flatten", ops.Reshape(), ("p",), ("out",)),
    ]
    return graph(tensors, nodes, "in", "out")
