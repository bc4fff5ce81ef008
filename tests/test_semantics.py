"""`--semantics tflite|onnx|auto` (issue 10 point 3): the choice from the model's origin, the
option and its errors, the IR invariant, and onnxruntime-quantized repo models that follow ONNX's
definition op by op, with the C equal to the interpreter in both semantics.

Figures over 20 random inputs, each op on onnxruntime's own inputs (tinycc_ml/op_agreement.py):
every op equal to onnxruntime on >= 99.9 % of its elements and never more than 1 LSB apart, the
final output at most 2 LSB apart.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from frontend_support import add_model, conv_model, gemm_model, pool_model, quantize, softmax_model, unary_model

from tinycc_ml import api
from tinycc_ml.cli import main
from tinycc_ml.errors import TinycError
from tinycc_ml.frontend import import_model, load_model
from tinycc_ml.frontend.onnx_import import load_model_with_semantics
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.ir.verify import IRInvariantError, verify_graph
from tinycc_ml.op_agreement import compare_ops
from tinycc_ml.verification import verify_model

ORT_MODELS = {
    "conv_relu": lambda: conv_model(relu=True),
    "depthwise": lambda: conv_model(x_shape=(1, 4, 8, 8), out_ch=4, group=4, pads=[1, 1, 1, 1]),
    "gemm": lambda: gemm_model(True),
    "add": lambda: add_model(),
    "avgpool_pads": lambda: pool_model("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "avgpool_2x2": lambda: pool_model("AveragePool", shape=(1, 3, 8, 8), kernel_shape=[2, 2], strides=[2, 2]),
    "global_avgpool": lambda: pool_model("GlobalAveragePool", shape=(1, 5, 6, 6)),
    "softmax": lambda: softmax_model(12),
    "sigmoid": lambda: unary_model("Sigmoid"),
    "hardswish": lambda: unary_model("HardSwish"),
}


@pytest.fixture(scope="module")
def ort_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ort_models")
    paths = {}
    for name, build in ORT_MODELS.items():
        extra = {"op_types_to_quantize": ["HardSwish"]} if name == "hardswish" else {}
        paths[name] = folder / f"{name}.onnx"
        onnx.save(quantize(build(), extra_options={"ForceQuantizeNoInputCheck": True}, **extra), paths[name])
    return paths


def _semantics_of_nodes(graph) -> set[str]:
    return {n.attrs.semantics for n in graph.nodes if hasattr(n.attrs, "semantics")}


def test_auto_follows_the_producer(ort_models):
    m = onnx.load(ort_models["conv_relu"])
    assert m.producer_name == "onnx.quantize"  # what onnxruntime.quantization writes
    graph = import_model(m, "conv")
    assert graph.semantics == "onnx" and _semantics_of_nodes(graph) == {"onnx"}
    for producer, expected in (("tf2onnx", "tflite"), ("tinyc-tests", "tflite"), ("", "tflite")):
        m.producer_name = producer
        graph = import_model(m, "conv")
        assert graph.semantics == expected and _semantics_of_nodes(graph) == {expected}, producer
    m.producer_name = "onnx.quantize"
    assert import_model(m, "conv", "tflite").semantics == "tflite"
    m.producer_name = "tf2onnx"
    assert import_model(m, "conv", "onnx").semantics == "onnx"


def test_reason_is_given(ort_models):
    _, choice = load_model_with_semantics(ort_models["gemm"])
    assert choice.as_report() == {"semantics": "onnx",
                                  "reason": "producer 'onnx.quantize': quantized by onnxruntime, follows ONNX's definition"}
    _, forced = load_model_with_semantics(ort_models["gemm"], "tflite")
    assert forced.as_report() == {"semantics": "tflite", "reason": "forced by --semantics"}


def test_unknown_semantics_is_an_error(ort_models, tmp_path):
    with pytest.raises(TinycError, match=r"unknown semantics 'tfl'; choose one of auto, tflite, onnx"):
        load_model(ort_models["gemm"], "tfl")
    with pytest.raises(TinycError, match=r"unknown semantics 'ONNX'"):
        api.compile(ort_models["gemm"], out_dir=tmp_path / "out", semantics="ONNX", measure_firmware=False)
    result = CliRunner().invoke(main, ["compile", str(ort_models["gemm"]), "-o", str(tmp_path / "o"),
                                       "--semantics", "exact"])
    assert result.exit_code == 2
    assert "invalid value for '--semantics': 'exact' is not one of 'auto', 'tflite', 'onnx'" in result.output


def test_nodes_must_follow_the_graphs_semantics(ort_models):
    graph = load_model(ort_models["conv_relu"])
    node = graph.nodes[0]
    mixed = replace(graph, nodes=(replace(node, attrs=replace(node.attrs, semantics="tflite")), *graph.nodes[1:]))
    with pytest.raises(IRInvariantError, match="follows 'tflite' arithmetic in a graph whose semantics is 'onnx'"):
        verify_graph(mixed)
    with pytest.raises(IRInvariantError, match="unknown semantics 'exact'"):
        verify_graph(replace(graph, semantics="exact", nodes=()))


def test_summary_and_report_name_the_semantics(ort_models, tmp_path):
    result = CliRunner().invoke(main, ["compile", str(ort_models["softmax"]), "-o", str(tmp_path / "out"),
                                       "--no-firmware-size"])
    assert result.exit_code == 0, result.output
    assert ("  semantics: onnx (producer 'onnx.quantize': quantized by onnxruntime, follows ONNX's definition)"
            in result.stdout.splitlines())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["semantics"] == "onnx"
    assert [op["kernel"] for op in report["ops"]] == ["tinyc_softmax_table_s8"]
    forced = CliRunner().invoke(main, ["compile", str(ort_models["softmax"]), "-o", str(tmp_path / "tfl"),
                                       "--no-firmware-size", "--semantics", "tflite"])
    assert "  semantics: tflite (forced by --semantics)" in forced.stdout.splitlines()
    report = json.loads((tmp_path / "tfl" / "report.json").read_text())
    assert report["semantics"] == "tflite" and report["semantics_reason"] == "forced by --semantics"
    # TFLite's softmax writes (1/256, -128), and a requantize table follows to the model's output
    assert [op["kernel"] for op in report["ops"]] == ["tinyc_softmax_s8", "tinyc_lut_s8"]


# onnxruntime gives AveragePool its input's scale; over an even window 1/n of the averages are then
# exact ties (k + 0.5) in real arithmetic, which onnxruntime rounds by the float32 error of its own
# summation order: the interpreter and C follow that order (quant/ort_pool.py), so ties agree too.
@pytest.mark.parametrize("name", sorted(ORT_MODELS))
def test_ort_model_follows_onnx_op_by_op(ort_models, name):
    result = compare_ops(ort_models[name], load_model(ort_models[name]), count=20)
    assert result.semantics == "onnx" and result.ops, result
    for op in result.ops:
        assert op.max_lsb <= 1 and op.equal_share >= 0.999, op
    assert result.output_max_lsb <= 2, result


C_CHECKED = ("add", "avgpool_2x2", "avgpool_pads", "depthwise", "gemm", "softmax")


@pytest.mark.parametrize("semantics", ["onnx", "tflite"])
@pytest.mark.parametrize("name", C_CHECKED)
def test_host_c_equals_interpreter_in_both_semantics(ort_models, name, semantics):
    result = verify_model(ort_models[name], "stm32f746", 3, 0, targets=("host",), semantics=semantics)
    assert result.ok, "\n".join(result.lines())


def test_tflite_born_unary_ops_use_tflites_integer_kernels(ort_models):
    """The same HardSwish model: TFLite's HARD_SWISH table when it is TFLite-born, ONNX's float
    formula when onnxruntime quantized it; the two differ on some codes."""
    from tinycc_ml.quant import tflite_tables
    from tinycc_ml.quant.lut import elementwise_table

    m = onnx.load(ort_models["hardswish"])
    onnx_graph = import_model(m, "hs")
    m.producer_name = "tf2onnx"
    tflite_graph = import_model(m, "hs")
    (lut_onnx,) = [n for n in onnx_graph.nodes if n.kind == "Lut"]
    (lut_tflite,) = [n for n in tflite_graph.nodes if n.kind == "Lut"]
    x_q, y_q = (onnx_graph.tensor(lut_onnx.inputs[0]).quant, onnx_graph.tensor(lut_onnx.outputs[0]).quant)
    assert lut_onnx.attrs.table == elementwise_table("hardswish", {}, x_q, y_q)
    assert lut_tflite.attrs.table == tflite_tables.hard_swish_table(x_q, y_q)
    # and the two definitions do differ: TFLite's int16 arithmetic rounds otherwise on some codes
    a_q, b_q = QuantParams.per_tensor(0.05, -3), QuantParams.per_tensor(0.04, 5)
    differ = np.array(elementwise_table("hardswish", {}, a_q, b_q)) != np.array(tflite_tables.hard_swish_table(a_q, b_q))
    assert np.count_nonzero(differ) > 0


def test_pool_follows_onnxruntime_at_exact_ties(ort_models):
    """The avgpool_2x2 model: where the exact average is k + 0.5, onnxruntime's result is its float32
    sum (column sums first) rounded, not the half-even rounding of the real value; tinyc follows
    that float order and equals onnxruntime on every element, the ties included."""
    from tinycc_ml import op_agreement

    path = ort_models["avgpool_2x2"]
    graph = load_model(path)
    (pool,) = [n for n in graph.nodes if n.kind == "AveragePool2d"]
    in_q, out_q = graph.tensor(pool.inputs[0]).quant, graph.tensor(pool.outputs[0]).quant
    session = op_agreement._session(op_agreement._exposed(path.read_bytes()))
    names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(0)
    ties = mismatches = 0
    for _ in range(20):
        x = op_agreement._random_input(graph, rng)
        values = dict(zip(names, session.run(None, {graph.inputs[0].onnx_name: x})))
        theirs = {k: v for k, v in values.items() if v.dtype == np.int8}
        (kind, diff), = [d for node, d in op_agreement._per_op(graph, theirs, x).items() if node == pool.name]
        a = theirs[pool.inputs[0]].astype(np.int64) - in_q.zp
        exact = a.reshape(1, 3, 4, 2, 4, 2).sum(axis=(3, 5)) * in_q.s / 4 / out_q.s
        tie = np.isclose(exact - np.floor(exact), 0.5, rtol=0, atol=1e-9)
        ties += int(tie.sum())
        mismatches += int(np.count_nonzero(diff))
    assert ties > 0 and mismatches == 0, (ties, mismatches)


@pytest.mark.parametrize("name", ["add", "softmax", "global_avgpool"])
def test_uint8_ort_model_follows_onnx_op_by_op(name):
    """onnxruntime's former default, QUInt8 activations: the same arithmetic on the shifted zero points."""
    import tempfile

    q = quantize(ORT_MODELS[name](), activation="QUInt8", extra_options={"ForceQuantizeNoInputCheck": True})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}_u8.onnx"
        onnx.save(q, path)
        result = compare_ops(path, load_model(path), count=20)
    assert result.semantics == "onnx"
    assert all(op.max_lsb <= 1 and op.equal_share >= 0.999 for op in result.ops), result
    assert result.output_max_lsb <= 2, result
