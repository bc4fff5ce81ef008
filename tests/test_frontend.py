"""ONNX frontend: the MLPerf Tiny models and small QDQ models lower to the expected IR."""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from frontend_support import (
    MLPERF_ONNX,
    MLPERF_TFLITE,
    add_model,
    concat_model,
    conv_model,
    gemm_model,
    nhwc_input_model,
    pool_model,
    qdq_conv_model,
    qdq_fc_model,
    qdq_unary_chain,
    quantize,
    softmax_model,
    squeeze_excite_model,
    unary_model,
)
from tinycc_ml.frontend import import_model, load_model
from tinycc_ml.ir import DType, Graph, QuantParams, ops
from tinycc_ml.ir.verify import graph_problems
from tinycc_ml.quant.lut import elementwise_table, requantize_table
from tinycc_ml.quant.params import activation_range

SOFTMAX_Q = QuantParams.per_tensor(1 / 256, -128)

# Op counts derived from each model (see the ONNX op lists in reference_models_summary.json):
# tf2onnx keeps TFLite's ops one to one; onnxruntime's Softmax output is (1/255, -128), so its
# models add one requantize Lut after the Softmax, whose IR output is (1/256, -128).
MLPERF = {
    "ad01.tf2onnx_int8": ({"FullyConnected": 10}, 0, ("input_1", "int8", (1, 640)), ("Identity", "int8", (1, 640))),
    "ad01.ort_qdq": ({"FullyConnected": 10}, 0, ("input_1", "float32", (1, 640)), ("Identity", "float32", (1, 640))),
    "kws.tf2onnx_int8": (
        {"Reshape": 2, "Conv2d": 9, "AveragePool2d": 1, "FullyConnected": 1, "Softmax": 1}, 4,
        ("input_1", "int8", (1, 49, 10, 1)), ("Identity", "int8", (1, 12)),
    ),
    "kws.ort_qdq": (
        {"Reshape": 2, "Conv2d": 9, "AveragePool2d": 1, "FullyConnected": 1, "Softmax": 1}, 4,
        ("input_1", "float32", (1, 49, 10, 1)), ("Identity", "float32", (1, 12)),
    ),
    "resnet8.tf2onnx_int8": (
        {"Transpose": 1, "Conv2d": 9, "Add": 3, "AveragePool2d": 1, "Reshape": 1, "FullyConnected": 1, "Softmax": 1}, 0,
        ("input_1_int8", "int8", (1, 32, 32, 3)), ("Identity_int8", "int8", (1, 10)),
    ),
    "resnet8.ort_qdq": (
        {"Transpose": 1, "Conv2d": 9, "Add": 3, "AveragePool2d": 1, "Reshape": 1, "FullyConnected": 1, "Softmax": 1}, 0,
        ("input_1", "float32", (1, 32, 32, 3)), ("Identity", "float32", (1, 10)),
    ),
    "vww.tf2onnx_int8": (
        {"Transpose": 1, "Conv2d": 27, "AveragePool2d": 1, "Reshape": 1, "FullyConnected": 1, "Softmax": 1}, 13,
        ("input_1_int8", "int8", (1, 96, 96, 3)), ("Identity_int8", "int8", (1, 2)),
    ),
    "vww.ort_qdq": (
        {"Transpose": 1, "Conv2d": 27, "AveragePool2d": 1, "Reshape": 1, "FullyConnected": 1, "Softmax": 1}, 13,
        ("input_1", "float32", (1, 96, 96, 3)), ("Identity", "float32", (1, 2)),
    ),
}
TFLITE = {"ad01": "ad01_int8.tflite", "kws": "kws_ref_model.tflite", "resnet8": "pretrainedResnet_quant.tflite",
          "vww": "vww_96_int8.tflite"}

needs_models = pytest.mark.skipif(not MLPERF_ONNX.is_dir(), reason=f"MLPerf Tiny models not found at {MLPERF_ONNX}")


@cache
def mlperf(name: str, semantics: str = "auto") -> Graph:
    return load_model(MLPERF_ONNX / f"{name}.onnx", semantics)


