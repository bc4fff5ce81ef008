"""ONNX frontend, QOperator form: onnxruntime quantize_static(QuantFormat.QOperator) models."""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np
import onnx
from onnx import numpy_helper

from frontend_support import (
    add_model,
    concat_model,
    conv_model,
    gemm_model,
    nhwc_input_model,
    pool_model,
    quantize,
    softmax_model,
    squeeze_excite_model,
    unary_model,
)
from tinycc_ml.frontend import import_model
from tinycc_ml.interp import run_graph
from tinycc_ml.ir import DType, Graph, QuantParams, ops
from tinycc_ml.quant.lut import elementwise_table

SOFTMAX_Q = QuantParams.per_tensor(1 / 256, -128)


@cache
def qop(builder, *args, **kwargs) -> tuple[onnx.ModelProto, Graph]:
    float_model = builder(*args, **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()})
    q = quantize(float_model, "QOperator")
    return q, import_model(q, builder.__name__)


def onnx_ops(model: onnx.ModelProto) -> dict[str, int]:
    return dict(Counter(n.op_type for n in model.graph.node))


def kinds(graph: Graph) -> dict[str, int]:
    return dict(Counter(n.kind for n in graph.nodes))


def const(model: onnx.ModelProto, name: str) -> np.ndarray:
    return next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name)


def onnx_node(model: onnx.ModelProto, op_type: str) -> onnx.NodeProto:
    (node,) = [n for n in model.graph.node if n.op_type == op_type]
    return node


def declared(model: onnx.ModelProto, node: onnx.NodeProto, scale_index: int) -> QuantParams:
    return QuantParams.per_tensor(float(const(model, node.input[scale_index])), int(const(model, node.input[scale_index + 1])))


def test_qlinear_conv():
    q, graph = qop(conv_model, strides=(2, 2), pads=(1, 0, 1, 0))
    assert onnx_ops(q) == {"QuantizeLinear": 1, "QLinearConv": 1, "DequantizeLinear": 1}
    assert kinds(graph) == {"Conv2d": 1}
    node = onnx_node(q, "QLinearConv")
    conv = graph.nodes[0]
    assert conv.name == node.name
    assert graph.semantics == ops.ONNX  # onnxruntime-born: ONNX's arithmetic (frontend/semantics.py)
    assert conv.attrs == ops.Conv2d(strides=(2, 2), pads=(1, 0, 1, 0), semantics=ops.ONNX)
    assert conv.outputs == (node.output[0],)
    assert graph.tensor(conv.outputs[0]).quant == declared(q, node, 6)
    assert graph.tensor(conv.inputs[0]).quant == declared(q, node, 1) == graph.inputs[0].quant
    w = graph.tensor(conv.inputs[1])
    np.testing.assert_array_equal(w.data, const(q, node.input[3]))
    assert w.quant.scale == tuple(float(s) for s in const(q, node.input[4])) and w.quant.axis == 0
    bias = graph.tensor(conv.inputs[2])
    np.testing.assert_array_equal(bias.data, const(q, node.input[8]))
    assert bias.dtype == DType.INT32
    assert graph.inputs[0].onnx_dtype == "float32" and graph.outputs[0].onnx_dtype == "float32"


def test_qlinear_depthwise_conv():
    q, graph = qop(conv_model, x_shape=(1, 4, 6, 6), out_ch=4, group=4, pads=(1, 1, 1, 1))
    (conv,) = graph.nodes
    assert conv.attrs.groups == 4 and graph.tensor(conv.inputs[1]).shape == (4, 1, 3, 3)
    assert graph.tensor(conv.outputs[0]).shape == (1, 4, 6, 6)


