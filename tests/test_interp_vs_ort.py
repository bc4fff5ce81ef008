"""Interpreter vs onnxruntime on small QDQ models quantized by onnxruntime itself
(quantize_static: QDQ, QInt8 activations and weights, per-channel, MinMax calibration on
a fixed-seed data reader), imported by tinyc's frontend.

Tolerance: 1 LSB in the output's quantized domain. onnxruntime computes each op in
float32 between DequantizeLinear and QuantizeLinear; tinyc computes it in integers
(TFLite's scheme) and rounds once more or differently, so an output that lands near a
rounding boundary can differ by one step. For models with more than one op every node is
also checked in isolation (fed onnxruntime's own int8 inputs), so an error is pinned on
the op that made it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime.quantization as ort_quant
import pytest
from onnx import TensorProto, helper, numpy_helper

from tinycc_ml.interp import run_graph

from onnx_support import expose_int8_tensors, make_model, ort_session, run_all_int8
from ort_compare import per_node_max_diff


class _Reader(ort_quant.CalibrationDataReader):
    def __init__(self, name: str, shape: tuple[int, ...], seed: int) -> None:
        rng = np.random.default_rng(seed)
        self._batches = iter([{name: rng.normal(0.0, 1.0, size=shape).astype(np.float32)} for _ in range(8)])

    def get_next(self):
        return next(self._batches, None)


def _weight(name: str, shape: tuple[int, ...], seed: int, scale: float = 0.3) -> onnx.TensorProto:
    return numpy_helper.from_array(np.random.default_rng(seed).normal(0, scale, size=shape).astype(np.float32), name)


def _quantize(tmp_path: Path, name: str, nodes, in_shape, out_shape, inits=(), op_types=None) -> Path:
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], list(inits),
    )
    float_path, q_path = tmp_path / f"{name}_f32.onnx", tmp_path / f"{name}_int8.onnx"
    onnx.save(make_model(graph, 17), str(float_path))
    ort_quant.quantize_static(
        str(float_path), str(q_path), _Reader("x", tuple(in_shape), seed=1234),
        quant_format=ort_quant.QuantFormat.QDQ, activation_type=ort_quant.QuantType.QInt8,
        weight_type=ort_quant.QuantType.QInt8, per_channel=True, op_types_to_quantize=op_types,
        # quantize data-movement and pooling ops even when they are the first op of the model
        extra_options={"ForceQuantizeNoInputCheck": True},
    )
    return q_path


def _conv(name, c_in, c_out, k, seed, **attrs):
    group = attrs.get("group", 1)
    kh, kw = k
    return (
        helper.make_node("Conv", ["x" if name == "conv" else f"{name}_in", f"{name}_w", f"{name}_b"], ["y" if name == "conv" else f"{name}_out"], **attrs),
        [_weight(f"{name}_w", (c_out, c_in // group, kh, kw), seed), _weight(f"{name}_b", (c_out,), seed + 1, 0.1)],
    )


def conv_case(c_in, c_out, hw, k, **attrs):
    def build():
        node, inits = _conv("conv", c_in, c_out, k, seed=7, **attrs)
        return [node], inits
    return dict(build=build, in_shape=(1, c_in, *hw))


def simple(op, in_shape, op_types=None, **attrs):
    def build():
        return [helper.make_node(op, ["x"], ["y"], **attrs)], []
    return dict(build=build, in_shape=in_shape, op_types=op_types)


def _gemm_case():
    def build():
        return [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [_weight("w", (10, 24), 3), _weight("b", (10,), 4, 0.1)]
    return dict(build=build, in_shape=(1, 24))


def _matmul_case():
    def build():
        return [helper.make_node("MatMul", ["x", "w"], ["y"])], [_weight("w", (24, 6), 5)]
    return dict(build=build, in_shape=(1, 24))


def _two_branch(op, second, **attrs):
    """x -> [first branch, second branch] -> op: one graph input, two int8 operands."""
    def build():
        nodes, inits = [], []
        if second == "gap":  # [1,C,1,1]: the squeeze-excite broadcast
            nodes.append(helper.make_node("GlobalAveragePool", ["x"], ["b"]))
        elif second == "sigmoid_gap":
            nodes += [helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Sigmoid", ["g"], ["b"])]
        elif second == "conv":
            nodes.append(helper.make_node("Conv", ["x", "cw", "cb"], ["b"]))
            inits += [_weight("cw", (4, 4, 1, 1), 11), _weight("cb", (4,), 12, 0.1)]
        elif second == "relu":
            nodes.append(helper.make_node("Relu", ["x"], ["b"]))
        nodes.append(helper.make_node(op, ["x", "b"], ["y"], **attrs))
        return nodes, inits
    return dict(build=build, in_shape=(1, 4, 6, 6), multi=True)


def _flatten_gemm():
    def build():
        nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1), helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)]
        return nodes, [_weight("w", (5, 36), 8), _weight("b", (5,), 9, 0.1)]
    return dict(build=build, in_shape=(1, 4, 3, 3), multi=True)


def _reshape():
    def build():
        shape = numpy_helper.from_array(np.array([1, 8, 9], dtype=np.int64), "shape")
        return [helper.make_node("Reshape", ["x", "shape"], ["y"])], [shape]
    return dict(build=build, in_shape=(1, 2, 4, 9))


def _pad():
    def build():
        pads = numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], dtype=np.int64), "pads")
        return [helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant")], [pads]
    return dict(build=build, in_shape=(1, 3, 5, 5))


CASES = {
    "conv_3x3_pad1": conv_case(3, 8, (9, 9), (3, 3), pads=[1, 1, 1, 1]),
    "conv_stride2_asym_pads": conv_case(3, 6, (9, 8), (3, 3), strides=[2, 2], pads=[0, 1, 1, 0]),
    "conv_dilation2": conv_case(4, 5, (10, 10), (3, 3), dilations=[2, 2], pads=[2, 2, 2, 2]),
    "conv_grouped": conv_case(4, 6, (7, 7), (3, 3), group=2, pads=[1, 1, 1, 1]),
    "conv_depthwise": conv_case(6, 6, (8, 8), (3, 3), group=6, pads=[1, 1, 1, 1], strides=[2, 2]),
    "conv_depthwise_mult2": conv_case(3, 6, (7, 7), (3, 3), group=3),
    "conv_pointwise_rect": conv_case(5, 7, (4, 6), (1, 1)),
    "conv_rect_kernel": conv_case(2, 4, (9, 7), (3, 1), strides=[1, 2], pads=[1, 0, 1, 0]),
    "gemm": _gemm_case(),
    "matmul": _matmul_case(),
    "add_same_shape": _two_branch("Add", "conv"),
    "add_broadcast": _two_branch("Add", "gap"),
    "mul_broadcast_se_gate": _two_branch("Mul", "sigmoid_gap"),
    "mul_same_shape": _two_branch("Mul", "relu"),
    "concat": _two_branch("Concat", "relu", axis=1),
    "avgpool": simple("AveragePool", (1, 3, 8, 8), kernel_shape=[3, 3], strides=[2, 2]),
    "avgpool_pads_excl": simple("AveragePool", (1, 3, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "avgpool_pads_incl": simple("AveragePool", (1, 3, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                count_include_pad=1),
    "avgpool_ceil": simple("AveragePool", (1, 3, 8, 7), kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "avgpool_ceil_incl_asym": simple("AveragePool", (1, 2, 8, 7), kernel_shape=[3, 2], strides=[2, 2],
                                     pads=[1, 0, 0, 1], ceil_mode=1, count_include_pad=1),
    "global_avgpool": simple("GlobalAveragePool", (1, 5, 6, 7)),
    "maxpool": simple("MaxPool", (1, 3, 8, 8), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "maxpool_ceil": simple("MaxPool", (1, 3, 8, 7), kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    "pad": _pad(),
    "softmax": simple("Softmax", (1, 10), axis=-1),
    "sigmoid": simple("Sigmoid", (1, 4, 5, 5)),
    "tanh": simple("Tanh", (1, 4, 5, 5), op_types=["Tanh"]),
    "hardsigmoid": simple("HardSigmoid", (1, 4, 5, 5), op_types=["HardSigmoid"], alpha=0.25, beta=0.45),
    "hardswish": simple("HardSwish", (1, 4, 5, 5), op_types=["HardSwish"]),
    "leaky_relu": simple("LeakyRelu", (1, 4, 5, 5), op_types=["LeakyRelu"], alpha=0.2),
    "leaky_relu_default_alpha": simple("LeakyRelu", (1, 4, 5, 5), op_types=["LeakyRelu"]),
    "reshape": _reshape(),
    "flatten_gemm": _flatten_gemm(),
    "transpose": simple("Transpose", (1, 3, 4, 5), perm=[0, 2, 3, 1]),
}


def _output_shape(nodes, inits, in_shape) -> list[int]:
    graph = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    inferred = onnx.shape_inference.infer_shapes(make_model(graph), strict_mode=True)
    (out,) = inferred.graph.output
    return [d.dim_value for d in out.type.tensor_type.shape.dim]


@pytest.mark.parametrize("name", sorted(CASES))
def test_single_op_model_within_one_lsb_of_onnxruntime(name: str, tmp_path: Path) -> None:
    from tinycc_ml.frontend.onnx_import import load_model

    case = CASES[name]
    nodes, inits = case["build"]()
    out_shape = _output_shape(nodes, inits, case["in_shape"])
    path = _quantize(tmp_path, name, nodes, case["in_shape"], out_shape, inits, case.get("op_types"))
    graph = load_model(path)
    session = ort_session(expose_int8_tensors(onnx.load(str(path))))
    (io,), (out_io,) = graph.inputs, graph.outputs
    assert io.onnx_dtype == "float32" and out_io.onnx_dtype == "float32"
    step = np.float32(out_io.quant.s)
    for seed in range(4):
        x = np.random.default_rng(seed).normal(0, 1.2, size=case["in_shape"]).astype(np.float32)
        ort_values = run_all_int8(session, {io.onnx_name: x})
        got = run_graph(graph, {io.onnx_name: x})[out_io.onnx_name]
        assert got.shape == tuple(ort_values[out_io.onnx_name].shape) and got.dtype == np.float32
        lsb = np.abs(np.rint(got / step).astype(np.int64) - np.rint(ort_values[out_io.onnx_name] / step).astype(np.int64))
        per_node = per_node_max_diff(graph, ort_values, x)
        assert all(d <= 1 for d in per_node.values()), per_node
        if not case.get("multi"):
            assert lsb.max() <= 1, f"{name} seed {seed}: {lsb.max()} LSB"
        else:  # two ops in a chain: each within 1 (checked above), together within 2
            assert lsb.max() <= 2, f"{name} seed {seed}: {lsb.max()} LSB"


# onnxruntime's quantizer gives AveragePool its input's scale (TFLite's raw average applies);
# these hand-made QDQ models give the output its own scale, so the requantizing average runs.
REQUANT_POOLS = {
    "avgpool_requant_down": (dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), (0.05, 3), (0.011, -20)),
    "avgpool_requant_up_incl": (dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
                                (0.02, -5), (0.045, 12)),
    "avgpool_requant_ceil_incl": (dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 0, 1], ceil_mode=1,
                                       count_include_pad=1), (0.031, 0), (0.0077, -100)),
}


@pytest.mark.parametrize("name", sorted(REQUANT_POOLS))
def test_requantizing_avgpool_within_one_lsb_of_onnxruntime(name: str, tmp_path: Path) -> None:
    from tinycc_ml.frontend.onnx_import import load_model

    attrs, (s_in, zp_in), (s_out, zp_out) = REQUANT_POOLS[name]
    in_shape = (1, 3, 8, 7)
    probe = [helper.make_node("AveragePool", ["x"], ["y"], **attrs)]
    out_shape = _output_shape(probe, [], in_shape)
    inits = [
        helper.make_tensor("s_in", TensorProto.FLOAT, [], [s_in]), helper.make_tensor("z_in", TensorProto.INT8, [], [zp_in]),
        helper.make_tensor("s_out", TensorProto.FLOAT, [], [s_out]), helper.make_tensor("z_out", TensorProto.INT8, [], [zp_out]),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_in", "z_in"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s_in", "z_in"], ["xf"]),
        helper.make_node("AveragePool", ["xf"], ["yf"], **attrs),
        helper.make_node("QuantizeLinear", ["yf", "s_out", "z_out"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "s_out", "z_out"], ["y"]),
    ]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    path = tmp_path / f"{name}.onnx"
    onnx.save(make_model(graph), str(path))
    tiny = load_model(path)
    assert [n.kind for n in tiny.nodes] == ["AveragePool2d"]
    session = ort_session(make_model(graph))
    for seed in range(6):
        x = np.random.default_rng(seed).normal(0, 2.0, size=in_shape).astype(np.float32)
        (expected,) = session.run(None, {"x": x})
        got = run_graph(tiny, {"x": x})["y"]
        lsb = np.abs(np.rint(got / np.float32(s_out)) - np.rint(expected / np.float32(s_out)))
        assert lsb.max() <= 1