def kinds(graph: Graph) -> dict[str, int]:
    return dict(Counter(node.kind for node in graph.nodes))


def only(graph: Graph, kind: str):
    found = [node for node in graph.nodes if node.kind == kind]
    assert len(found) == 1, kinds(graph)
    return found[0]


def is_depthwise(graph: Graph, node) -> bool:
    return node.attrs.groups > 1 and node.attrs.groups == graph.tensor(node.inputs[0]).shape[1]


# ---- MLPerf Tiny --------------------------------------------------------------------------


@needs_models
@pytest.mark.parametrize("name", sorted(MLPERF))
def test_mlperf_model_imports_with_exact_ops_and_io(name):
    counts, depthwise, (in_name, in_dtype, in_shape), (out_name, out_dtype, out_shape) = MLPERF[name]
    graph = mlperf(name)
    assert kinds(graph) == counts
    assert sum(is_depthwise(graph, n) for n in graph.nodes if n.kind == "Conv2d") == depthwise
    (inp,), (out,) = graph.inputs, graph.outputs
    assert (inp.onnx_name, inp.onnx_dtype, inp.shape) == (in_name, in_dtype, in_shape)
    assert (out.onnx_name, out.onnx_dtype, out.shape) == (out_name, out_dtype, out_shape)
    # The int8 core keeps the ONNX (NHWC) input shape; the layout change is an IR node.
    assert graph.tensor(inp.tensor).shape == in_shape
    assert graph.tensor(out.tensor).shape == out_shape
    assert graph_problems(graph) == []
    assert all(t.dtype == DType.INT8 and t.quant.is_per_tensor for t in graph.activations())


@needs_models
@pytest.mark.parametrize("model", sorted(TFLITE))
def test_tf2onnx_io_quantization_equals_tflite(model):
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(MLPERF_TFLITE / TFLITE[model]))
    graph = mlperf(f"{model}.tf2onnx_int8")
    for io, details in ((graph.inputs[0], interpreter.get_input_details(0)),
                        (graph.outputs[0], interpreter.get_output_details(0))):
        q = details["quantization_parameters"]
        assert io.quant == QuantParams.per_tensor(float(q["scales"][0]), int(q["zero_points"][0]))
        assert io.shape == tuple(int(d) for d in details["shape"])


@needs_models
def test_kws_tf2onnx_details():
    graph = mlperf("kws.tf2onnx_int8")
    assert graph.inputs[0].quant == QuantParams.per_tensor(0.5847029, 83)
    first = graph.nodes[0]
    assert first.kind == "Reshape" and first.inputs == ("input_1",)
    assert graph.tensor(first.outputs[0]).shape == (1, 1, 49, 10)
    conv = graph.nodes[1]
    assert conv.attrs == ops.Conv2d(strides=(2, 2), pads=(4, 1, 5, 1))  # Relu folds to act_min = zp = -128
    weight = graph.tensor(conv.inputs[1])
    assert weight.shape == (64, 1, 10, 4) and weight.quant.axis == 0 and len(weight.quant.scale) == 64
    assert graph.tensor(conv.inputs[2]).dtype == DType.INT32
    # Fully connected: tf2onnx's MatMul weight [64, 12] becomes the IR's out-major [12, 64], per tensor.
    fc = only(graph, "FullyConnected")
    onnx_model = onnx.load(MLPERF_ONNX / "kws.tf2onnx_int8.onnx")
    matmul_w = next(numpy_helper.to_array(i) for i in onnx_model.graph.initializer if i.name == "functional_1/dense/MatMul")
    fc_w = graph.tensor(fc.inputs[1])
    np.testing.assert_array_equal(fc_w.data, matmul_w.T)
    assert fc_w.quant.is_per_tensor and fc_w.quant.zero_point == (0,)
    assert fc.name == "functional_1/dense/BiasAdd_prequant"
    softmax = only(graph, "Softmax")
    assert graph.tensor(softmax.outputs[0]).quant == SOFTMAX_Q and softmax.outputs[0] == "Identity"


