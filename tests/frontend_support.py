"""Small ONNX models for the frontend tests.

Float graphs are built with onnx.helper and quantized by onnxruntime's quantize_static
(QDQ or QOperator, int8 activations and weights, per-channel weights) with a few random
calibration inputs; hand-written int8 QDQ graphs cover the patterns onnxruntime does not
emit (tf2onnx's int8 input + Transpose, MatMul + Add bias, explicit Relu/Clip) and the
broken models the error tests need.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MLPERF_ONNX = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny" / "onnx"
MLPERF_TFLITE = MLPERF_ONNX.parent
OPSET = 17

Shape = Sequence[int | str]


def rand(shape: Sequence[int], seed: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def model(
    nodes: list[onnx.NodeProto],
    inputs: list[tuple[str, Shape]] | tuple[str, Shape],
    outputs: list[tuple[str, Shape | None]] | tuple[str, Shape | None],
    initializers: dict[str, np.ndarray] | None = None,
    elem_in: int = TensorProto.FLOAT,
    elem_out: int = TensorProto.FLOAT,
    opset: int = OPSET,
    extra_opsets: Sequence[tuple[str, int]] = (),
) -> onnx.ModelProto:
    """A model from nodes; shapes of graph inputs/outputs as given (None: unknown)."""
    ins = [inputs] if isinstance(inputs, tuple) else inputs
    outs = [outputs] if isinstance(outputs, tuple) else outputs
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info(n, elem_in, list(s)) for n, s in ins],
        [helper.make_tensor_value_info(n, elem_out, None if s is None else list(s)) for n, s in outs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()],
    )
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="tinyc-tests")
    m.ir_version = 8
    return m


def quantize(float_model: onnx.ModelProto, fmt: str = "QDQ", per_channel: bool = True, seed: int = 0,
             activation: str = "QInt8", weight: str = "QInt8", **kwargs) -> onnx.ModelProto:
    """onnxruntime quantize_static of `float_model`, calibrated on 4 random inputs."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's "consider pre-processing" warnings
    inp = float_model.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    rng = np.random.default_rng(seed)
    batches = [{inp.name: rng.standard_normal(shape).astype(np.float32)} for _ in range(4)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self):  # noqa: ANN201 - onnxruntime's interface
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        onnx.save(float_model, src)
        quantize_static(
            str(src), str(dst), Reader(),
            quant_format=getattr(QuantFormat, fmt),
            activation_type=getattr(QuantType, activation),
            weight_type=getattr(QuantType, weight),
            per_channel=per_channel,
            **kwargs,
        )
        return onnx.load(str(dst))


# ---- float graphs for quantize_static ------------------------------------------------


def conv_model(x_shape=(1, 4, 9, 9), out_ch=6, kernel=(3, 3), group=1, relu=False, bias=True, **attrs) -> onnx.ModelProto:
    w = rand((out_ch, x_shape[1] // group, *kernel), 1, 0.5)
    inits = {"w": w}
    conv_inputs = ["x", "w"]
    if bias:
        inits["b"] = rand((out_ch,), 2, 0.1)
        conv_inputs.append("b")
    nodes = [helper.make_node("Conv", conv_inputs, ["c" if relu else "y"], name="conv", group=group, **attrs)]
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["y"], name="relu"))
    return model(nodes, ("x", x_shape), ("y", None), inits)


def gemm_model(trans_b: bool, k: int = 12, m: int = 5) -> onnx.ModelProto:
    w = rand((m, k) if trans_b else (k, m), 3, 0.3)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=int(trans_b))]
    return model(nodes, ("x", (1, k)), ("y", (1, m)), {"w": w, "b": rand((m,), 4, 0.1)})


def unary_model(op: str, shape=(1, 3, 4, 4), **attrs) -> onnx.ModelProto:
    return model([helper.make_node(op, ["x"], ["y"], name=op.lower(), **attrs)], ("x", shape), ("y", shape))


def pool_model(op: str, shape=(1, 3, 7, 7), **attrs) -> onnx.ModelProto:
    """A 1x1 conv, then the pool: onnxruntime quantizes pools only when their input is quantized."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node(op, ["c"], ["y"], name="pool", **attrs),
    ]
    return model(nodes, ("x", shape), ("y", None), {"w": rand((shape[1], shape[1], 1, 1), 13)})


def add_model(shape=(1, 4, 5, 5)) -> onnx.ModelProto:
    """Two convolutions of x added: Add of two different activations."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="conv_a"),
        helper.make_node("Conv", ["x", "w2"], ["b"], name="conv_b"),
        helper.make_node("Add", ["a", "b"], ["y"], name="add"),
    ]
    c = shape[1]
    return model(nodes, ("x", shape), ("y", shape), {"w1": rand((c, c, 1, 1), 5), "w2": rand((c, c, 1, 1), 6, 3.0)})


