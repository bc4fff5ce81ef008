"""ONNX backend conformance (onnx.backend.test node cases) for what tinyc compiles.

1. The quantized-op cases (QLinearConv, QLinearMatMul, QuantizeLinear, DequantizeLinear,
   ConvInteger, MatMulInteger, DynamicQuantizeLinear). Their extra graph inputs (scales,
   zero points, weights) are frozen into initializers from the case's own data so the
   model has one input. The plain uint8 QuantizeLinear and DequantizeLinear cases compile
   (a uint8 graph output/input, one SignFlip) and must match the expected bytes/floats
   exactly, as must their int8 twins (zero point and values shifted by -128: the same reals).
   Every other one uses something tinyc does not compile (uint8 weights, 16/4/2-bit ints,
   float8/float4, float16 scales, per-axis or blocked activations, asymmetric weights, 3-D
   weights, dynamic quantization): the frontend must say so with a ModelError naming that thing.

2. The float node cases of the ops tinyc supports, wrapped in QDQ (input quantized per
   tensor, weights int8 symmetric, bias int32, output quantized from its real range) and
   compared with ONNX's own reference evaluator (onnx.reference) on the same QDQ model.
   Tolerance: 1 LSB of the output scale (QDQ ops are float semantics; tinyc computes in
   integers). The cases the frontend refuses (1-D/3-D pooling, softmax on another axis,
   batched MatMul, ...) are listed in EXPECTED_REJECTIONS with the words of their
   ModelError; every other case must compile and match.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tinycc_ml.errors import ModelError
from tinycc_ml.interp import run_graph

from onnx_support import make_model

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from onnx.backend.test.case.node import collect_testcases

    CASES = {case.name: case for case in collect_testcases(None)}


def _import(model: onnx.ModelProto, name: str):
    from tinycc_ml.frontend.onnx_import import import_model

    return import_model(model, name)


def _as_tensor(value, name: str) -> onnx.TensorProto:
    if isinstance(value, onnx.TensorProto):
        tensor = onnx.TensorProto()
        tensor.CopyFrom(value)
        tensor.name = name
        return tensor
    return numpy_helper.from_array(np.asarray(value), name)


def _freeze_inputs(case, keep: int = 1) -> onnx.ModelProto:
    """The case's model with every graph input after the first `keep` turned into an initializer."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    inputs, _ = case.data_sets[0]
    graph_inputs = list(model.graph.input)
    for info, value in list(zip(graph_inputs, inputs))[keep:]:
        model.graph.initializer.append(_as_tensor(value, info.name))
    del model.graph.input[:]
    model.graph.input.extend(graph_inputs[:keep])
    return model


# ---------------------------------------------------------------- 1. quantized-op cases

QUANTIZED_OPS = ("QLinearConv", "QLinearMatMul", "QuantizeLinear", "DequantizeLinear", "ConvInteger",
                 "MatMulInteger", "DynamicQuantizeLinear")
QUANTIZED_CASES = sorted(
    name for name, case in CASES.items()
    if any(node.op_type in QUANTIZED_OPS for node in case.model.graph.node) and not name.endswith("_expanded")
    and len(case.model.graph.node) == 1
)

# What each rejected case uses that tinyc does not compile, as the ModelError must name it.
_REASON_WORDS = [
    ("uint8_float16", "float16"), ("linear_axis", "per channel"), ("quantizelinear_blocked_asymmetric", "per channel"),
    ("dequantizelinear_blocked", "per channel"),
    ("e4m3fn", "float8e4m3fn"), ("e5m2", "float8e5m2"), ("float4e2m1", "float4e2m1"), ("uint16", "uint16"),
    ("int16", "int16"), ("uint4", "uint4"), ("int4", "int4"), ("uint2", "uint2"), ("int2", "int2"),
    ("dynamicquantizelinear", "output"), ("uint8", "uint8"), ("int8_float16", "float16"), ("3D_int8", "2-D"),
("qlinearconv", "uint8"), ("convinteger", "uint8"),
    ("matmulinteger", "uint8"), ("blocked", "int"), ("quantizelinear", "uint8"),
]


def _expected_reason(name: str) -> str:
    for key, word in _REASON_WORDS:
        if key in name:
            return word
    raise AssertionError(f"no expected rejection reason for {name}")


