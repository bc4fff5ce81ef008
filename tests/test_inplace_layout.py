"""Memory-driven variant choices: channel-major (CHW) islands in the layout pass and the
in-place depthwise flags of the inplace pass. Each is taken only where the planned arena
shrinks; the programs that take them run bit-exact in the plan-aware interpreter and as
generated C on the host (sanitized)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen_support import MODELS, act, conv, conv_weights, graph
from tinycc_ml.codegen.context import build_context
from tinycc_ml.compiler import import_model, lower, write_output_dir
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import run_planned_core
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, Node
from tinycc_ml.passes import run_pipeline
from tinycc_ml.lowering import estimate_arena, node_calls
from tinycc_ml.passes.inplace import choose_in_place, in_place_candidates, with_in_place
from tinycc_ml.passes.layout import CHW, NHWC, _Layout, chw_islands, layout
from tinycc_ml.targets import host, read_build_info
from tinycc_ml.lowering import pass_context

HOST_PASSES = pass_context()  # the passes as a host compile runs them

RELU = ops.Lut(table=tuple(max(v, 0) for v in range(-128, 128)), function="relu")


def dw_relu(c=16, hw=12) -> Graph:
    """An NCHW model: x -> depthwise 3x3 -> relu -> y."""
    w, b = conv_weights("dw", c, 1, 3)
    return graph([act("x", (1, c, hw, hw)), w, b, act("h", (1, c, hw, hw)), act("y", (1, c, hw, hw))],
                 [conv("dw", "x", "dw_w", "dw_b", "h", pads=(1, 1, 1, 1), groups=c), Node("relu", RELU, ("h",), ("y",))],
                 "x", "y")


def dw_pw(cin=16, cout=8, hw=12, tail: bool = False) -> Graph:
    """x -> depthwise 3x3 -> pointwise -> y (NCHW), or with `tail` a 3x3 conv after it."""
    w1, b1 = conv_weights("dw", cin, 1, 3)
    w2, b2 = conv_weights("pw", cout, cin, 1, seed=2)
    tensors = [act("x", (1, cin, hw, hw)), w1, b1, act("h", (1, cin, hw, hw)), w2, b2, act("p", (1, cout, hw, hw))]
    nodes = [conv("dw", "x", "dw_w", "dw_b", "h", pads=(1, 1, 1, 1), groups=cin), conv("pw", "h", "pw_w", "pw_b", "p")]
    if not tail:
        return graph(tensors, nodes, "x", "p")
    w3, b3 = conv_weights("c3", 4, cout, 3, seed=3)
    tensors += [w3, b3, act("y", (1, 4, hw - 2, hw - 2))]
    return graph(tensors, nodes + [conv("c3", "p", "c3_w", "c3_b", "y")], "x", "y")


def mobilenet_block() -> Graph:
    """x -> pointwise -> depthwise -> pointwise -> y (NCHW): CHW would cost the pointwise
    convs their overlap."""
    w1, b1 = conv_weights("pw1", 16, 8, 1)
    w2, b2 = conv_weights("dw", 16, 1, 3, seed=1)
    w3, b3 = conv_weights("pw2", 8, 16, 1, seed=2)
    return graph([act("x", (1, 8, 10, 10)), w1, b1, act("a", (1, 16, 10, 10)), w2, b2, act("b", (1, 16, 10, 10)),
                  w3, b3, act("y", (1, 8, 10, 10))],
                 [conv("pw1", "x", "pw1_w", "pw1_b", "a"), conv("dw", "a", "dw_w", "dw_b", "b", pads=(1, 1, 1, 1), groups=16),
                  conv("pw2", "b", "pw2_w", "pw2_b", "y")], "x", "y")


def _symbols(program) -> dict[str, str]:
    return {n.name: calls[0].symbol for n in program.schedule if (calls := program.calls[n.name])}


def _host_build(g: Graph, program, tmp_path):
    ctx = build_context(program, "model", "handmade.onnx", "stm32f746")
    report = {"prefix": "model", "board": "stm32f746", "arena_bytes": ctx.arena_bytes,
              "input": {"name": g.inputs[0].onnx_name, "dtype": "int8", "shape": list(g.inputs[0].shape)},
              "output": {"name": g.outputs[0].onnx_name, "dtype": "int8", "shape": list(g.outputs[0].shape)}}
    write_output_dir(tmp_path, ctx, program, report)
    info = read_build_info(tmp_path)
    return host.build(info, sanitize=True), info


def _runs_bit_exact(g: Graph, program, tmp_path, inputs: int = 3) -> None:
    exe, info = _host_build(g, program, tmp_path)
    rng = np.random.default_rng(8)
    for _ in range(inputs):
        x = rng.integers(-128, 128, size=g.tensor("x").shape).astype(np.int8)
        want = run_core(g, {"x": x})[g.outputs[0].tensor]
        assert run_planned_core(program, {"x": x}).outputs[g.outputs[0].tensor].tobytes() == want.tobytes()
        y, _ = host.run_executable(exe, info, x)
        assert y.tobytes() == want.tobytes()


@pytest.mark.parametrize("make", [dw_relu, dw_pw, lambda: dw_pw(tail=True)], ids=["dw_relu", "dw_pw", "dw_pw_conv"])
def test_nchw_depthwise_runs_channel_major_in_place(make, tmp_path):
    g = make()
    nhwc, chosen = _Layout(g).run(), layout(g, HOST_PASSES)
    assert any(n.name.startswith("layout:") for n in nhwc.nodes)  # NHWC copies the NCHW input
    assert not any(n.name.startswith("layout:x") for n in chosen.nodes)  # CHW reads it as it is
    assert chosen.dim_orders["x"] == CHW and chosen.dim_orders["h"] == CHW
    program, _ = lower(g)
    symbols = _symbols(program)
    assert symbols["dw"] == "tinyc_depthwise_conv_chw_inplace_s8"
    if "pw" in symbols:
        want = "tinyc_pointwise_conv_chw_hwc_s8" if "c3" in symbols else "tinyc_pointwise_conv_chw_s8"
        assert symbols["pw"] == want
    dw_fact = next(f for f in program.plan.facts if f.node == "dw")
    assert dw_fact.min_distance == 0 and dw_fact in program.plan.used_facts()
    assert program.plan.arena_bytes == estimate_arena(chosen) < estimate_arena(nhwc)
    _runs_bit_exact(g, program, tmp_path)


def test_channel_major_is_not_chosen_where_it_does_not_pay():
    g = mobilenet_block()
    (island,) = chw_islands(g)
    assert island == {"x", "a", "b", "y"}  # the pointwise convs pull the NCHW input and output in
    all_chw = _Layout(g, island).run()
    assert not any(n.name.startswith("layout:") for n in all_chw.nodes)  # no copies at all, yet:
    assert estimate_arena(all_chw) > estimate_arena(_Layout(g).run())
    chosen = layout(g, HOST_PASSES)
    assert chosen.dim_orders["a"] == NHWC and chosen.dim_orders["b"] == NHWC


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
def test_in_place_depthwise_where_the_plan_shrinks():
    kws = run_pipeline(import_model(MODELS / "kws.tf2onnx_int8.onnx"), HOST_PASSES, passes=()).graph
    kws = layout(kws, HOST_PASSES)
    candidates = in_place_candidates(kws)
    assert len(candidates) == 8  # the 25x5x64 depthwise and pointwise convs (64 -> 64 channels)
    assert {n.name for n in choose_in_place(kws, HOST_PASSES).nodes if n.kind == "Conv2d" and n.attrs.in_place} == set(candidates)
    assert estimate_arena(with_in_place(kws, set(candidates))) == 8448 < estimate_arena(kws) == 9792
    vww = layout(import_model(MODELS / "vww.tf2onnx_int8.onnx"), HOST_PASSES)
    assert in_place_candidates(vww)  # vww's peak is a pointwise conv: rings would only add bytes
    assert not any(n.kind == "Conv2d" and n.attrs.in_place for n in choose_in_place(vww, HOST_PASSES).nodes)
    for g in (kws, vww):  # no NCHW boundary next to a depthwise conv: no channel-major kernel
        assert not any("chw" in c.symbol for n in g.nodes for c in node_calls(g)[n.name])


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
def test_kws_in_place_program_runs_bit_exact(tmp_path):
    g = import_model(MODELS / "kws.tf2onnx_int8.onnx")
    program, _ = lower(g)
    symbols = list(_symbols(program).values())
    assert symbols.count("tinyc_depthwise_conv_inplace_s8") == symbols.count("tinyc_pointwise_conv_inplace_s8") == 4
    exe, info = _host_build(g, program, tmp_path)
    rng = np.random.default_rng(3)
    name = g.inputs[0].tensor
    for _ in range(2):
        x = rng.integers(-128, 128, size=g.tensor(name).shape).astype(np.int8)
        want = run_core(g, {name: x})[g.outputs[0].tensor]
        y, _ = host.run_executable(exe, info, x)
        assert y.tobytes() == want.tobytes()