def add_constant_model(shape=(1, 3, 4, 4)) -> onnx.ModelProto:
    """conv(x) + k with a constant k [1, C, 1, 1]: onnxruntime quantizes k to an int8 initializer."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Add", ["c", "k"], ["y"], name="add_const")]
    c = shape[1]
    return model(nodes, ("x", shape), ("y", None), {"w": rand((c, c, 1, 1), 15), "k": rand((1, c, 1, 1), 16)})


def squeeze_excite_model(shape=(1, 4, 5, 5)) -> onnx.ModelProto:
    """c = conv(x); c * sigmoid(GlobalAveragePool(c)): Mul broadcasting a [1, C, 1, 1] gate."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
        helper.make_node("Sigmoid", ["g"], ["s"], name="gate"),
        helper.make_node("Mul", ["c", "s"], ["y"], name="excite"),
    ]
    return model(nodes, ("x", shape), ("y", shape), {"w": rand((shape[1], shape[1], 1, 1), 14)})


def concat_model(shape=(1, 3, 4, 4)) -> onnx.ModelProto:
    """Concat of two convolutions with different output ranges (so different scales)."""
    c = shape[1]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="conv_a"),
        helper.make_node("Conv", ["x", "w2"], ["b"], name="conv_b"),
        helper.make_node("Concat", ["a", "b"], ["y"], name="concat", axis=1),
    ]
    return model(nodes, ("x", shape), ("y", None), {"w1": rand((2, c, 1, 1), 7), "w2": rand((5, c, 1, 1), 8, 4.0)})


def softmax_model(n: int = 10) -> onnx.ModelProto:
    return model([helper.make_node("Softmax", ["x"], ["y"], name="softmax", axis=-1)], ("x", (1, n)), ("y", (1, n)))


def nhwc_input_model(shape=(1, 6, 6, 3)) -> onnx.ModelProto:
    """Float NHWC input, Transpose to NCHW, then a conv and Flatten + Gemm."""
    c = shape[3]
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    inits = {"w": rand((4, c, 3, 3), 9, 0.3), "b": rand((4,), 10, 0.1),
             "fw": rand((3, 4 * shape[1] * shape[2]), 11, 0.1), "fb": rand((3,), 12, 0.1)}
    return model(nodes, ("x", shape), ("y", (1, 3)), inits)


# ---- hand-written int8 QDQ graphs (tf2onnx style) ------------------------------------


def scalar(value: float | int, dtype) -> np.ndarray:
    return np.array(value, dtype=dtype)


def qdq_fc_model(bias_scale_factor: float = 1.0, relu: bool = True, k: int = 8, m: int = 4) -> onnx.ModelProto:
    """tf2onnx's int8 fully connected: int8 in -> DQ -> MatMul(DQ w [K, M]) -> Add(DQ bias) -> Relu -> Q."""
    rng = np.random.default_rng(20)
    s_in, s_w, s_out = 0.05, 0.01, 0.1
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s_in", "zp_in"], ["xf"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w", "s_w", "zp0"], ["wf"], name="dq_w"),
        helper.make_node("DequantizeLinear", ["b", "s_b", "zp32"], ["bf"], name="dq_b"),
        helper.make_node("MatMul", ["xf", "wf"], ["mm"], name="dense/MatMul"),
        helper.make_node("Add", ["mm", "bf"], ["add"], name="dense/BiasAdd"),
    ]
    last = "add"
    if relu:
        nodes.append(helper.make_node("Relu", ["add"], ["relu"], name="dense/Relu"))
        last = "relu"
    nodes.append(helper.make_node("QuantizeLinear", [last, "s_out", "zp_out"], ["y"], name="q_y"))
    inits = {
        "w": rng.integers(-127, 128, (k, m)).astype(np.int8),
        "b": rng.integers(-1000, 1000, (m,)).astype(np.int32),
        "s_in": scalar(s_in, np.float32), "zp_in": scalar(3, np.int8),
        "s_w": scalar(s_w, np.float32), "zp0": scalar(0, np.int8),
        "s_b": scalar(np.float32(s_in) * np.float32(s_w) * bias_scale_factor, np.float32), "zp32": scalar(0, np.int32),
        "s_out": scalar(s_out, np.float32), "zp_out": scalar(-5, np.int8),
    }
    return model(nodes, ("x", (1, k)), ("y", (1, m)), inits, TensorProto.INT8, TensorProto.INT8)