def test_quantized_case_list_is_what_onnx_ships() -> None:
    assert "test_qlinearmatmul_2D_int8_float32" in QUANTIZED_CASES
    assert "test_quantizelinear" in QUANTIZED_CASES and "test_qlinearconv" in QUANTIZED_CASES
    assert len(QUANTIZED_CASES) >= 40


# int8 QLinearMatMul with a per-tensor weight zero point: a FullyConnected with filter_offset.
RUNNABLE_QUANTIZED_CASES = ("test_qlinearmatmul_2D_int8_float32",)
# A uint8 graph output / input (the model's own type at the edge, one SignFlip inside).
UINT8_EDGE_CASES = ("test_quantizelinear", "test_dequantizelinear")


@pytest.mark.parametrize("name", UINT8_EDGE_CASES)
def test_uint8_edge_case_is_exact(name: str) -> None:
    graph = _import(_freeze_inputs(CASES[name]), name)
    assert [node.kind for node in graph.nodes] == ["SignFlip"]
    inputs, (expected,) = CASES[name].data_sets[0]
    (io,), (out_io,) = graph.inputs, graph.outputs
    got = run_graph(graph, {io.onnx_name: inputs[0]})[out_io.onnx_name]
    assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", [n for n in QUANTIZED_CASES if n not in RUNNABLE_QUANTIZED_CASES + UINT8_EDGE_CASES])
def test_quantized_case_is_rejected_with_a_clear_model_error(name: str) -> None:
    with pytest.raises(ModelError) as excinfo:
        _import(_freeze_inputs(CASES[name]), name)
    assert _expected_reason(name) in str(excinfo.value)


@pytest.mark.parametrize("name", RUNNABLE_QUANTIZED_CASES)
def test_runnable_quantized_case_within_one_lsb(name: str) -> None:
    """QLinearMatMul is float semantics (requantize in float, round half to even); tinyc's
    fixed-point multiplier may differ by 1 LSB, as every op against onnxruntime."""
    graph = _import(_freeze_inputs(CASES[name]), name)
    assert [node.kind for node in graph.nodes] == ["FullyConnected"]
    weight = graph.tensor(graph.nodes[0].inputs[1])
    assert weight.quant.is_per_tensor and weight.quant.zp != 0
    inputs, (expected,) = CASES[name].data_sets[0]
    (io,), (out_io,) = graph.inputs, graph.outputs
    got = run_graph(graph, {io.onnx_name: inputs[0]})[out_io.onnx_name]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert int(np.max(np.abs(got.astype(np.int32) - expected.astype(np.int32)))) <= 1


def _int8_twin_quantize() -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    (x, scale, zp), (y,) = CASES["test_quantizelinear"].data_sets[0]
    inits = [numpy_helper.from_array(np.asarray(scale, np.float32), "s"),
             numpy_helper.from_array(np.asarray(int(zp) - 128, np.int8), "z")]
    graph = helper.make_graph([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], "q8",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, list(y.shape))], inits)
    return make_model(graph), x, (y.astype(np.int16) - 128).astype(np.int8)


def _int8_twin_dequantize() -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    (x, scale, zp), (y,) = CASES["test_dequantizelinear"].data_sets[0]
    inits = [numpy_helper.from_array(np.asarray(scale, np.float32), "s"),
             numpy_helper.from_array(np.asarray(int(zp) - 128, np.int8), "z")]
    graph = helper.make_graph([helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])], "dq8",
                              [helper.make_tensor_value_info("x", TensorProto.INT8, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y.shape))], inits)
    return make_model(graph), (x.astype(np.int16) - 128).astype(np.int8), y


@pytest.mark.parametrize("twin", [_int8_twin_quantize, _int8_twin_dequantize], ids=["quantizelinear", "dequantizelinear"])
def test_int8_twin_of_quantize_dequantize_case_is_exact(twin) -> None:
    model, x, expected = twin()
    graph = _import(model, "twin")
    (io,), (out_io,) = graph.inputs, graph.outputs
    got = run_graph(graph, {io.onnx_name: x})[out_io.onnx_name]
    assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


# ---------------------------------------------------------------- 2. QDQ-wrapped float cases

FLOAT_OPS = ("AveragePool", "MaxPool", "Conv", "GlobalAveragePool", "Softmax", "Sigmoid", "Tanh", "HardSigmoid",
             "HardSwish", "Relu", "LeakyRelu", "Clip", "Transpose", "Reshape", "Flatten", "Pad", "Gemm", "MatMul", "Concat",
             "Add", "Mul", "Squeeze", "Unsqueeze")