def test_qgemm_both_weight_layouts():
    for trans_b in (True, False):
        q, graph = qop(gemm_model, trans_b)
        node = onnx_node(q, "QGemm")
        assert node.domain == "com.microsoft"
        (fc,) = graph.nodes
        assert fc.kind == "FullyConnected" and fc.name == node.name
        w = graph.tensor(fc.inputs[1])
        onnx_w = const(q, node.input[3])
        np.testing.assert_array_equal(w.data, onnx_w if trans_b else onnx_w.T)
        assert w.shape == (5, 12) and w.quant.axis == 0
        assert graph.tensor(fc.outputs[0]).quant == declared(q, node, 7)
        np.testing.assert_array_equal(graph.tensor(fc.inputs[2]).data, const(q, node.input[6]))


def test_qlinear_add():
    q, graph = qop(add_model)
    assert onnx_ops(q)["QLinearAdd"] == 1
    node = onnx_node(q, "QLinearAdd")
    add = next(n for n in graph.nodes if n.kind == "Add")
    assert add.name == node.name and add.inputs == (node.input[0], node.input[3])
    assert graph.tensor(add.outputs[0]).quant == declared(q, node, 6)
    assert graph.tensor(add.inputs[0]).quant == declared(q, node, 1)
    assert graph.tensor(add.inputs[1]).quant == declared(q, node, 4)


def test_qlinear_mul_global_pool_and_sigmoid_squeeze_excite():
    q, graph = qop(squeeze_excite_model)
    assert {"QLinearGlobalAveragePool", "QLinearSigmoid", "QLinearMul"} <= set(onnx_ops(q))
    assert kinds(graph) == {"Conv2d": 1, "AveragePool2d": 1, "Lut": 1, "Mul": 1}
    gap = next(n for n in graph.nodes if n.kind == "AveragePool2d")
    assert gap.attrs.kernel == (5, 5) and graph.tensor(gap.outputs[0]).shape == (1, 4, 1, 1)
    gap_node = onnx_node(q, "QLinearGlobalAveragePool")
    assert graph.tensor(gap.outputs[0]).quant == declared(q, gap_node, 3)
    lut = next(n for n in graph.nodes if n.kind == "Lut")
    sig = onnx_node(q, "QLinearSigmoid")
    assert lut.attrs.function == "sigmoid"
    assert lut.attrs.table == elementwise_table("sigmoid", {}, declared(q, sig, 1), declared(q, sig, 3))
    mul = next(n for n in graph.nodes if n.kind == "Mul")
    assert [graph.tensor(i).shape for i in mul.inputs] == [(1, 4, 5, 5), (1, 4, 1, 1)]
    assert graph.tensor(mul.outputs[0]).quant == declared(q, onnx_node(q, "QLinearMul"), 6)


def test_qlinear_average_pool():
    q, graph = qop(pool_model, "AveragePool", kernel_shape=(3, 3), strides=(2, 2), pads=(0, 0, 1, 1),
                   count_include_pad=1)
    node = onnx_node(q, "QLinearAveragePool")
    pool = next(n for n in graph.nodes if n.kind == "AveragePool2d")
    assert pool.name == node.name
    assert pool.attrs == ops.AveragePool2d(kernel=(3, 3), strides=(2, 2), pads=(0, 0, 1, 1), count_include_pad=True,
                                       semantics=ops.ONNX)
    assert graph.tensor(pool.outputs[0]).shape == (1, 3, 3, 3)
    assert graph.tensor(pool.outputs[0]).quant == declared(q, node, 3)
    assert graph.tensor(pool.inputs[0]).quant == declared(q, node, 1)


def test_int8_max_pool_between_qlinear_ops():
    q, graph = qop(pool_model, "MaxPool", kernel_shape=(2, 2), strides=(2, 2))
    assert onnx_ops(q)["MaxPool"] == 1
    pool = next(n for n in graph.nodes if n.kind == "MaxPool2d")
    assert pool.attrs == ops.MaxPool2d(kernel=(2, 2), strides=(2, 2))
    assert graph.tensor(pool.inputs[0]).quant == graph.tensor(pool.outputs[0]).quant
    assert graph.tensor(pool.outputs[0]).shape == (1, 3, 3, 3)