def qdq_conv_model(post: str = "Relu", weight_zp: int = 0, float_bias: bool = False, bias_scale_factor: float = 1.0,
                   input_transpose: bool = True, clip_bounds: tuple[float, float] = (0.0, 6.0)) -> onnx.ModelProto:
    """tf2onnx's int8 conv: int8 NHWC in -> Transpose -> DQ -> Conv(DQ w, DQ b) -> [Relu|Clip] -> Q."""
    rng = np.random.default_rng(21)
    s_in, s_out = 0.02, 0.03
    s_w = np.array([0.01, 0.02, 0.015, 0.005], np.float32)
    x_in = "xt" if input_transpose else "x"
    nodes = []
    if input_transpose:
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], name="to_nchw", perm=[0, 3, 1, 2]))
    nodes += [
        helper.make_node("DequantizeLinear", [x_in, "s_in", "zp_in"], ["xf"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w", "s_w", "zp_w"], ["wf"], name="dq_w", axis=0),
    ]
    inits = {
        "w": rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8),
        "s_in": scalar(s_in, np.float32), "zp_in": scalar(-128, np.int8),
        "s_w": s_w, "zp_w": np.full(4, weight_zp, np.int8),
        "s_out": scalar(s_out, np.float32), "zp_out": scalar(-128, np.int8),
    }
    if float_bias:
        inits["bf"] = rand((4,), 22, 0.1)
    else:
        nodes.append(helper.make_node("DequantizeLinear", ["b", "s_b", "zp_b"], ["bf"], name="dq_b", axis=0))
        inits.update({"b": rng.integers(-500, 500, (4,)).astype(np.int32),
                      "s_b": (np.float32(s_in) * s_w * np.float32(bias_scale_factor)).astype(np.float32),
                      "zp_b": np.zeros(4, np.int32)})
    nodes.append(helper.make_node("Conv", ["xf", "wf", "bf"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[2, 2]))
    last = "c"
    if post == "Relu":
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
        last = "r"
    elif post == "Clip":
        inits["lo"], inits["hi"] = scalar(clip_bounds[0], np.float32), scalar(clip_bounds[1], np.float32)
        nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["r"], name="relu6"))
        last = "r"
    nodes.append(helper.make_node("QuantizeLinear", [last, "s_out", "zp_out"], ["y"], name="q_y"))
    in_shape = (1, 8, 8, 3) if input_transpose else (1, 3, 8, 8)
    return model(nodes, ("x", in_shape), ("y", (1, 4, 4, 4)), inits, TensorProto.INT8, TensorProto.INT8)


def qdq_unary_chain(ops: Sequence[tuple[str, dict]], shape=(1, 2, 3, 3), params: Sequence[tuple[float, int]] = ()) -> onnx.ModelProto:
    """int8 x -> (DQ -> op -> Q) for each op, with the given output (scale, zp) per step."""
    nodes, inits = [], {"s0": scalar(0.05, np.float32), "z0": scalar(1, np.int8)}
    cur, s, z = "x", "s0", "z0"
    for i, ((op, attrs), (scale, zp)) in enumerate(zip(ops, params)):
        inits[f"s{i + 1}"], inits[f"z{i + 1}"] = scalar(scale, np.float32), scalar(zp, np.int8)
        nodes.append(helper.make_node("DequantizeLinear", [cur, s, z], [f"f{i}"], name=f"dq{i}"))
        src = f"f{i}"
        if op != "Identity":
            nodes.append(helper.make_node(op, [f"f{i}"], [f"o{i}"], name=f"{op.lower()}{i}", **attrs))
            src = f"o{i}"
        s, z = f"s{i + 1}", f"z{i + 1}"
        cur = f"q{i}" if i < len(ops) - 1 else "y"
        nodes.append(helper.make_node("QuantizeLinear", [src, s, z], [cur], name=f"q{i}"))
    return model(nodes, ("x", shape), ("y", shape), inits, TensorProto.INT8, TensorProto.INT8)
