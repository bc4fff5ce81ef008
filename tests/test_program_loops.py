"""A Program that loops: two convs run in two row bands give exactly the bytes of the
layer-by-layer program, in the plan-aware interpreter and as generated C on the host."""

from __future__ import annotations

import numpy as np

from codegen_support import act, conv, conv_weights, graph
from loop_support import banded_program
from tinycc_ml.codegen.context import build_context
from tinycc_ml.compiler import lower, write_output_dir
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import run_planned_core
from tinycc_ml.ir.graph import Graph
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