WEIGHT_INPUTS = {("Conv", 1): 0, ("Gemm", 1): None, ("MatMul", 1): None}  # value: per-channel axis or None
BIAS_INPUTS = {("Conv", 2), ("Gemm", 2)}


def _float_cases() -> list[str]:
    names = []
    for name, case in CASES.items():
        nodes = case.model.graph.node
        if len(nodes) != 1 or nodes[0].op_type not in FLOAT_OPS or name.endswith("_expanded"):
            continue
        first = case.data_sets[0][0][0]
        if isinstance(first, np.ndarray) and first.dtype == np.float32:
            names.append(name)
    return sorted(names)


FLOAT_CASES = _float_cases()

# The float cases the frontend refuses, with the words its ModelError must contain. Every
# other QDQ-wrapped float case must compile and match the reference within 1 LSB.
EXPECTED_REJECTIONS = {  # first matching key wins: specific names before the generic patterns
    "test_concat_": "is a constant where tinyc expects an activation", "test_matmul_1d_3d": "must be 2-D",
    "test_matmul_4d_1d": "must be 2-D", "pool_2d_dilations": "dilations", "pad_axes": "axes", "pad_negative_axes": "axes",
    "test_gemm_all_attributes": "transA=1", "test_gemm_transposeA": "transA=1",
    "test_gemm_alpha": "alpha and beta", "test_gemm_beta": "alpha and beta",
    "test_gemm_default_matrix_bias": "bias", "test_gemm_default_scalar_bias": "bias",
    "test_gemm_default_single_elem_vector_bias": "bias",
    "test_matmul_1d_1d": "must be 2-D", "test_matmul_3d": "must be 2-D", "test_matmul_4d": "must be 2-D",
    "test_matmul_bcast": "must be 2-D",
    "test_maxpool_with_argmax_2d_precomputed_strides": "storage_order=1",
    "test_reshape_allowzero_reordered": "static shapes", "_1d_": "only 2-D pooling", "_3d_": "only 2-D pooling",
}


def _expected_rejection(name: str) -> str | None:
    hits = [words for key, words in EXPECTED_REJECTIONS.items() if key in name]
    return hits[0] if hits else None


