"""ONNX frontend errors: every unsupported model is a ModelError naming the node/tensor and the fix."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from frontend_support import (
    conv_model,
    gemm_model,
    model,
    qdq_conv_model,
    qdq_fc_model,
    quantize,
    rand,
    scalar,
)
from tinycc_ml.errors import ModelError, TinycError
from tinycc_ml.frontend import import_model, load_model

QUANTIZE_HINT = ("onnxruntime.quantization.quantize_static (QuantFormat.QDQ, activation_type=QuantType.QInt8, "
                 "weight_type=QuantType.QInt8)")
I8 = TensorProto.INT8


def error_of(onnx_model) -> ModelError:
    with pytest.raises(ModelError) as info:
        import_model(onnx_model, "m")
    return info.value


def qparams(prefix: str, scale: float, zp: int, zp_dtype=np.int8) -> dict[str, np.ndarray]:
    return {f"{prefix}_s": scalar(scale, np.float32), f"{prefix}_z": scalar(zp, zp_dtype)}


def dq(name: str, src: str, dst: str, prefix: str, **attrs):
    return helper.make_node("DequantizeLinear", [src, f"{prefix}_s", f"{prefix}_z"], [dst], name=name, **attrs)


def q(name: str, src: str, dst: str, prefix: str):
    return helper.make_node("QuantizeLinear", [src, f"{prefix}_s", f"{prefix}_z"], [dst], name=name)


def wrap(body: list, shape=(1, 2, 4, 4), out_shape=None, inits=None, out_prefix="o", **kw):
    """int8 x -> DQ -> body (reads 'xf', writes 'yf') -> Q -> int8 y."""
    nodes = [dq("dq_x", "x", "xf", "i")] + body + [q("q_y", "yf", "y", out_prefix)]
    all_inits = {**qparams("i", 0.05, 0), **qparams("o", 0.1, -3), **(inits or {})}
    return model(nodes, ("x", shape), ("y", out_shape), all_inits, I8, I8, **kw)


# ---- files ---------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such file") as info:
        load_model(tmp_path / "absent.onnx")
    assert str(tmp_path / "absent.onnx") in str(info.value)


@pytest.mark.parametrize(("content", "reason"), [
    (b"this is not protobuf at all", "(onnx.load failed: DecodeError)"),
    (b"", "(it holds no graph)"),
])
def test_not_an_onnx_file(tmp_path, content, reason):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(info.value) == f"{path} is not a valid ONNX model {reason}"
    assert isinstance(info.value, TinycError)


# ---- model-level checks --------------------------------------------------------------------


def test_float_model_is_not_quantized():
    err = error_of(conv_model())
    assert str(err) == ("the model is a float model that is not quantized; tinyc compiles int8 models: quantize it "
                        f"with {QUANTIZE_HINT}")


def test_every_unsupported_node_is_listed_at_once():
    body = [
        helper.make_node("Floor", ["xf"], ["a"], name="floor_1"),
        helper.make_node("Erf", ["a"], ["b"], name="erf_1"),
        helper.make_node("Relu", ["b"], ["c"], name="relu_ok"),
        helper.make_node("Ceil", ["c"], ["yf"], name=""),
    ]
    err = error_of(wrap(body))
    assert err.summary.startswith("the model uses 3 node(s) with ops tinyc does not support (supported: ")
    assert err.problems == ["node 'floor_1' (Floor)", "node 'erf_1' (Erf)", "node <unnamed, output 'yf'> (Ceil)"]
    assert "  - node 'erf_1' (Erf)" in str(err)


def test_contrib_op_outside_the_table_names_its_domain():
    body = [helper.make_node("QLinearSoftsign", ["x", "i_s", "i_z", "o_s", "o_z"], ["y"], name="softsign",
                             domain="com.microsoft")]
    m = model(body, ("x", (1, 4)), ("y", (1, 4)), {**qparams("i", 0.1, 0), **qparams("o", 0.1, 0)}, I8, I8,
              extra_opsets=[("com.microsoft", 1)])
    assert error_of(m).problems == ["node 'softsign' (QLinearSoftsign) in domain 'com.microsoft'"]


def test_two_inputs_or_two_outputs_are_no_longer_refused_for_their_count():
    """Several inputs/outputs compile (test_c_api); these float models fail for what they are."""
    two_in = model([helper.make_node("Add", ["a", "b"], ["y"], name="add")], [("a", (1, 2)), ("b", (1, 2))], ("y", (1, 2)))
    assert str(error_of(two_in)).startswith("the model is a float model that is not quantized")
    two_out = model([helper.make_node("Relu", ["x"], ["a"], name="r"), helper.make_node("Neg", ["x"], ["b"], name="n")],
                    ("x", (1, 2)), [("a", (1, 2)), ("b", (1, 2))])
    assert str(error_of(two_out)).startswith("the model is a float model that is not quantized")


def test_dynamic_batch_is_named_with_the_fix():
    m = wrap([helper.make_node("Relu", ["xf"], ["yf"], name="r")], shape=("N", 2, 4, 4))
    assert str(error_of(m)) == (
        "graph input 'x' has a dynamic or unknown shape ['N', 2, 4, 4]; tinyc needs static shapes: pin the shape "
        "(onnx.tools.update_model_dims.update_inputs_outputs_dims, or re-export the model with a fixed input shape "
        "and batch 1)"
    )


def test_reshape_to_a_computed_shape_is_reported():
    # a shape computed from a fixed one folds at import (frontend/shape_folding.py); from a
    # dynamic one it cannot, and the Shape node is named with why
    body = [helper.make_node("Shape", ["xf"], ["shp"], name="shape_of"),
            helper.make_node("Reshape", ["xf", "shp"], ["yf"], name="reshape")]
    assert [n.kind for n in import_model(wrap(body), "fixed").nodes] == ["Reshape", "Lut"]  # Lut: i -> o scale
    (problem,) = error_of(wrap(body, shape=("n", 2, 4, 4))).problems
    assert problem.startswith("node 'shape_of' (Shape): the shape of 'xf' is not fixed")


def test_uint8_activations_are_accepted_as_shifted_int8():
    # Refused before issue 10; now every uint8 zero point moves by -128 (test_frontend_uint8.py).
    m = quantize(conv_model(), activation="QUInt8")
    (zp,) = [numpy_helper.to_array(i) for i in m.graph.initializer if i.name == "x_zero_point"]
    assert import_model(m, "u8").inputs[0].quant.zp == int(zp) - 128


def test_uint8_weights():
    m = qdq_conv_model()
    for init in m.graph.initializer:
        if init.name in ("w", "zp_w"):  # onnxruntime refuses QInt8 activations with QUInt8 weights: edit them in
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.uint8), init.name))
    assert str(error_of(m)) == ("node 'dq_w' (DequantizeLinear): constant 'w' is uint8; tinyc supports int8 weights "
                                "and int32 biases (quantize_static with weight_type=QuantType.QInt8)")


def test_int16_activation():
    m = wrap([helper.make_node("Relu", ["xf"], ["yf"], name="r")], inits=qparams("o", 0.1, 0, np.int16))
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.INT16
    err = error_of(m)
    assert "graph output 'y' is int16; tinyc supports int8 or uint8 outputs" in str(err)
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.INT8
    assert str(error_of(m)).startswith("node 'q_y' (QuantizeLinear): it quantizes 'yf' to int16; tinyc supports int8")


def test_uint8_graph_input_with_an_int8_zero_point():
    """uint8 graph inputs compile (tests/test_uint8_edges.py); one whose DequantizeLinear has an int8
    zero point contradicts itself."""
    m = wrap([helper.make_node("Relu", ["xf"], ["yf"], name="r")])
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    assert str(error_of(m)).startswith("node 'dq_x' (DequantizeLinear): graph edge 'x' is declared uint8 but its "
                                       "zero point 'i_z' is int8")


def test_per_channel_activation_quantization():
    inits = {"o_s": np.array([0.1, 0.2], np.float32), "o_z": np.zeros(2, np.int8)}
    body = [helper.make_node("Relu", ["xf"], ["yf"], name="r")]
    nodes = [dq("dq_x", "x", "xf", "i")] + body + [
        helper.make_node("QuantizeLinear", ["yf", "o_s", "o_z"], ["y"], name="q_y", axis=1)]
    m = model(nodes, ("x", (1, 2, 4, 4)), ("y", None), {**qparams("i", 0.05, 0), **inits}, I8, I8)
    assert str(error_of(m)) == (
        "node 'q_y' (QuantizeLinear): activation 'y' is quantized per channel (2 scales); tinyc supports per-tensor "
        "activation quantization only (per-channel is for weights)"
    )


def test_asymmetric_conv_weights():
    err = error_of(qdq_conv_model(weight_zp=3))
    assert str(err) == (
        "node 'conv' (Conv): weight 'w' has a nonzero zero point (asymmetric weights); tinyc supports symmetric int8 "
        "weights (zero point 0), which quantize_static produces by default"
    )


def test_dilated_pool():
    body = [helper.make_node("MaxPool", ["xf"], ["yf"], name="pool", kernel_shape=[2, 2], dilations=[2, 2])]
    err = error_of(wrap(body, inits=qparams("o", 0.05, 0)))
    assert str(err) == "node 'pool' (MaxPool): dilations [2, 2] on pooling are not supported; tinyc supports dilations 1 on pools"


def test_float_bias_means_partially_quantized():
    err = error_of(qdq_conv_model(float_bias=True))
    assert str(err).startswith("node 'conv' (Conv): bias 'bf' is a float constant, not quantized; the model is only "
                               "partially quantized")


def test_bias_scale_must_be_input_times_weight_scale():
    qdq_fc_model(bias_scale_factor=1.01)  # within TFLite's tolerance: imports
    import_model(qdq_fc_model(bias_scale_factor=1.01), "ok")
    err = error_of(qdq_fc_model(bias_scale_factor=10.0))
    assert str(err).startswith("node 'dense/MatMul' (MatMul): bias 'b' channel 0 has scale ")
    assert "tinyc (like TFLite) needs the bias scale to be s_in * s_w" in str(err)


def test_partially_quantized_model_lists_float_nodes():
    two_convs = model(
        [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1"),
         helper.make_node("Relu", ["a"], ["r"], name="relu1"),
         helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2")],
        ("x", (1, 2, 5, 5)), ("y", None), {"w1": rand((3, 2, 1, 1), 30), "w2": rand((2, 3, 1, 1), 31)})
    err = error_of(quantize(two_convs, nodes_to_exclude=["conv2"]))
    assert err.summary.startswith("the model is only partially quantized: these nodes compute in float")
    assert err.problems == ["node 'conv2' (Conv)"]


def test_dynamic_quantization():
    import tempfile
    from pathlib import Path

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "f.onnx", Path(tmp) / "d.onnx"
        onnx.save(gemm_model(True), src)
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        m = onnx.load(str(dst))
    err = error_of(m)
    assert err.summary.startswith("the model uses dynamic quantization (activations quantized at run time), which "
                                  "tinyc does not support; tinyc needs static quantization")
    assert err.problems and all("(DynamicQuantizeLinear)" in p for p in err.problems)


def test_conv_integer_outside_the_static_pattern_is_explained_as_dynamic_quantization():
    # ConvInteger -> Cast, rescaled by a scale computed at run time (here: never), is dynamic quantization
    nodes = [dq("dq_x", "x", "xf", "i"), q("q_x", "xf", "xq", "i"),
             helper.make_node("ConvInteger", ["xq", "w"], ["acc"], name="convint"),
             helper.make_node("Cast", ["acc"], ["y"], name="cast", to=TensorProto.FLOAT)]
    m = model(nodes, ("x", (1, 1, 3, 3)), ("y", None), {"w": np.ones((1, 1, 1, 1), np.int8), **qparams("i", 0.1, 0)}, I8)
    err = error_of(m)
    assert err.summary == (
        "node 'convint' (ConvInteger): ConvInteger outside the static pattern tinyc accepts (int8 tensor -> "
        "ConvInteger|MatMulInteger(int8 weight constant) -> Cast(to=FLOAT) -> Mul(constant scale) -> [Add(int32 bias)] "
        "-> QuantizeLinear); an integer result rescaled at run time is dynamic quantization: use "
        "onnxruntime.quantization.quantize_static (QDQ or QOperator, QInt8 activations and weights)"
    )
    assert err.problems == ["node 'convint' (ConvInteger)"]


def test_conflicting_parameters_for_one_tensor():
    body = [helper.make_node("Relu", ["xf"], ["r"], name="relu"), q("q_mid", "r", "mid", "o"),
            dq("dq_mid", "mid", "yf", "p")]
    m = wrap(body, inits=qparams("p", 0.2, 0))
    assert str(error_of(m)) == (
        "node 'dq_mid' (DequantizeLinear) reads or writes int8 tensor 'mid' with scale 0.20000000298023224, zero point "
        "0, but node 'q_mid' (QuantizeLinear) gives 'mid' (the same bytes) scale 0.10000000149011612, zero point -3; "
        "tinyc needs one set of quantization parameters per tensor"
    )


def test_softmax_not_on_last_axis_before_opset_13():
    # From opset 13 any single axis is accepted (moved last by Transposes); before, a
    # non-last axis means a softmax over the flattened trailing axes.
    body = [helper.make_node("Softmax", ["xf"], ["yf"], name="sm", axis=1)]
    err = error_of(wrap(body, shape=(1, 3, 4), opset=12))
    assert str(err) == (
        "node 'sm' (Softmax): opset-12 softmax over axis 1 of a rank-3 tensor (a softmax over the flattened "
        "trailing axes); tinyc supports the last axis, or any single axis from opset 13")


def test_matmul_of_two_activations():
    body = [helper.make_node("MatMul", ["xf", "xf"], ["yf"], name="mm")]
    err = error_of(wrap(body, shape=(4, 4)))
    assert str(err) == ("node 'mm' (MatMul): MatMul of two activations is not supported; tinyc supports MatMul by "
                        "constant weights")
