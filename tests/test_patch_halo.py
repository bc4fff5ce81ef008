"""Patch stages, band by band, against the layer-by-layer program: every kernel size up to
7x7, stride 1 and 2, dilation, every top/bottom padding, odd image sizes; conv, depthwise,
pooling and Pad as the op under test, a residual Add and a Lut inside every stage."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from patch_support import chain, nhwc_program, split_tensor
from tinycc_ml.codegen.context import build_context
from tinycc_ml.compiler import lower, write_output_dir
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import run_planned_core
from tinycc_ml.patch.stage import StageError, band_rows, find_stage, patched_program, program_macs, stage_windows
from tinycc_ml.program import LoopStep
from tinycc_ml.targets import host, read_build_info


def _inputs(seed: int, shape=(1, 2, 11, 5)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=shape).astype(np.int8) for _ in range(2)]


def _check_interp(g, bands_list, seed=0):
    straight = nhwc_program(g)
    split = split_tensor(straight.graph)
    height = straight.graph.tensor(split).shape[2]
    for bands in bands_list:
        if bands > height:
            continue
        patched = patched_program(straight, split, bands, planner="greedy_by_size")
        assert sum(isinstance(s, LoopStep) for s in patched.steps) == 1
        assert program_macs(patched) >= program_macs(straight)
        for x in _inputs(seed):
            want = run_core(g, {"x": x})["y"]
            assert run_planned_core(patched, {"x": x}).outputs["y"].tobytes() == want.tobytes(), bands


CONV_CASES = [(k, s, d, pt, pb) for k in range(1, 8) for s in (1, 2) for d in (1, 2)
              for pt in range(k) for pb in range(k) if d == 1 or (k <= 3)]


@pytest.mark.slow
@pytest.mark.parametrize("op", ["conv", "depthwise"])
@pytest.mark.parametrize("k", range(1, 8))
def test_conv_halo_every_kernel_stride_dilation_and_padding(op, k):
    """conv: every (top, bottom) pad pair; depthwise (the same row geometry): equal pads and
    pads that sum to k - 1 ("same" and its mirror)."""
    for kk, s, d, pt, pb in CONV_CASES:
        if kk != k or (op == "depthwise" and pb not in (pt, k - 1 - pt)):
            continue
        pl, pr = pt % 2, pb % 2 + (k > 4)
        if (11 + pt + pb - (k - 1) * d - 1) < 0 or (5 + pl + pr - (k - 1) * d - 1) < 0:
            continue
        _check_interp(chain(k, s, d, (pt, pl, pb, pr), op=op), (2, 3), seed=k * 100 + pt * 10 + pb)


@pytest.mark.slow
@pytest.mark.parametrize("op", ["maxpool", "avgpool", "avgpool_include_pad"])
def test_pool_halo_every_kernel_stride_and_padding(op):
    """Every top pad below the kernel, each with two bottom pads (equal, and one more)."""
    for k, s in itertools.product(range(1, 8), (1, 2)):
        for pt, pb in ((pt, pb) for pt in range(k) for pb in {pt, (pt + 1) % k}):
            if 5 + pt % 2 < k:  # no output column
                continue
            include = op == "avgpool_include_pad"
            g = chain(k, s, 2 if include else 1, (pt, pt % 2, pb, 0), op=op.removesuffix("_include_pad"))
            _check_interp(g, (2, 3), seed=k + pt + pb)


def test_pad_op_in_a_stage_pads_only_at_the_image_border():
    for pt, pb in itertools.product(range(4), range(4)):
        _check_interp(chain(3, 1, 1, (pt, 1, pb, 2), op="pad"), (2, 3))
    # Five bands of 17 rows: the first holds only pad rows, a region without an input row.
    straight = nhwc_program(chain(3, 1, 1, (3, 1, 3, 2), op="pad"))
    with pytest.raises(StageError, match="reads no row of t0 in band"):
        patched_program(straight, "t4", 8)


def test_windows_read_real_rows_at_inner_edges_and_pads_at_the_border():
    straight, _ = lower(chain(3, 1, 1, (1, 1, 1, 1)))
    g = straight.graph
    stage = find_stage(g, straight.schedule, split_tensor(g))
    # The NCHW input's layout copy joins the stage: each band copies its own rows (test_patch_chw_input.py).
    assert [n.name for n in stage.nodes] == ["layout:x__nhwc", "ca", "cb", "cd", "lut", "add"]
    held, reads = stage_windows(g, stage, (0, 5))
    # K rows 0-4: the depthwise needs t1 rows 0-5, the residual Add rows 0-4: t1 holds their hull.
    assert held["t1"] == (0, 6) and held["t0"] == (0, 7)
    (first,) = reads["ca"]
    assert (first.rows, first.pad_top, first.pad_bottom) == ((0, 8), 1, 0)
    held, reads = stage_windows(g, stage, (5, 11))
    (last,) = reads["ca"]
    assert (last.rows, last.pad_top, last.pad_bottom) == ((2, 11), 0, 1)
    assert band_rows(11, 3) == ((0, 3), (3, 7), (7, 11))


def test_a_tensor_read_after_the_stage_cannot_be_inside_it():
    straight, _ = lower(chain(3, 1, 1, (1, 1, 1, 1)))
    with pytest.raises(StageError, match="also read after it"):
        find_stage(straight.graph, straight.schedule, "t3")  # t1 feeds the Add after t3
    with pytest.raises(StageError, match="cannot tile"):
        band_rows(4, 5)


@pytest.mark.parametrize("case", [(1, 1, 1, (0, 0, 0, 0), "conv"), (3, 2, 1, (1, 1, 0, 0), "conv"),
                                  (5, 1, 2, (4, 2, 3, 4), "depthwise"), (7, 2, 1, (3, 3, 3, 3), "depthwise"),
                                  (3, 2, 1, (1, 1, 1, 0), "maxpool"), (2, 1, 2, (1, 0, 0, 0), "avgpool"),
                                  (3, 1, 1, (2, 1, 1, 0), "pad")])
def test_patched_program_on_the_host_is_bit_exact_sanitized(tmp_path, case):
    k, s, d, pads, op = case
    g = chain(k, s, d, pads, op=op)
    straight, _ = lower(g)
    split = split_tensor(straight.graph)
    patched = patched_program(straight, split, 3)
    ctx = build_context(patched, "model", "handmade.onnx", "stm32f746")
    y_shape = list(g.tensor("y").shape)
    report = {"prefix": "model", "board": "stm32f746", "arena_bytes": ctx.arena_bytes,
              "input": {"name": "x", "dtype": "int8", "shape": [1, 2, 11, 5]},
              "output": {"name": "y", "dtype": "int8", "shape": y_shape}}
    write_output_dir(tmp_path, ctx, patched, report)
    assert "for (int32_t region = 0; region < 3; ++region)" in (tmp_path / "src" / "model.c").read_text()
    info = read_build_info(tmp_path)
    exe = host.build(info, sanitize=True)
    for x in _inputs(k):
        want = run_core(g, {"x": x})["y"]
        y, _ = host.run_executable(exe, info, x)
        assert y.tobytes() == want.tobytes()
