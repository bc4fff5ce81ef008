"""Patch stages on n_h x n_w grids (tiles narrower than the image: windows with a row
stride) against the layer-by-layer program: kernel sizes up to 7x7, stride 1 and 2,
dilation, left/right as well as top/bottom pads, conv, depthwise, pooling and Pad as the
op under test, a residual Add and a Lut in every stage; in the plan-aware interpreter, on
the host (sanitized), and the grid search against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from patch_support import chain, nhwc_program, split_tensor
from tinycc_ml.codegen.context import build_context
from tinycc_ml.compiler import lower, write_output_dir
from tinycc_ml.errors import TinycError
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import run_planned_core
from tinycc_ml.patch.search import PatchRequest, candidate_splits, choose_patch
from tinycc_ml.patch.stage import StageError, find_stage, patch_grid, patched_program, program_macs, tile_windows
from tinycc_ml.program import LoopStep
from tinycc_ml.targets import host, read_build_info

H, W = 11, 9
GRIDS = ((2, 2), (3, 2), (2, 3), (1, 3))


def _inputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=(1, 2, H, W)).astype(np.int8) for _ in range(2)]


def _check_interp(g, grids=GRIDS, seed=0):
    straight = nhwc_program(g)
    split = split_tensor(straight.graph)
    height, width = straight.graph.tensor(split).shape[2:]
    for n_h, n_w in grids:
        if n_h > height or n_w > width:
            continue
        patched = patched_program(straight, split, n_h, planner="greedy_by_size", columns=n_w)
        (loop,) = [s for s in patched.steps if isinstance(s, LoopStep)]
        assert len(loop.iterations) == n_h * n_w
        assert program_macs(patched) >= program_macs(straight)
        for x in _inputs(seed):
            want = run_core(g, {"x": x})["y"]
            assert run_planned_core(patched, {"x": x}).outputs["y"].tobytes() == want.tobytes(), (n_h, n_w)


def test_tiles_read_real_pixels_at_inner_edges_and_pads_at_the_border():
    straight = nhwc_program(chain(3, 1, 1, (1, 1, 1, 1), h=H, w=W))
    g = straight.graph
    stage = find_stage(g, straight.schedule, split_tensor(g))
    assert patch_grid(H, W, 2, 3) == (((0, 5), (0, 3)), ((0, 5), (3, 6)), ((0, 5), (6, 9)),
                                      ((5, 11), (0, 3)), ((5, 11), (3, 6)), ((5, 11), (6, 9)))
    # The middle tile of the top row: K columns 3-5; the depthwise needs t1 columns 2-6, the
    # residual Add columns 3-5: t1 holds their hull; the first conv reads x columns 0-8 with
    # no left or right pad (inner edges), the top pad only.
    held, reads = tile_windows(g, stage, (0, 5), (3, 6))
    assert held["t1"] == ((0, 6), (2, 7)) and held["t0"] == ((0, 7), (1, 8))
    ((rows, cols),) = reads["ca"]
    assert (rows.rows, rows.pad_top, rows.pad_bottom) == ((0, 8), 1, 0)
    assert (cols.rows, cols.pad_top, cols.pad_bottom) == ((0, 9), 0, 0)
    # The top-left tile pads on the left, not on the right.
    _, reads = tile_windows(g, stage, (0, 5), (0, 3))
    ((_, cols),) = reads["ca"]
    assert (cols.rows, cols.pad_top, cols.pad_bottom) == ((0, 6), 1, 0)
    patched = patched_program(straight, "t4", 2, planner="greedy_by_size", columns=3)
    (loop,) = [s for s in patched.steps if isinstance(s, LoopStep)]
    middle = loop.iterations[1]
    k_region = next(r for r in middle.regions if r.buffer == "t4")
    c4 = g.tensor("t4").shape[1]
    assert (k_region.offset, k_region.row_stride) == (3 * c4, W * c4)  # K's tile, in place in K
    x_region = next(r for r in middle.regions if r.buffer == "x")
    assert x_region.row_stride == 0  # x columns 0-8: whole rows, contiguous
    with pytest.raises(StageError, match="cannot tile"):
        patch_grid(H, W, 2, W + 1)


@pytest.mark.slow
@pytest.mark.parametrize("op", ["conv", "depthwise"])
@pytest.mark.parametrize("k", range(1, 8))
def test_conv_halo_on_grids_every_kernel_stride_dilation_and_padding(op, k):
    """Every (left, right) pad pair below the kernel, with a top/bottom pair derived from it."""
    for s, d in itertools.product((1, 2), (1, 2)):
        if d == 2 and k > 3:
            continue
        for pl, pr in itertools.product(range(k), range(k)):
            if op == "depthwise" and pr not in (pl, k - 1 - pl):
                continue
            pt, pb = pr, pl
            if H + pt + pb - (k - 1) * d - 1 < 0 or W + pl + pr - (k - 1) * d - 1 < 0:
                continue
            _check_interp(chain(k, s, d, (pt, pl, pb, pr), h=H, w=W, op=op), ((2, 2), (3, 2)),
                          seed=k * 100 + pl * 10 + pr)


@pytest.mark.slow
@pytest.mark.parametrize("op", ["maxpool", "avgpool", "avgpool_include_pad"])
def test_pool_halo_on_grids_every_kernel_stride_and_padding(op):
    for k, s in itertools.product(range(1, 8), (1, 2)):
        for pl, pr in ((pl, pr) for pl in range(k) for pr in {pl, (pl + 1) % k}):
            include = op == "avgpool_include_pad"
            g = chain(k, s, 2 if include else 1, (pl % 2, pl, pr % 2, pr), h=H, w=W, op=op.removesuffix("_include_pad"))
            _check_interp(g, ((2, 2), (2, 3)), seed=k + pl + pr)


def test_a_few_grids_for_every_op_kind():
    for k, s, d, pads, op in ((3, 1, 1, (1, 1, 1, 1), "conv"), (5, 2, 1, (1, 2, 2, 1), "depthwise"),
                              (3, 2, 2, (2, 2, 2, 2), "conv"), (3, 2, 1, (1, 1, 1, 0), "maxpool"),
                              (3, 1, 1, (1, 1, 1, 1), "avgpool"), (3, 1, 1, (1, 2, 0, 1), "pad")):
        _check_interp(chain(k, s, d, pads, h=H, w=W, op=op), seed=k)


def test_pad_op_pads_columns_only_at_the_image_border():
    for pl, pr in itertools.product(range(4), range(4)):
        _check_interp(chain(3, 1, 1, (1, pl, 0, pr), h=H, w=W, op="pad"), ((2, 2), (1, 3)))


@pytest.mark.parametrize("case, grid", [((3, 1, 1, (1, 1, 1, 1), "conv"), (2, 2)),
                                        ((5, 2, 1, (1, 2, 2, 1), "depthwise"), (3, 2)),
                                        ((3, 2, 1, (1, 1, 1, 0), "maxpool"), (2, 3)),
                                        ((2, 1, 2, (1, 0, 0, 1), "avgpool"), (2, 2)),
                                        ((3, 1, 1, (2, 1, 1, 2), "pad"), (3, 2))])
def test_patched_grid_on_the_host_is_bit_exact_sanitized(tmp_path, case, grid):
    k, s, d, pads, op = case
    g = chain(k, s, d, pads, h=H, w=W, op=op)
    straight, _ = lower(g)
    patched = patched_program(straight, split_tensor(straight.graph), grid[0], columns=grid[1])
    (loop,) = [s for s in patched.steps if isinstance(s, LoopStep)]
    assert any(r.is_strided(it.graph.tensor(r.tensor)) for it in loop.iterations for r in it.regions)
    ctx = build_context(patched, "model", "handmade.onnx", "stm32f746")
    report = {"prefix": "model", "board": "stm32f746", "arena_bytes": ctx.arena_bytes,
              "input": {"name": "x", "dtype": "int8", "shape": [1, 2, H, W]},
              "output": {"name": "y", "dtype": "int8", "shape": list(g.tensor("y").shape)}}
    write_output_dir(tmp_path, ctx, patched, report)
    assert f"for (int32_t region = 0; region < {grid[0] * grid[1]}; ++region)" in (tmp_path / "src" / "model.c").read_text()
    info = read_build_info(tmp_path)
    exe = host.build(info, sanitize=True)
    for x in _inputs(k):
        want = run_core(g, {"x": x})["y"]
        assert run_planned_core(patched, {"x": x}).outputs["y"].tobytes() == want.tobytes()
        y, _ = host.run_executable(exe, info, x)
        assert y.tobytes() == want.tobytes()


# --- the search over grids ------------------------------------------------------------------


def test_auto_search_considers_tiles_and_finds_the_lowest_arena_within_the_budget():
    """Brute force over every (K, n_h, n_w) the search may try: its choice has the lowest
    arena within the budget (ties: the lower MAC overhead, then fewer columns)."""
    straight = nhwc_program(chain(3, 1, 1, (1, 1, 1, 1), h=23, w=16, residual=False))
    base = program_macs(straight)
    budget = 60.0
    found = []
    for split in candidate_splits(straight):
        height, width = straight.graph.tensor(split).shape[2:]
        for n_w in range(1, min(width, 4) + 1):
            for n_h in range(max(2, n_w), min(height, 16) + 1):
                try:
                    p = patched_program(straight, split, n_h, planner="greedy_by_size", columns=n_w)
                except StageError:
                    continue
                overhead = 100.0 * (program_macs(p) - base) / base
                if overhead <= budget:
                    found.append((p.plan.arena_bytes, overhead, n_w, split, n_h))
    best = min(found)
    assert any(f[2] > 1 for f in found)
    program, choice = choose_patch(straight, PatchRequest("auto", overhead_pct=budget), planner="greedy_by_size")
    assert choice is not None and choice.arena_with == program.plan.arena_bytes
    assert choice.mac_overhead_pct <= budget
    assert choice.arena_with == best[0]
    report = choice.as_report()
    assert report["grid"] == [choice.n_h, choice.n_w] and set(report["halo_cols"]) == set(report["halo_rows"])


def test_forced_grids_parse_and_bad_ones_name_the_problem():
    assert PatchRequest.parse("t4:3x2") == PatchRequest("forced", "t4", 3, n_w=2)
    for text in ("t4:0x2", "t4:2x0"):
        with pytest.raises(TinycError, match="NH and NW must be at least 1"):
            PatchRequest.parse(text)
    straight = nhwc_program(chain(3, 1, 1, (1, 1, 1, 1), h=H, w=W))
    with pytest.raises(TinycError, match="10 columns cannot tile 9 columns"):
        choose_patch(straight, PatchRequest.parse("t4:2x10"), planner="greedy_by_size")
    program, choice = choose_patch(straight, PatchRequest.parse("t4:2x3"), planner="greedy_by_size")
    assert (choice.n_h, choice.n_w) == (2, 3) and "2x3 patches" in choice.summary()
    # Columns computed twice: the depthwise's and the first conv's halos, per inner edge.
    assert dict(choice.halo_cols)["ca"] > 0 and dict(choice.halo_cols)["add"] == 0


# --- on a whole model: the small MobileNetV2-like net (residual Adds, dilation, TF pads) -------


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    import onnx

    import frontend_support as fs
    from patch_models import small_mobilenet

    path = tmp_path_factory.mktemp("patch_grids") / "small_mobilenet.onnx"
    onnx.save(fs.quantize(small_mobilenet()), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("grid, cores", [("2x2", ("qemu-m7",)), ("3x2", ())], ids=["2x2-qemu", "3x2"])
def test_small_mobilenet_on_grids_is_bit_exact(mobilenet, tmp_path, grid, cores):
    """K after the third residual Add (the stem, a stride-2 5x5 depthwise with TF pads and
    a dilated depthwise in the stage), tiled: interpreter, host and (2x2) qemu-m7 agree."""
    from test_patch_models import QEMU, _bit_exact_everywhere

    from tinycc_ml.compiler import import_model

    straight, _ = lower(import_model(mobilenet))
    third_add = [n for n in straight.schedule if n.kind == "Add"][2].outputs[0]
    report = _bit_exact_everywhere(mobilenet, tmp_path, f"{third_add}:{grid}", tuple(c for c in cores if c in QEMU))
    n_h, n_w = (int(v) for v in grid.split("x"))
    patch = report["patch"]
    assert patch["grid"] == [n_h, n_w] and patch["mode"] == "forced"
    assert set(patch["halo_cols"]) == set(patch["halo_rows"]) and any(v > 0 for v in patch["halo_cols"].values())