@needs_models
def test_ort_models_softmax_requantized_to_onnxruntime_output_scale():
    graph = mlperf("kws.ort_qdq", "tflite")  # TFLite's softmax; onnxruntime-born models follow ONNX's by default
    softmax, lut = graph.nodes[-2], graph.nodes[-1]
    assert softmax.kind == "Softmax" and lut.kind == "Lut" and lut.attrs.function == "requantize"
    assert graph.tensor(softmax.outputs[0]).quant == SOFTMAX_Q
    out_q = QuantParams.per_tensor(np.float32(1 / 255), -128)
    assert graph.tensor(lut.outputs[0]).quant == out_q == graph.outputs[0].quant
    assert lut.attrs.table == requantize_table(SOFTMAX_Q, out_q)
    assert lut.outputs[0] == "Identity_QuantizeLinear_Output"


@needs_models
def test_ort_float_input_reshape_moves_to_int8_side():
    graph = mlperf("kws.ort_qdq")
    inp = graph.inputs[0]
    assert (inp.onnx_dtype, inp.tensor) == ("float32", "input_1")
    assert inp.quant == QuantParams.per_tensor(0.5847029, 83)
    first = graph.nodes[0]
    assert first.kind == "Reshape" and first.inputs == ("input_1",)
    assert graph.tensor(first.outputs[0]).shape == (1, 1, 49, 10)
    # onnxruntime's Gemm weight [K, M] per channel on axis 1 -> out-major [M, K] per channel on axis 0.
    fc_w = graph.tensor(only(graph, "FullyConnected").inputs[1])
    assert fc_w.shape == (12, 64) and fc_w.quant.axis == 0 and len(fc_w.quant.scale) == 12


@needs_models
def test_resnet8_transpose_and_residual_adds():
    graph = mlperf("resnet8.tf2onnx_int8")
    first = graph.nodes[0]
    assert first.attrs == ops.Transpose(perm=(0, 3, 1, 2)) and first.inputs == ("input_1_int8",)
    assert graph.tensor(first.outputs[0]).shape == (1, 3, 32, 32)
    for add in (n for n in graph.nodes if n.kind == "Add"):
        out_q = graph.tensor(add.outputs[0]).quant
        assert (add.attrs.act_min, add.attrs.act_max) == activation_range(out_q, 0.0, None)  # the Relu after it
        assert all(not graph.tensor(i).is_constant for i in add.inputs)


# ---- hand-written int8 QDQ (tf2onnx patterns) ---------------------------------------------


def test_matmul_add_relu_is_fully_connected_with_bias_and_clamp():
    graph = import_model(qdq_fc_model(relu=True), "fc")
    assert kinds(graph) == {"FullyConnected": 1}
    fc = graph.nodes[0]
    assert fc.name == "dense/MatMul"
    out_q = QuantParams.per_tensor(0.1, -5)
    assert graph.tensor("y").quant == out_q
    assert (fc.attrs.act_min, fc.attrs.act_max) == (-5, 127)
    w = graph.tensor(fc.inputs[1])
    assert w.shape == (4, 8) and w.quant == QuantParams((float(np.float32(0.01)),), (0,))
    bias = graph.tensor(fc.inputs[2])
    assert bias.dtype == DType.INT32 and bias.shape == (4,)
    assert graph.inputs[0].quant == QuantParams.per_tensor(0.05, 3)


def test_int8_nhwc_input_transpose_stays_and_clip_folds():
    graph = import_model(qdq_conv_model(post="Clip", clip_bounds=(0.0, 0.5)), "conv")
    assert kinds(graph) == {"Transpose": 1, "Conv2d": 1}
    transpose, conv = graph.nodes
    assert transpose.inputs == ("x",) and transpose.attrs.perm == (0, 3, 1, 2)
    assert graph.inputs[0].shape == (1, 8, 8, 3) and graph.tensor("x").shape == (1, 8, 8, 3)
    out_q = QuantParams.per_tensor(0.03, -128)
    assert (conv.attrs.act_min, conv.attrs.act_max) == activation_range(out_q, 0.0, 0.5) == (-128, -111)
    assert conv.attrs.strides == (2, 2) and conv.attrs.pads == (1, 1, 1, 1)
    assert graph.tensor(conv.inputs[1]).quant.axis == 0