def test_qlinear_concat_requantizes_differing_inputs():
    q, graph = qop(concat_model)
    node = onnx_node(q, "QLinearConcat")
    concat = next(n for n in graph.nodes if n.kind == "Concat")
    out_q = declared(q, node, 0)
    assert graph.tensor(concat.outputs[0]).quant == out_q and concat.attrs.axis == 1
    # each input whose declared quantization differs from the output's gets a requantize Lut
    differing = sum(declared(q, node, i + 1) != out_q for i in range(2, len(node.input), 3))
    luts = [n for n in graph.nodes if n.kind == "Lut"]
    assert len(luts) == differing >= 1
    for lut in luts:
        # ONNX semantics: QuantizeLinear(DequantizeLinear(x)) in float32, as onnxruntime requantizes
        assert lut.attrs.table == elementwise_table("identity", {}, graph.tensor(lut.inputs[0]).quant, out_q)
    assert all(graph.tensor(i).quant == out_q for i in concat.inputs)


def test_qlinear_softmax_output_is_already_tflite_scale():
    q, graph = qop(softmax_model)
    node = onnx_node(q, "QLinearSoftmax")
    assert declared(q, node, 3) == SOFTMAX_Q
    (softmax,) = graph.nodes
    assert softmax.kind == "Softmax" and graph.tensor(softmax.outputs[0]).quant == SOFTMAX_Q


def test_qlinear_sigmoid_standalone():
    q, graph = qop(unary_model, "Sigmoid")
    (lut,) = graph.nodes
    assert lut.attrs.function == "sigmoid" and lut.name == onnx_node(q, "QLinearSigmoid").name


def test_qlinear_leaky_relu_within_one_lsb_of_onnxruntime():
    """onnxruntime's QOperator form of LeakyRelu (com.microsoft QLinearLeakyRelu): a table of
    ONNX's formula between its declared quantizations, and onnxruntime's own outputs."""
    import onnxruntime as ort

    q, graph = qop(unary_model, "LeakyRelu", alpha=0.3)
    node = onnx_node(q, "QLinearLeakyRelu")
    (lut,) = graph.nodes
    assert lut.attrs.function == "leakyrelu" and lut.name == node.name
    assert lut.attrs.table == elementwise_table("leakyrelu", {"alpha": 0.3}, declared(q, node, 1), declared(q, node, 3))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(q.SerializeToString(), options, providers=["CPUExecutionProvider"])
    step = np.float32(declared(q, node, 3).s)
    for seed in range(4):
        x = np.random.default_rng(seed).normal(0, 1.5, size=(1, 3, 4, 4)).astype(np.float32)
        (theirs,) = session.run(None, {q.graph.input[0].name: x})
        ours = run_graph(graph, {graph.inputs[0].onnx_name: x})[graph.outputs[0].onnx_name]
        assert np.abs(np.rint(ours / step) - np.rint(theirs / step)).max() <= 1


def test_float_transpose_before_quantize_and_int8_flatten():
    q, graph = qop(nhwc_input_model)
    assert onnx_ops(q)["Transpose"] == 1 and onnx_ops(q)["Flatten"] == 1
    assert [n.kind for n in graph.nodes] == ["Transpose", "Conv2d", "Reshape", "FullyConnected"]
    assert graph.inputs[0].tensor == "x" and graph.tensor("x").shape == (1, 6, 6, 3)
    flatten = graph.nodes[2]
    assert graph.tensor(flatten.outputs[0]).shape == (1, 4 * 6 * 6)
    assert graph.tensor(flatten.inputs[0]).quant == graph.tensor(flatten.outputs[0]).quant


# ---- ConvInteger / MatMulInteger in their plain static form ---------------------------------


