"""A Program that loops: two convs run in two row bands, and convs, a depthwise conv and a
pool run in column bands and 2x2 tiles over larger buffers (windows with a row stride),
give exactly the bytes of the layer-by-layer program, in the plan-aware interpreter and as
generated C on the host."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from codegen_support import act, conv, conv_weights, graph
from loop_support import banded_program, tiled_program
from patch_support import nhwc_program
from tinycc_ml.codegen.context import build_context
from tinycc_ml.compiler import lower, write_output_dir
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import run_planned_core
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, Node
from tinycc_ml.kernels.common import KernelLayoutError
from tinycc_ml.kernels.registry import kernel_calls, select
from tinycc_ml.kernels.target import HOST_TARGET
from tinycc_ml.kernels.traffic import node_traffic
from tinycc_ml.program import LoopStep
from tinycc_ml.targets import host, read_build_info


def two_convs() -> Graph:
    wa, ba = conv_weights("a", 6, 4, 3, seed=1)
    wb, bb = conv_weights("b", 5, 6, 3, seed=2)
    return graph([act("x", (1, 4, 9, 7)), wa, ba, act("t", (1, 6, 9, 7)), wb, bb, act("y", (1, 5, 9, 7))],
                 [conv("ca", "x", "a_w", "a_b", "t", pads=(1, 1, 1, 1)),
                  conv("cb", "t", "b_w", "b_b", "y", pads=(1, 1, 1, 1))], "x", "y")


def test_two_convs_in_two_row_bands_match_the_straight_program(tmp_path):
    g0 = two_convs()
    straight, _ = lower(g0)
    looped = banded_program(straight, ["ca", "cb"], [(0, 5), (5, 9)])
    (loop,) = [s for s in looped.steps if isinstance(s, LoopStep)]
    first, second = loop.iterations
    # Band 0 needs t rows 0-5 (pad top 1 at the image border), x rows 0-6; band 1 t rows 4-8
    # and x rows 3-8 (pad bottom 1): inner edges read real rows, never zeros.
    assert [n.attrs.pads for n in first.graph.nodes] == [(1, 1, 0, 1), (1, 1, 0, 1)]
    assert [n.attrs.pads for n in second.graph.nodes] == [(0, 1, 1, 1), (0, 1, 1, 1)]
    assert [first.graph.tensor(r.tensor).shape[2] for r in first.regions] == [6, 5, 7]
    # t exists only band by band: its buffer holds the larger band (6 rows of 7 x 6 bytes).
    t_request = next(r for r in looped.plan.requests if "t" in r.tensors)
    assert t_request.size == 6 * 7 * 6 < g0.tensor("t").nbytes
    rng = np.random.default_rng(5)
    ctx = build_context(looped, "model", "handmade.onnx", "stm32f746")
    report = {"prefix": "model", "board": "stm32f746", "arena_bytes": ctx.arena_bytes,
              "input": {"name": "x", "dtype": "int8", "shape": [1, 4, 9, 7]},
              "output": {"name": "y", "dtype": "int8", "shape": [1, 5, 9, 7]}}
    write_output_dir(tmp_path, ctx, looped, report)
    source = (tmp_path / "src" / "model.c").read_text()
    assert "for (int32_t region = 0; region < 2; ++region)" in source
    info = read_build_info(tmp_path)
    exe = host.build(info, sanitize=True)
    for _ in range(3):
        x = rng.integers(-128, 128, size=(1, 4, 9, 7)).astype(np.int8)
        want = run_core(g0, {"x": x})["y"]
        assert run_planned_core(straight, {"x": x}).outputs["y"].tobytes() == want.tobytes()
        assert run_planned_core(looped, {"x": x}).outputs["y"].tobytes() == want.tobytes()
        y, _ = host.run_executable(exe, info, x)
        assert y.tobytes() == want.tobytes()


def conv_depthwise_pool_conv() -> Graph:
    """x -> 3x3 conv (pads 1) -> 3x3 depthwise (pads 1) -> 3x3 max pool (stride 2, pads 1)
    -> 3x3 conv (pads 1) -> y: every op's window crosses an inner patch edge."""
    wa, ba = conv_weights("a", 5, 3, 3, seed=1)
    wb, bb = conv_weights("b", 5, 1, 3, seed=2)
    wd, bd = conv_weights("d", 4, 5, 3, seed=3)
    return graph([act("x", (1, 3, 10, 9)), wa, ba, act("t", (1, 5, 10, 9)), wb, bb, act("u", (1, 5, 10, 9)),
                  act("v", (1, 5, 5, 5)), wd, bd, act("y", (1, 4, 5, 5))],
                 [conv("ca", "x", "a_w", "a_b", "t", pads=(1, 1, 1, 1)),
                  conv("cb", "t", "b_w", "b_b", "u", pads=(1, 1, 1, 1), groups=5),
                  Node("pool", ops.MaxPool2d(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)), ("u",), ("v",)),
                  conv("cd", "v", "d_w", "d_b", "y", pads=(1, 1, 1, 1))], "x", "y")