def test_requantize_between_different_quantizations():
    # DQ -> Q with other parameters is TFLite's int8 -> int8 Quantize: a requantize Lut.
    graph = import_model(qdq_unary_chain([("Identity", {})], params=[(0.11, -7)]), "rq")
    (lut,) = graph.nodes
    in_q, out_q = QuantParams.per_tensor(0.05, 1), QuantParams.per_tensor(0.11, -7)
    assert lut.attrs.function == "requantize" and lut.attrs.table == requantize_table(in_q, out_q)
    assert graph.tensor("y").quant == out_q


def test_same_parameters_dq_q_pair_is_transparent():
    chain = qdq_unary_chain([("Identity", {}), ("Sigmoid", {})], params=[(0.05, 1), (1 / 256, -128)])
    graph = import_model(chain, "t")
    assert kinds(graph) == {"Lut": 1} and graph.nodes[0].inputs == ("x",)


@pytest.mark.parametrize(("op", "attrs", "function", "table_attrs"), [
    ("Sigmoid", {}, "sigmoid", {}),
    ("Tanh", {}, "tanh", {}),
    ("HardSigmoid", {"alpha": 0.25, "beta": 0.4}, "hardsigmoid", {"alpha": 0.25, "beta": 0.4}),
    ("HardSwish", {}, "hardswish", {}),
    ("Relu", {}, "relu", {}),
])
def test_standalone_elementwise_op_is_a_lut(op, attrs, function, table_attrs):
    out = (0.02, -20)
    graph = import_model(qdq_unary_chain([(op, attrs)], params=[out]), op)
    (lut,) = graph.nodes
    assert lut.kind == "Lut" and lut.attrs.function == function and lut.name == f"{op.lower()}0"
    in_q, out_q = QuantParams.per_tensor(0.05, 1), QuantParams.per_tensor(*out)
    assert lut.attrs.table == elementwise_table(function, table_attrs, in_q, out_q)


# ---- onnxruntime QDQ models of each op ----------------------------------------------------


@cache
def qdq(builder, *args, **kwargs) -> Graph:
    kw = dict(kwargs)
    return import_model(quantize(builder(*args, **{k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()})), builder.__name__)


def test_qdq_conv_strides_dilations_asymmetric_pads_and_relu():
    graph = qdq(conv_model, strides=(2, 1), dilations=(2, 2), pads=(0, 1, 2, 1), relu=True)
    conv = only(graph, "Conv2d")
    assert conv.name == "conv"
    assert (conv.attrs.strides, conv.attrs.dilations, conv.attrs.pads) == ((2, 1), (2, 2), (0, 1, 2, 1))
    # onnxruntime folds the Relu into the output range ([0, max] -> zero point -128)
    assert graph.tensor(conv.outputs[0]).quant.zp == -128
    # 9x9 input, kernel 3 dilated by 2 (span 5): H = (9 + 0 + 2 - 5) // 2 + 1, W = (9 + 1 + 1 - 5) // 1 + 1
    assert graph.tensor(conv.outputs[0]).shape == (1, 6, 4, 7)
    w = graph.tensor(conv.inputs[1])
    assert w.quant.axis == 0 and len(w.quant.scale) == 6 and set(w.quant.zero_point) == {0}
    assert graph.tensor(conv.inputs[2]).dtype == DType.INT32


def test_qdq_conv_auto_pad_same_upper_becomes_explicit_pads():
    graph = qdq(conv_model, auto_pad="SAME_UPPER", strides=(2, 2))
    conv = only(graph, "Conv2d")
    # 9 / 2 -> 5 outputs, total pad (5 - 1) * 2 + 3 - 9 = 2, split 1 / 1
    assert conv.attrs.pads == (1, 1, 1, 1)
    assert graph.tensor(conv.outputs[0]).shape == (1, 6, 5, 5)