def _integer_model(op: str, scale: np.ndarray, with_bias: bool) -> onnx.ModelProto:
    from onnx import TensorProto, helper

    from frontend_support import model, scalar

    rng = np.random.default_rng(40)
    conv = op == "ConvInteger"
    w = rng.integers(-127, 128, (3, 2, 3, 3) if conv else (6, 3)).astype(np.int8)
    x_shape = (1, 2, 5, 5) if conv else (1, 6)
    attrs = {"pads": [1, 1, 1, 1]} if conv else {}
    nodes = [
        helper.make_node(op, ["x", "w", "x_zp"], ["acc"], name="integer", **attrs),
        helper.make_node("Cast", ["acc"], ["accf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["accf", "c"], ["scaled"], name="rescale"),
    ]
    inits = {"w": w, "x_zp": scalar(-4, np.int8), "c": scale, "x_s": scalar(0.5, np.float32),
             "y_s": scalar(0.25, np.float32), "y_zp": scalar(-128, np.int8)}
    last = "scaled"
    if with_bias:
        nodes.append(helper.make_node("DequantizeLinear", ["b", "b_s", "b_zp"], ["bf"], name="dq_b", axis=0))
        nodes.append(helper.make_node("Add", ["scaled", "bf"], ["biased"], name="bias_add"))
        inits.update({"b": np.arange(3, dtype=np.int32), "b_s": scale.reshape(-1).astype(np.float32),
                      "b_zp": np.zeros(3, np.int32)})
        last = "biased"
    nodes += [helper.make_node("Relu", [last], ["r"], name="relu"),
              helper.make_node("QuantizeLinear", ["r", "y_s", "y_zp"], ["y"], name="q_y"),
              # the input's scale is declared by a DequantizeLinear reading it (tf2onnx style)
              helper.make_node("DequantizeLinear", ["x", "x_s", "x_zp"], ["unused"], name="dq_x")]
    return model(nodes, ("x", x_shape), ("y", None), inits, TensorProto.INT8, TensorProto.INT8)


def test_matmul_integer_static_pattern_is_fully_connected():
    scale = np.array([0.01, 0.02, 0.03], np.float32)  # per output column of the [K, M] weight
    m = _integer_model("MatMulInteger", scale, with_bias=True)
    graph = import_model(m, "mmi")
    (fc,) = [n for n in graph.nodes]
    assert fc.kind == "FullyConnected" and fc.name == "integer"
    w = graph.tensor(fc.inputs[1])
    onnx_w = const(m, "w")
    np.testing.assert_array_equal(w.data, onnx_w.T)
    assert w.quant == QuantParams(tuple(float(np.float32(s) / np.float32(0.5)) for s in scale), (0, 0, 0), 0)
    np.testing.assert_array_equal(graph.tensor(fc.inputs[2]).data, [0, 1, 2])
    assert graph.tensor(fc.inputs[0]).quant == QuantParams.per_tensor(0.5, -4)
    assert (fc.attrs.act_min, fc.attrs.act_max) == (-128, 127)


def test_conv_integer_static_pattern_is_conv():
    m = _integer_model("ConvInteger", np.array([0.01, 0.02, 0.03], np.float32).reshape(1, 3, 1, 1), with_bias=False)
    graph = import_model(m, "ci")
    (conv,) = graph.nodes
    assert conv.kind == "Conv2d" and conv.attrs.pads == (1, 1, 1, 1) and conv.inputs[2] == ""
    assert graph.tensor(conv.inputs[1]).quant.axis == 0
    assert graph.tensor(conv.outputs[0]).shape == (1, 3, 5, 5)


def test_add_of_a_quantized_constant_in_both_forms():
    from frontend_support import add_constant_model

    for fmt in ("QDQ", "QOperator"):
        q = quantize(add_constant_model(), fmt)
        graph = import_model(q, "addc")
        add = next(n for n in graph.nodes if n.kind == "Add")
        act, k = (graph.tensor(i) for i in add.inputs)
        assert not act.is_constant and k.is_constant and k.name == "k_quantized"
        assert k.dtype == DType.INT8 and k.shape == (1, 3, 1, 1) and k.quant.is_per_tensor
        np.testing.assert_array_equal(k.data, const(q, "k_quantized"))
        assert k.quant == QuantParams.per_tensor(float(const(q, "k_scale")), int(const(q, "k_zero_point")))
