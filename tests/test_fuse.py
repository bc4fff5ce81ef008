"""The fusion pass (passes/fuse.py): a Pad folded into the conv / pool that reads it.

IR graphs check every rule (what folds, what must stay) and that the interpreter computes
the same bytes before and after; ONNX models made here (onnx.helper + onnxruntime
quantize_static, and a tf2onnx-style int8 Pad before a MaxPool) check that the compiled C
of the fused program equals the interpreter of the unfused import on the host and on
qemu-m7, with the Pad step gone and the arena no larger than its unfusable twin's."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from codegen_support import act, conv_weights, graph
from frontend_support import model, quantize, rand
from onnx import TensorProto, helper, numpy_helper

from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.interp import run_core, run_graph
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Node, QuantParams
from tinycc_ml.ir.verify import verify_graph
from tinycc_ml.lowering import pass_context
from tinycc_ml.passes import PIPELINE, run_pipeline
from tinycc_ml.passes.fuse import fuse_pads
from tinycc_ml.targets import TARGETS, read_build_info
from tinycc_ml.verification import random_input

Q = QuantParams.per_tensor(0.05, -7)
CONTEXT = pass_context()


def _pad(x: str, y: str, pads: tuple[int, ...], value: int = Q.zp) -> Node:
    return Node("pad", ops.Pad(pads=pads, value=value), (x,), (y,))


def _padded_shape(shape: tuple[int, ...], pads: tuple[int, ...]) -> tuple[int, ...]:
    rank = len(shape)
    return tuple(d + pads[i] + pads[rank + i] for i, d in enumerate(shape))


def pad_conv_graph(pads=(0, 0, 1, 2, 0, 0, 1, 0), value: int = Q.zp, groups: int = 1, conv_pads=(0, 0, 0, 0),
                   k: int = 3, stride: int = 1, dilation: int = 1):
    c, h, w = 4, 7, 6
    xp = _padded_shape((1, c, h, w), pads)
    wt, bt = conv_weights("c", 4 if groups == 1 else xp[1], xp[1] // groups, k)
    span = dilation * (k - 1) + 1
    oh = (xp[2] + conv_pads[0] + conv_pads[2] - span) // stride + 1
    ow = (xp[3] + conv_pads[1] + conv_pads[3] - span) // stride + 1
    y = act("y", (1, wt.shape[0], oh, ow), QuantParams.per_tensor(0.2, 3))
    conv = Node("conv", ops.Conv2d(strides=(stride, stride), dilations=(dilation, dilation), pads=conv_pads,
                                   groups=groups), ("p", wt.name, bt.name), ("y",))
    return graph([act("x", (1, c, h, w), Q), act("p", xp, Q), wt, bt, y], [_pad("x", "p", pads, value), conv], "x", "y")


def pad_pool_graph(kind: str, pads=(0, 0, 1, 1, 0, 0, 2, 1), value: int = Q.zp, pool_pads=(0, 0, 0, 0),
                   count_include_pad: bool = False, kernel=(3, 3), strides=(2, 2), ceil: bool = False,
                   out_q: QuantParams = Q):
    c, h, w = 3, 8, 7
    xp = _padded_shape((1, c, h, w), pads)
    dims = []
    for i in (0, 1):
        span = xp[2 + i] + pool_pads[i] + pool_pads[i + 2] - kernel[i]
        dims.append(-(-span // strides[i]) + 1 if ceil else span // strides[i] + 1)
    if kind == "avg":
        attrs: ops.OpAttrs = ops.AveragePool2d(kernel, strides, pool_pads, count_include_pad)
    else:
        attrs, out_q = ops.MaxPool2d(kernel, strides, pool_pads), Q
    nodes = [_pad("x", "p", pads, value), Node("pool", attrs, ("p",), ("y",))]
    return graph([act("x", (1, c, h, w), Q), act("p", xp, Q), act("y", (1, c, *dims), out_q)], nodes, "x", "y")


def fused(g):
    """The graph after the pass, checked against the IR invariants."""
    return verify_graph(fuse_pads(g, CONTEXT))


def assert_same_function(before, after, seeds=(0, 1, 2)) -> None:
    for seed in seeds:
        x = np.random.default_rng(seed).integers(-128, 128, size=before.tensor("x").shape).astype(np.int8)
        x[..., :2] = -128  # extremes at the borders, where the pads act
        x[..., -1:] = 127
        want = run_core(before, {"x": x})["y"]
        got = run_core(after, {"x": x})["y"]
        assert got.tobytes() == want.tobytes()


def _kinds(g) -> list[str]:
    return [n.kind for n in g.nodes]


def test_the_pipeline_runs_fuse_after_layout_and_before_inplace():
    names = [p.name for p in PIPELINE]
    assert names.index("layout") < names.index("fuse") < names.index("inplace")
    g = pad_conv_graph()
    after = run_pipeline(g, CONTEXT, dump_after="fuse")
    assert [n.kind for n in after.graph.nodes if n.kind != "Transpose"] == ["Conv2d"]  # layout's edge transposes
    assert "Pad" not in (after.dump or "") and "Conv2d" in (after.dump or "")
    assert_same_function(g, after.graph)


@pytest.mark.parametrize("case", [
    dict(), dict(groups=4), dict(conv_pads=(1, 0, 0, 1)), dict(stride=2), dict(dilation=2, pads=(0, 0, 2, 1, 0, 0, 1, 3)),
    dict(k=1, pads=(0, 0, 0, 0, 0, 0, 0, 0)),
])
def test_a_zero_point_pad_folds_into_the_conv(case):
    g = pad_conv_graph(**case)
    f = fused(g)
    assert _kinds(f) == ["Conv2d"] and "p" not in f.tensors
    (conv,) = f.nodes
    pads = case.get("pads", (0, 0, 1, 2, 0, 0, 1, 0))
    own = case.get("conv_pads", (0, 0, 0, 0))
    assert conv.inputs[0] == "x"
    assert conv.attrs.pads == (own[0] + pads[2], own[1] + pads[3], own[2] + pads[6], own[3] + pads[7])
    assert_same_function(g, f)


@pytest.mark.parametrize("case, why", [
    (dict(value=Q.zp + 1), "pad value is not the zero point"),
    (dict(pads=(0, 1, 1, 0, 0, 0, 0, 0)), "pads a channel"),
    (dict(pads=(0, 0, 3, 0, 0, 0, 0, 0)), "a window of padding only (3 >= the 3x3 kernel)"),
    (dict(conv_pads=(2, 0, 0, 0)), "combined top pad 3 reaches the kernel"),
])
def test_pads_that_would_change_the_conv_stay(case, why):
    g = pad_conv_graph(**case)
    assert _kinds(fused(g)) == ["Pad", "Conv2d"], why


def test_a_pad_with_a_second_reader_or_read_by_the_caller_stays():
    g = pad_conv_graph()
    y2 = act("y2", g.tensor("p").shape, Q)
    extra = Node("copy", ops.Reshape(), ("p",), ("y2",))
    shared = replace(g.with_nodes(g.nodes + (extra,), {**g.tensors, "y2": y2}),
                     outputs=g.outputs + (replace(g.outputs[0], onnx_name="y2", tensor="y2", shape=y2.shape,
                                                  quant=Q),))
    assert _kinds(fuse_pads(shared, CONTEXT)) == ["Pad", "Conv2d", "Reshape"]
    alone = graph([act("x", (1, 2, 3, 3), Q), act("p", (1, 2, 5, 5), Q)], [_pad("x", "p", (0, 0, 1, 1, 0, 0, 1, 1))],
                  "x", "p")
    assert _kinds(fuse_pads(alone, CONTEXT)) == ["Pad"]


def test_a_chain_of_pads_folds_into_one_conv():
    g = pad_conv_graph(pads=(0, 0, 1, 0, 0, 0, 0, 1))
    second = _pad("x0", "x", (0, 0, 0, 1, 0, 0, 1, 0))
    g = replace(g.with_nodes((second, *g.nodes), {**g.tensors, "x0": act("x0", (1, 4, 6, 5), Q)}),
                inputs=(replace(g.inputs[0], onnx_name="x0", tensor="x0", shape=(1, 4, 6, 5)),))
    f = fuse_pads(g, CONTEXT)
    assert _kinds(f) == ["Conv2d"] and f.nodes[0].inputs[0] == "x0" and f.nodes[0].attrs.pads == (1, 1, 1, 1)


@pytest.mark.parametrize("out_q", [Q, QuantParams.per_tensor(0.11, 20)], ids=["tflite_raw", "requantizing"])
def test_a_zero_point_pad_becomes_counted_pads_of_an_average_pool(out_q):
    g = pad_pool_graph("avg", out_q=out_q)
    f = fused(g)
    assert _kinds(f) == ["AveragePool2d"]
    assert f.nodes[0].attrs.count_include_pad and f.nodes[0].attrs.pads == (1, 1, 2, 1)
    assert_same_function(g, f)
    # a pool that already counts its own pads adds the Pad's
    h = pad_pool_graph("avg", pool_pads=(1, 0, 0, 1), count_include_pad=True, out_q=out_q)
    fh = fused(h)
    assert _kinds(fh) == ["AveragePool2d"] and fh.nodes[0].attrs.pads == (2, 1, 2, 2)
    assert_same_function(h, fh)


def test_average_pools_the_pad_would_change_keep_it():
    assert _kinds(fused(pad_pool_graph("avg", value=Q.zp - 1))) == ["Pad", "AveragePool2d"]
    # its own pads are not counted, the Pad's cells are: no single divisor
    assert _kinds(fused(pad_pool_graph("avg", pool_pads=(1, 1, 0, 0)))) == ["Pad", "AveragePool2d"]
    # ceil mode: the output shape depends on where the padded input ends
    assert _kinds(fused(pad_pool_graph("avg", pads=(0, 0, 0, 0, 0, 0, 2, 0), ceil=True))) == ["Pad", "AveragePool2d"]


def test_only_a_minus_128_pad_folds_into_a_max_pool():
    g = pad_pool_graph("max", value=-128, pool_pads=(0, 1, 0, 0))
    f = fused(g)
    assert _kinds(f) == ["MaxPool2d"] and f.nodes[0].attrs.pads == (1, 2, 2, 1)
    assert_same_function(g, f)
    # the zero point is a real 0.0 that wins over negative values: it must stay a cell
    assert _kinds(fused(pad_pool_graph("max", value=Q.zp))) == ["Pad", "MaxPool2d"]


# --- compiled models, bit-exact on the host and qemu-m7 -------------------------------


def _float_pad_model(consumer: str, value: float = 0.0) -> onnx.ModelProto:
    """x -> 1x1 Conv -> Pad (constant `value`) -> consumer, as onnxruntime quantizes it."""
    c = 4
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], name="conv0"),
             helper.make_node("Pad", ["c0", "pads", "value"], ["p"], name="pad", mode="constant")]
    inits = {"w0": rand((c, 3, 1, 1), 3), "pads": np.array([0, 0, 1, 2, 0, 0, 1, 0], np.int64),
             "value": np.array(value, np.float32)}
    if consumer == "conv":
        nodes.append(helper.make_node("Conv", ["p", "w1", "b1"], ["y"], name="conv1", strides=[2, 1]))
        inits |= {"w1": rand((5, c, 3, 3), 4, 0.5), "b1": rand((5,), 5, 0.1)}
    elif consumer == "depthwise":
        nodes.append(helper.make_node("Conv", ["p", "w1", "b1"], ["y"], name="conv1", group=c, pads=[0, 0, 0, 1]))
        inits |= {"w1": rand((c, 1, 3, 3), 4, 0.5), "b1": rand((c,), 5, 0.1)}
    else:
        nodes.append(helper.make_node("AveragePool", ["p"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2]))
    return model(nodes, ("x", (1, 3, 9, 8)), ("y", None), inits)


def _unfusable(quantized: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with the pad value one LSB above the zero point (a real value of one
    scale): the Pad must then run as its own step."""
    m = onnx.ModelProto()
    m.CopyFrom(quantized)
    (pad,) = [n for n in m.graph.node if n.op_type == "Pad"]
    (quantize_node,) = [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == pad.output[0]]
    scale = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}[quantize_node.input[1]]
    m.graph.initializer.append(numpy_helper.from_array(np.array(float(scale), np.float32), "twin_pad_value"))
    pad.input[2] = "twin_pad_value"
    return m