def _run_everywhere(program, g0, tmp_path, shape):
    """Interpreter, plan-aware interpreter and the sanitized host build agree; x and y are
    stored NHWC (nhwc_program), so the host harness takes and gives NHWC bytes."""
    nhwc = (0, 2, 3, 1)
    y_shape = g0.tensor("y").shape
    ctx = build_context(program, "model", "handmade.onnx", "stm32f746")
    report = {"prefix": "model", "board": "stm32f746", "arena_bytes": ctx.arena_bytes,
              "input": {"name": "x", "dtype": "int8", "shape": [shape[i] for i in nhwc]},
              "output": {"name": "y", "dtype": "int8", "shape": [y_shape[i] for i in nhwc]}}
    write_output_dir(tmp_path, ctx, program, report)
    info = read_build_info(tmp_path)
    exe = host.build(info, sanitize=True)
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = rng.integers(-128, 128, size=shape).astype(np.int8)
        want = run_core(g0, {"x": x})["y"]
        assert run_planned_core(program, {"x": x}).outputs["y"].tobytes() == want.tobytes()
        y, _ = host.run_executable(exe, info, np.ascontiguousarray(x.transpose(nhwc)))
        assert y.transpose(0, 3, 1, 2).tobytes() == want.tobytes()
    return (tmp_path / "src" / "model.c").read_text()


COLUMNS = [((0, 10), (0, 4)), ((0, 10), (4, 9))]  # two column bands of u (9 wide)
TILES = [((0, 3), (0, 2)), ((0, 3), (2, 5)), ((3, 5), (0, 2)), ((3, 5), (2, 5))]  # 2x2 of y (5x5)


@pytest.mark.parametrize("first, second", [(COLUMNS, TILES), ([((0, 6), (0, 5)), ((0, 6), (5, 9)), ((6, 10), (0, 5)),
                                                                ((6, 10), (5, 9))], [((0, 5), (0, 3)), ((0, 5), (3, 5))])],
                         ids=["columns-then-tiles", "tiles-then-columns"])
def test_column_bands_and_tiles_over_larger_buffers_match_the_straight_program(tmp_path, first, second):
    g0 = conv_depthwise_pool_conv()
    straight = nhwc_program(g0)
    looped = tiled_program(straight, ["ca", "cb"], first, name="loop_a")
    looped = tiled_program(looped, ["pool", "cd"], second, name="loop_b")
    loop_a, loop_b = [s for s in looped.steps if isinstance(s, LoopStep)]
    # The first patch of loop a: x's window (rows 0.., columns 0..) in x's whole buffer,
    # rows 9 x 3 bytes apart; u's first patch written in place in u, rows 9 x 5 apart.
    it = loop_a.iterations[1]
    x_region = next(r for r in it.regions if r.buffer == "x")
    u_region = next(r for r in it.regions if r.buffer == "u")
    (u_rows, u_cols) = first[1]
    assert (u_region.offset, u_region.row_stride) == ((u_rows[0] * 9 + u_cols[0]) * 5, 9 * 5)
    assert x_region.row_stride == 9 * 3 and x_region.offset == (max(u_rows[0] - 2, 0) * 9 + u_cols[0] - 2) * 3
    # Inner edges read real pixels: the second patch's conv has no left pad, the first no right pad.
    assert [n.attrs.pads[1] for n in it.graph.nodes] == [0, 0]
    assert [n.attrs.pads[3] for n in loop_a.iterations[0].graph.nodes] == [0, 0]
    # The strides reach the kernels: the calls' TensorArgs and params carry them.
    (call,) = it.steps[0].calls
    assert (call.symbol, call.params["input_row_stride"], call.params["output_row_stride"]) == (
        "tinyc_conv_s8", 9 * 3, it.graph.tensor(it.steps[0].node.outputs[0]).shape[3] * 5)
    assert call.args[0].row_stride == 27
    (pool_call,) = loop_b.iterations[0].steps[0].calls
    assert pool_call.symbol == "tinyc_maxpool_s8" and pool_call.params["input_row_stride"] == 9 * 5
    # A strided region is no contiguous byte range: no access model, so no overlap fact or replay.
    assert node_traffic(it.steps[0].calls) is None
    # t lives only inside loop a, sized for its largest patch (smaller than t).
    t_request = next(r for r in looped.plan.requests if "t" in r.tensors)
    assert t_request.size < g0.tensor("t").nbytes
    source = _run_everywhere(looped, g0, tmp_path, (1, 3, 10, 9))
    assert f"for (int32_t region = 0; region < {len(first)}; ++region)" in source
    assert f"for (int32_t region = 0; region < {len(second)}; ++region)" in source


def test_a_strided_region_never_reaches_a_kernel_without_row_strides():
    g0 = conv_depthwise_pool_conv()
    straight = nhwc_program(g0)
    looped = tiled_program(straight, ["ca", "cb"], COLUMNS, name="loop_a")
    it = next(s for s in looped.steps if isinstance(s, LoopStep)).iterations[0]
    node = it.graph.nodes[1]
    strides = it.row_strides()
    assert node.outputs[0] in strides
    flagged = replace(node, attrs=replace(node.attrs, in_place=True))  # asks for the in-place depthwise
    with pytest.raises(KernelLayoutError, match="regions of a larger image"):
        kernel_calls(flagged, replace(it.graph, nodes=(it.graph.nodes[0], flagged)), HOST_TARGET, strides)
    assert select(node, it.graph, HOST_TARGET, strides).symbol == "tinyc_depthwise_conv_s8"