def _quant_params_for(values: np.ndarray) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) covering the values and 0 (MinMax calibration)."""
    if values.size == 0:
        return 1.0, 0
    low, high = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    if high == low:
        return 1.0, 0
    scale = float(np.float32((high - low) / 255.0))
    return scale, int(np.clip(round(-128 - low / scale), -128, 127))


def _qdq_wrap(case) -> tuple[onnx.ModelProto, np.ndarray]:
    """The case's node between QuantizeLinear/DequantizeLinear pairs; returns (model, input)."""
    from onnx.reference import ReferenceEvaluator

    (node,) = case.model.graph.node
    inputs, _ = case.data_sets[0]
    infos = list(case.model.graph.input)
    x = inputs[0]
    s_x, z_x = _quant_params_for(x)
    inits = [numpy_helper.from_array(np.float32(s_x), "in_s"), numpy_helper.from_array(np.int8(z_x), "in_z")]
    nodes = [helper.make_node("QuantizeLinear", ["in_f", "in_s", "in_z"], ["in_q"]),
             helper.make_node("DequantizeLinear", ["in_q", "in_s", "in_z"], ["in_dq"])]
    op_inputs = []
    for position, name in enumerate(node.input):
        if position == 0:
            op_inputs.append("in_dq")
            continue
        if not name:
            op_inputs.append("")
            continue
        value = inputs[[i.name for i in infos].index(name)] if name in [i.name for i in infos] else None
        assert value is not None, f"input {name} has no data"
        key = (node.op_type, position)
        if key in WEIGHT_INPUTS and isinstance(value, np.ndarray) and value.dtype == np.float32:
            axis = WEIGHT_INPUTS[key]
            reduce = tuple(i for i in range(value.ndim) if i != axis) if axis is not None else None
            absmax = np.max(np.abs(value), axis=reduce) if axis is not None else np.max(np.abs(value))
            s_w = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
            shape = [-1 if i == axis else 1 for i in range(value.ndim)] if axis is not None else []
            w_q = np.clip(np.rint(value / s_w.reshape(shape)), -127, 127).astype(np.int8)
            inits += [numpy_helper.from_array(w_q, f"{name}_q"), numpy_helper.from_array(s_w, f"{name}_s"),
                      numpy_helper.from_array(np.zeros(s_w.shape, np.int8), f"{name}_z")]
            nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"],
                                          **({"axis": axis} if axis is not None else {})))
            op_inputs.append(f"{name}_dq")
            weight_scale = s_w
        elif key in BIAS_INPUTS and isinstance(value, np.ndarray) and value.dtype == np.float32:
            s_b = (np.float32(s_x) * weight_scale).astype(np.float32)
            b_q = np.rint(value / s_b.reshape(-1) if value.ndim else value / s_b).astype(np.int32)
            inits += [numpy_helper.from_array(b_q, f"{name}_q"), numpy_helper.from_array(s_b, f"{name}_s"),
                      numpy_helper.from_array(np.zeros(s_b.shape, np.int32), f"{name}_z")]
            nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"],
                                          **({"axis": 0} if s_b.ndim else {})))
            op_inputs.append(f"{name}_dq")
        elif isinstance(value, np.ndarray) and value.dtype == np.float32 and node.op_type in ("Add", "Mul", "Concat"):
            s_v, z_v = _quant_params_for(value)
            v_q = np.clip(np.rint(value / np.float32(s_v)) + z_v, -128, 127).astype(np.int8)
            inits += [numpy_helper.from_array(v_q, f"{name}_q"), numpy_helper.from_array(np.float32(s_v), f"{name}_s"),
                      numpy_helper.from_array(np.int8(z_v), f"{name}_z")]
            nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"]))
            op_inputs.append(f"{name}_dq")
        else:  # shapes, pads, axes, clip bounds: plain constants
            inits.append(_as_tensor(value, name))
            op_inputs.append(name)
    op = helper.make_node(node.op_type, op_inputs, ["out_raw"], domain=node.domain)
    op.attribute.extend(node.attribute)
    nodes.append(op)

    def build(out_nodes, out_inits, out_type):
        graph = helper.make_graph(nodes + out_nodes, case.name, [helper.make_tensor_value_info("in_f", TensorProto.FLOAT, list(x.shape))],
                                  [helper.make_tensor_value_info("out_f", out_type, None)], inits + out_inits)
        # onnx.reference implements DequantizeLinear from opset 19 on
        return make_model(graph, opset=max(19, case.model.opset_import[0].version))

    probe = build([helper.make_node("Identity", ["out_raw"], ["out_f"])], [], TensorProto.FLOAT)
    (y_float,) = ReferenceEvaluator(probe).run(None, {"in_f": x})
    s_y, z_y = _quant_params_for(np.asarray(y_float))
    out = [helper.make_node("QuantizeLinear", ["out_raw", "out_s", "out_z"], ["out_q"]),
           helper.make_node("DequantizeLinear", ["out_q", "out_s", "out_z"], ["out_f"])]
    out_inits = [numpy_helper.from_array(np.float32(s_y), "out_s"), numpy_helper.from_array(np.int8(z_y), "out_z")]
    return build(out, out_inits, TensorProto.FLOAT), x


@pytest.mark.parametrize("name", FLOAT_CASES)
def test_qdq_wrapped_float_case_within_one_lsb_of_onnx_reference(name: str) -> None:
    from onnx.reference import ReferenceEvaluator

    model, x = _qdq_wrap(CASES[name])
    refusal = _expected_rejection(name)
    if refusal is not None:
        with pytest.raises(ModelError, match=refusal.replace("(", r"\(")):
            _import(model, name)
        return
    graph = _import(model, name)
    (expected,) = ReferenceEvaluator(model).run(None, {"in_f": x})
    (out_io,) = graph.outputs
    got = run_graph(graph, {"in_f": x})["out_f"]
    step = np.float32(out_io.quant.s)
    assert got.shape == expected.shape
    diff = np.abs(np.rint(got / step).astype(np.int64) - np.rint(expected / step).astype(np.int64))
    assert diff.max() <= 1, f"{name}: {diff.max()} LSB"


def test_float_case_selection() -> None:
    """Every expected refusal names real cases, and most cases are compiled, not refused."""
    for key in EXPECTED_REJECTIONS:
        assert any(key in name for name in FLOAT_CASES), key
    refused = [name for name in FLOAT_CASES if _expected_rejection(name)]
    assert len(FLOAT_CASES) - len(refused) >= 95