def _int8_pad_maxpool_model(value: int) -> onnx.ModelProto:
    """tf2onnx's form: QuantizeLinear -> Pad on int8 (raw constant) -> MaxPool on int8."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], name="quant"),
             helper.make_node("Pad", ["q", "pads", "value"], ["p"], name="pad", mode="constant"),
             helper.make_node("MaxPool", ["p"], ["m"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[0, 1, 0, 0]),
             helper.make_node("DequantizeLinear", ["m", "s", "zp"], ["y"], name="dequant")]
    inits = {"s": np.array(0.05, np.float32), "zp": np.array(-7, np.int8),
             "pads": np.array([0, 0, 1, 1, 0, 0, 2, 1], np.int64), "value": np.array(value, np.int8)}
    return model(nodes, ("x", (1, 3, 9, 8)), ("y", None), inits)


def _compile_and_check(onnx_model: onnx.ModelProto, out: Path, targets: tuple[str, ...]):
    path = out.with_suffix(".onnx")
    onnx.save(onnx_model, path)
    result = compile_model(path, "stm32f746", out, CompileOptions(measure_firmware=False))
    info = read_build_info(out)
    io_in, io_out = result.imported.inputs[0], result.imported.outputs[0]
    counts = {}
    for seed in (0, 1):
        x = random_input(io_in, np.random.default_rng(seed))
        want = run_graph(result.imported, {io_in.onnx_name: x})[io_out.onnx_name]  # the import still has its Pad
        for target in targets:
            run = TARGETS[target].run(info, x, None)
            assert run.output.tobytes() == want.tobytes(), (target, seed)
            counts[target] = run.instructions
    return result, counts


CORTEX = ("qemu-m7",) if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc") else ()


@pytest.mark.parametrize("consumer", ["conv", "depthwise", "avgpool"])
def test_fused_pad_models_are_bit_exact(tmp_path, consumer):
    q = quantize(_float_pad_model(consumer))
    fused_result, fused_counts = _compile_and_check(q, tmp_path / "fused", ("host", *CORTEX))
    twin_result, twin_counts = _compile_and_check(_unfusable(q), tmp_path / "twin", ("host", *CORTEX))
    assert "Pad" in _kinds(fused_result.imported) and "Pad" not in [n.kind for n in fused_result.program.schedule]
    assert "Pad" in [n.kind for n in twin_result.program.schedule]
    assert fused_result.report["arena_bytes"] <= twin_result.report["arena_bytes"]
    if CORTEX:
        assert fused_counts["qemu-m7"] > 0 and twin_counts["qemu-m7"] > 0  # figures: benchmarks/fusion.py


def test_int8_pad_of_minus_128_folds_into_max_pool_bit_exact(tmp_path):
    fused_result, _ = _compile_and_check(_int8_pad_maxpool_model(-128), tmp_path / "fused", ("host", *CORTEX))
    assert "Pad" not in [n.kind for n in fused_result.program.schedule]
    kept, _ = _compile_and_check(_int8_pad_maxpool_model(-100), tmp_path / "kept", ("host", *CORTEX))
    assert "Pad" in [n.kind for n in kept.program.schedule]