def test_qdq_depthwise_and_grouped_conv():
    dw = only(qdq(conv_model, x_shape=(1, 4, 6, 6), out_ch=4, group=4, pads=(1, 1, 1, 1)), "Conv2d")
    assert dw.attrs.groups == 4
    grouped_graph = qdq(conv_model, x_shape=(1, 4, 6, 6), out_ch=6, group=2)
    grouped = only(grouped_graph, "Conv2d")
    assert grouped.attrs.groups == 2 and grouped_graph.tensor(grouped.inputs[1]).shape == (6, 2, 3, 3)


@pytest.mark.parametrize("trans_b", [True, False])
def test_qdq_gemm_weight_is_out_major(trans_b):
    q = quantize(gemm_model(trans_b))
    graph = import_model(q, "gemm")
    fc = only(graph, "FullyConnected")
    w = graph.tensor(fc.inputs[1])
    assert w.shape == (5, 12) and w.quant.axis == 0 and len(w.quant.scale) == 5
    dq = next(n for n in q.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == next(
        g.input[1] for g in q.graph.node if g.op_type == "Gemm"))
    onnx_w = next(numpy_helper.to_array(i) for i in q.graph.initializer if i.name == dq.input[0])
    np.testing.assert_array_equal(w.data, onnx_w if trans_b else onnx_w.T)
    assert graph.tensor(fc.inputs[2]).shape == (5,)


def test_qdq_add_of_two_activations():
    graph = qdq(add_model)
    add = only(graph, "Add")
    assert add.name == "add"
    assert [graph.producers()[i].name for i in add.inputs] == ["conv_a", "conv_b"]
    assert graph.tensor(add.outputs[0]).shape == (1, 4, 5, 5)


def test_qdq_squeeze_excite_mul_broadcasts_gate():
    graph = qdq(squeeze_excite_model)
    assert kinds(graph) == {"Conv2d": 1, "AveragePool2d": 1, "Lut": 1, "Mul": 1}
    gap = only(graph, "AveragePool2d")
    assert gap.attrs.kernel == (5, 5) and graph.tensor(gap.outputs[0]).shape == (1, 4, 1, 1)
    assert only(graph, "Lut").attrs.function == "sigmoid"
    mul = only(graph, "Mul")
    assert [graph.tensor(i).shape for i in mul.inputs] == [(1, 4, 5, 5), (1, 4, 1, 1)]
    assert graph.tensor(mul.outputs[0]).shape == (1, 4, 5, 5)


def test_qdq_average_pool_ceil_mode_and_count_include_pad():
    graph = qdq(pool_model, "AveragePool", kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), ceil_mode=1,
                count_include_pad=1)
    pool = only(graph, "AveragePool2d")
    assert pool.attrs == ops.AveragePool2d(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True,
                                           semantics=ops.ONNX)  # onnxruntime-born
    # 7 + 2 pads - 3 = 6, /2 = 3 (exact) + 1 = 4 both ways; ceil_mode shows only where it rounds up
    assert graph.tensor(pool.outputs[0]).shape == (1, 3, 4, 4)
    graph = qdq(pool_model, "AveragePool", shape=(1, 3, 8, 8), kernel_shape=(3, 3), strides=(2, 2), ceil_mode=1)
    assert graph.tensor(only(graph, "AveragePool2d").outputs[0]).shape == (1, 3, 4, 4)  # floor would be 3


def test_qdq_average_pool_auto_pad_same_upper():
    graph = qdq(pool_model, "AveragePool", kernel_shape=(2, 2), strides=(2, 2), auto_pad="SAME_UPPER")
    pool = only(graph, "AveragePool2d")
    assert pool.attrs.pads == (0, 0, 1, 1) and graph.tensor(pool.outputs[0]).shape == (1, 3, 4, 4)


