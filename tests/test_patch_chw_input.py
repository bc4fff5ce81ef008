"""A channel-major (NCHW) graph input feeding a MobileNetV2-style stem (3x3 stride-2 conv):
the layout pass copies it to NHWC, and that copy joins the patch stage, so each band copies
only its own rows of every plane and the NHWC image never exists whole (issue 9: the floor
of MobileNetV2-0.35 @144 was the image and its whole NHWC copy live together). Bit-exact
with the layer-by-layer program in the plan-aware interpreter, on the sanitized host C and
on qemu-m7."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import frontend_support as fs
from patch_models import Block, mobilenet_like
from tinycc_ml.compiler import CompileOptions, compile_model, import_model, lower
from tinycc_ml.interp import run_core, run_graph
from tinycc_ml.interp.planned import run_planned, run_planned_core
from tinycc_ml.patch.search import PatchRequest, choose_patch
from tinycc_ml.program import LoopStep
from tinycc_ml.targets import TARGETS, host, read_build_info
from tinycc_ml.verification import random_input

HAS_ARM = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None
QEMU = ("qemu-m7",) if HAS_ARM or os.environ.get("CI") else ()
IMAGE = "x_QuantizeLinear_Output"  # the NCHW graph input (3 x 40 x 40)
COPY = IMAGE + "__nhwc"  # the layout pass's NHWC copy of it
SPLIT = "t10_QuantizeLinear_Output"  # K: the 10x10x8 output of the stride-2 block


@pytest.fixture(scope="module")
def stem_model(tmp_path_factory) -> Path:
    """NCHW 3x40x40 -> 3x3 s2 stem (TF-style pads) -> a residual block -> a stride-2 block."""
    path = tmp_path_factory.mktemp("chw_input") / "stem.onnx"
    onnx.save(fs.quantize(mobilenet_like(40, 8, [Block(1, 8), Block(6, 8, stride=2)], 10)), path)
    return path


def _loop(program) -> LoopStep:
    (loop,) = [s for s in program.steps if isinstance(s, LoopStep)]
    return loop


def test_the_nhwc_copy_of_a_chw_input_exists_only_band_by_band(stem_model):
    straight, _ = lower(import_model(stem_model))
    sizes = {r.name: r.size for r in straight.plan.requests}
    assert sizes[IMAGE] == sizes[COPY] == 3 * 40 * 40  # layer by layer: the image and its whole copy
    assert straight.plan.arena_bytes == 19_216

    # Full-width bands (a grid keeps the copy whole: the next test; here auto finds a 3x2
    # grid at 11,312 B, the bands' 11,536 B being one of its candidates).
    program, choice = choose_patch(straight, PatchRequest("auto", max_columns=1))
    assert choice is not None and (choice.split, choice.n_h, choice.n_w) == (SPLIT, 4, 1)
    loop = _loop(program)
    assert loop.nodes[0].name == f"layout:{COPY}" and COPY in loop.scoped
    # Each band copies rows [r0, r1) of every plane: a window one 1,600 B plane apart,
    # starting at row r0 of plane 0; the band buffer holds the tallest band's rows.
    rows = []
    for it in loop.iterations:
        copy = it.steps[0].node
        (src,) = [r for r in it.regions if r.tensor == copy.inputs[0]]
        _, c, h, w = it.graph.tensor(src.tensor).shape
        assert (src.buffer, c, w, src.row_stride, src.planes) == (IMAGE, 3, 40, 1600, True)
        assert src.offset % 40 == 0 and it.graph.tensor(copy.outputs[0]).shape == (1, 3, h, 40)
        rows.append((src.offset // 40, src.offset // 40 + h))
    assert rows[0][0] == 0 and rows[-1][1] == 40 and all(a[1] > b[0] for a, b in zip(rows, rows[1:]))
    tallest = max(r1 - r0 for r0, r1 in rows)
    sizes = {r.name: r.size for r in program.plan.requests}
    assert sizes[IMAGE] == 4_800 and sizes[COPY] == tallest * 40 * 3 == 2_280  # 19 of the 40 rows
    # The arena the plan promises: 11,536 B (19,216 B layer by layer), at its lower bound
    # plus alignment at most.
    assert program.plan.arena_bytes == 11_536
    assert program.plan.arena_bytes - program.plan.lower_bound_bytes() < 16


def test_in_column_tiles_the_copy_stays_outside_the_stage_whole(stem_model):
    """A tile would read a 3-D window of the CHW image (planes x rows x columns), which no
    region is: a grid keeps the layout copy before the loop, as its resident input."""
    straight, _ = lower(import_model(stem_model))
    program, _ = choose_patch(straight, PatchRequest("forced", SPLIT, 2, n_w=2))
    loop = _loop(program)
    assert COPY not in loop.scoped and all(n.kind != "Transpose" for n in loop.nodes)
    assert {r.name: r.size for r in program.plan.requests}[COPY] == 4_800
    rng = np.random.default_rng(2)
    g = program.graph
    for _ in range(2):
        x = rng.integers(-128, 128, size=(1, 3, 40, 40)).astype(np.int8)
        core = {g.inputs[0].tensor: x}
        want = run_core(g, core)[g.outputs[0].tensor]
        assert run_planned_core(program, core).outputs[g.outputs[0].tensor].tobytes() == want.tobytes()


@pytest.mark.parametrize("bands", [4, 7])
def test_a_banded_chw_input_is_bit_exact_on_host_c_and_qemu(stem_model, tmp_path, bands):
    result = compile_model(stem_model, "stm32f746", tmp_path / "on",
                           CompileOptions(patch=f"{SPLIT}:{bands}x1", measure_firmware=False))
    assert COPY in _loop(result.program).scoped
    g = result.imported
    inp, out = g.inputs[0], g.outputs[0]
    info = read_build_info(tmp_path / "on")
    exe = host.build(info, sanitize=True)
    rng = np.random.default_rng(5)
    for i in range(3):
        x = random_input(inp, rng)
        want = run_graph(g, {inp.onnx_name: x})[out.onnx_name].tobytes()
        assert run_planned(result.program, {inp.onnx_name: x})[out.onnx_name].tobytes() == want
        assert host.run_executable(exe, info, x)[0].tobytes() == want
        for core in QEMU if i == 0 else ():
            assert TARGETS[core].run(info, x, None).output.tobytes() == want, core