def test_qdq_max_pool():
    graph = qdq(pool_model, "MaxPool", kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    pool = only(graph, "MaxPool2d")
    assert pool.attrs == ops.MaxPool2d(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    assert graph.tensor(pool.inputs[0]).quant == graph.tensor(pool.outputs[0]).quant
    assert graph.tensor(pool.outputs[0]).shape == (1, 3, 4, 4)


def test_qdq_global_average_pool():
    graph = qdq(pool_model, "GlobalAveragePool")
    pool = only(graph, "AveragePool2d")
    assert pool.attrs.kernel == (7, 7) and graph.tensor(pool.outputs[0]).shape == (1, 3, 1, 1)


def test_qdq_concat_requantizes_inputs_to_output_quantization():
    graph = qdq(concat_model)
    concat = only(graph, "Concat")
    out_q = graph.tensor(concat.outputs[0]).quant
    assert concat.attrs.axis == 1 and graph.tensor(concat.outputs[0]).shape == (1, 7, 4, 4)
    assert all(graph.tensor(i).quant == out_q for i in concat.inputs)
    lut = only(graph, "Lut")
    assert lut.attrs.function == "requantize" and lut.outputs[0] in concat.inputs
    # onnxruntime-born: QuantizeLinear(DequantizeLinear(x)) in float32, as onnxruntime requantizes
    assert lut.attrs.table == elementwise_table("identity", {}, graph.tensor(lut.inputs[0]).quant, out_q)


def test_qdq_softmax_and_sigmoid():
    graph = qdq(softmax_model)
    assert [n.kind for n in graph.nodes] == ["Softmax"]  # ONNX semantics: into the model's output quantization
    graph = qdq(unary_model, "Sigmoid")
    assert [n.attrs.function for n in graph.nodes] == ["sigmoid"]


def test_qdq_float_nhwc_input_transpose_commutes_to_int8():
    graph = qdq(nhwc_input_model)
    assert [n.kind for n in graph.nodes] == ["Transpose", "Conv2d", "Reshape", "FullyConnected"]
    inp = graph.inputs[0]
    assert (inp.onnx_dtype, inp.shape, inp.tensor) == ("float32", (1, 6, 6, 3), "x")
    assert graph.tensor("x").quant == inp.quant
    assert graph.tensor(graph.nodes[0].outputs[0]).shape == (1, 3, 6, 6)
    assert graph.outputs[0].onnx_dtype == "float32" and graph.outputs[0].shape == (1, 3)


def test_generated_names_are_deterministic():
    a = import_model(quantize(concat_model()), "c")
    b = import_model(quantize(concat_model()), "c")
    assert [(n.name, n.inputs, n.outputs) for n in a.nodes] == [(n.name, n.inputs, n.outputs) for n in b.nodes]
    assert len({n.name for n in a.nodes}) == len(a.nodes)


# ---- more hand-written QDQ patterns ---------------------------------------------------------


def _qdq_body(body, inits, shape=(1, 2, 6, 6), out_shape=None, out=(0.1, -3)):
    from onnx import TensorProto, helper

    from frontend_support import model, scalar

    nodes = [helper.make_node("DequantizeLinear", ["x", "x_s", "x_z"], ["xf"], name="dq_x")] + body + [
        helper.make_node("QuantizeLinear", ["yf", "y_s", "y_z"], ["y"], name="q_y")]
    all_inits = {"x_s": scalar(0.05, np.float32), "x_z": scalar(2, np.int8),
                 "y_s": scalar(out[0], np.float32), "y_z": scalar(out[1], np.int8), **inits}
    return model(nodes, ("x", shape), ("y", out_shape), all_inits, TensorProto.INT8, TensorProto.INT8)


def test_maxpool_with_other_output_quantization_requantizes_after_the_pool():
    from onnx import helper

    body = [helper.make_node("MaxPool", ["xf"], ["yf"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
    graph = import_model(_qdq_body(body, {}), "mp")
    pool, lut = graph.nodes
    in_q, out_q = QuantParams.per_tensor(0.05, 2), QuantParams.per_tensor(0.1, -3)
    assert pool.kind == "MaxPool2d" and graph.tensor(pool.outputs[0]).quant == in_q
    assert graph.tensor(pool.outputs[0]).shape == (1, 2, 3, 3)
    assert lut.attrs.table == requantize_table(in_q, out_q) and lut.outputs == ("y",)


def test_constant_pad_value_is_quantized_in_the_output_domain():
    from onnx import helper

    from frontend_support import scalar

    body = [helper.make_node("Pad", ["xf", "pads", "value"], ["yf"], name="pad", mode="constant")]
    inits = {"pads": np.array([0, 0, 1, 2, 0, 0, 3, 0], np.int64), "value": scalar(0.5, np.float32)}
    graph = import_model(_qdq_body(body, inits, out=(0.05, 2)), "pad")
    (pad,) = graph.nodes
    assert pad.attrs == ops.Pad(pads=(0, 0, 1, 2, 0, 0, 3, 0), value=2 + 10)
    assert graph.tensor("y").shape == (1, 2, 10, 8)


def test_standalone_clip_is_a_lut_with_its_bounds():
    from onnx import helper

    from frontend_support import scalar

    body = [helper.make_node("Clip", ["xf", "lo", "hi"], ["yf"], name="clip")]
    graph = import_model(_qdq_body(body, {"lo": scalar(-1.0, np.float32), "hi": scalar(2.0, np.float32)}), "clip")
    (lut,) = graph.nodes
    table = elementwise_table("clip", {"min": -1.0, "max": 2.0}, QuantParams.per_tensor(0.05, 2),
                              QuantParams.per_tensor(0.1, -3))
    assert lut.attrs.function == "clip" and lut.attrs.table == table


def test_transposed_weight_constant_is_folded():
    # tf2onnx sometimes writes DQ(w [M, K]) -> Transpose -> MatMul: the Transpose folds into the constant.
    from onnx import helper

    from frontend_support import scalar

    w = np.arange(-12, 12, dtype=np.int8).reshape(4, 6)  # [M, K]
    body = [
        helper.make_node("DequantizeLinear", ["w", "w_s", "w_z"], ["wf"], name="dq_w"),
        helper.make_node("Transpose", ["wf"], ["wt"], name="w_t", perm=[1, 0]),
        helper.make_node("MatMul", ["xf", "wt"], ["yf"], name="fc"),
    ]
    graph = import_model(_qdq_body(body, {"w": w, "w_s": scalar(0.01, np.float32), "w_z": scalar(0, np.int8)},
                                   shape=(1, 6)), "fc")
    (fc,) = graph.nodes
    np.testing.assert_array_equal(graph.tensor(fc.inputs[1]).data, w)
    assert fc.inputs[2] == "" and graph.tensor("y").shape == (1, 4)


def test_shared_weight_is_stored_once():
    from onnx import helper

    from frontend_support import scalar

    w = np.ones((2, 2, 1, 1), np.int8)
    body = [
        helper.make_node("DequantizeLinear", ["w", "w_s", "w_z"], ["wf"], name="dq_w"),
        helper.make_node("Conv", ["xf", "wf"], ["a"], name="conv_a"),
        helper.make_node("QuantizeLinear", ["a", "y_s", "y_z"], ["aq"], name="q_a"),
        helper.make_node("DequantizeLinear", ["aq", "y_s", "y_z"], ["af"], name="dq_a"),
        helper.make_node("Conv", ["af", "wf"], ["yf"], name="conv_b"),
    ]
    graph = import_model(_qdq_body(body, {"w": w, "w_s": scalar(0.01, np.float32), "w_z": scalar(0, np.int8)}), "s")
    assert [n.inputs[1] for n in graph.nodes] == ["w", "w"]
    assert sum(t.is_constant for t in graph.tensors.values()) == 1


# ---- shape arithmetic -----------------------------------------------------------------------


def test_window_output_and_auto_pad():
    from tinycc_ml.frontend import shapes

    assert shapes.window_output(8, 3, 2, 1, 0, 0, ceil_mode=False) == 3
    assert shapes.window_output(8, 3, 2, 1, 0, 0, ceil_mode=True) == 4
    # ceil_mode never starts a window in the end padding: 3 + 1 pad, k=1, s=2 -> ceil(3 / 2) + 1 = 3 windows,
    # but the third would start at 4, past the input (3): ONNX drops it
    assert shapes.window_output(3, 1, 2, 1, 0, 1, ceil_mode=True) == 2
    assert shapes.resolve_pads("SAME_UPPER", None, (7, 8), (3, 2), (2, 2), (1, 1)) == (1, 0, 1, 0)
    assert shapes.resolve_pads("SAME_LOWER", None, (6, 6), (2, 2), (1, 1), (1, 1)) == (1, 1, 0, 0)
    assert shapes.resolve_pads("SAME_UPPER", None, (6, 6), (2, 2), (1, 1), (1, 1)) == (0, 0, 1, 1)
    assert shapes.resolve_pads("VALID", [3, 3, 3, 3], (6, 6), (2, 2), (1, 1), (1, 1)) == (0, 0, 0, 0)
    assert shapes.reshape_target((1, 64, 1, 1), (-1, 64), False) == (1, 64)
    assert shapes.reshape_target((1, 49, 10, 1), (0, 1, 49, 10), False) == (1, 1, 49, 10)
    assert shapes.flatten((2, 3, 4), -1) == (6, 4)


def test_int8_squeeze_unsqueeze_flatten_are_reshapes():
    from onnx import TensorProto, helper

    from frontend_support import model, scalar

    nodes = [
        helper.make_node("Unsqueeze", ["x", "ax23"], ["u"], name="unsqueeze"),
        helper.make_node("Squeeze", ["u", "ax3"], ["s"], name="squeeze"),
        helper.make_node("Flatten", ["s"], ["f"], name="flatten", axis=1),
        helper.make_node("DequantizeLinear", ["f", "x_s", "x_z"], ["ff"], name="dq"),
        helper.make_node("QuantizeLinear", ["ff", "x_s", "x_z"], ["y"], name="q"),
    ]
    inits = {"ax23": np.array([2, 3], np.int64), "ax3": np.array([3], np.int64),
             "x_s": scalar(0.5, np.float32), "x_z": scalar(0, np.int8)}
    graph = import_model(model(nodes, ("x", (1, 4)), ("y", (1, 4)), inits, TensorProto.INT8, TensorProto.INT8), "r")
    assert [(n.kind, graph.tensor(n.outputs[0]).shape) for n in graph.nodes] == [
        ("Reshape", (1, 4, 1, 1)), ("Reshape", (1, 4, 1)), ("Reshape", (1, 4))]
    # DQ -> Q with the same parameters is transparent: the output is the Flatten's tensor
    assert graph.outputs[0].tensor == "f" and graph.outputs[0].onnx_name == "y"
    assert all(t.quant == QuantParams.per_tensor(0.5, 0) for t in graph.activations())


def test_clip_with_float_max_bound_is_one_sided():
    from onnx import helper

    from frontend_support import scalar

    body = [helper.make_node("Conv", ["xf", "wf"], ["c"], name="conv"),
            helper.make_node("Clip", ["c", "lo", "hi"], ["yf"], name="clip"),
            helper.make_node("DequantizeLinear", ["w", "w_s", "w_z"], ["wf"], name="dq_w")]
    inits = {"lo": scalar(0.0, np.float32), "hi": scalar(np.finfo(np.float32).max, np.float32),
             "w": np.ones((2, 2, 1, 1), np.int8), "w_s": scalar(0.01, np.float32), "w_z": scalar(0, np.int8)}
    body = body[2:] + body[:2]
    graph = import_model(_qdq_body(body, inits, out=(0.1, 5)), "clip")
    (conv,) = graph.nodes
    assert (conv.attrs.act_min, conv.attrs.act_max) == (5, 127)
