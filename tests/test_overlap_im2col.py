"""Overlap distances of the DSP cores' im2col conv variants (tinyc_conv_im2col_s8 and
tinyc_conv_im2col8_s8), derived from their pixel-pair access model (kernels/access.py
conv_im2col), checked on the real C kernels on one shared buffer, portable and emulated-SIMD
builds: at D = min_distance the output is the plain one; at D - 1 some shapes go wrong (the
bound is tight: both windows of a pair are read before either pixel is written, and no
earlier). The pair model also never asks more than the per-pixel model of tinyc_conv_s8,
which is why swapping these variants in never grows an arena."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from codegen_support import MODELS
from kernel_support import NHWC, act, const, random_int8, single_node
from overlap_support import run_shared
from tinycc_ml.boards import load_board
from tinycc_ml.compiler import import_model, lower
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import encode
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.access import min_distance
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.kernels.traffic import node_traffic

DSP = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=1 << 20)
QI, QO, QW = QuantParams.per_tensor(0.05, 3), QuantParams.per_tensor(0.02, -5), QuantParams.per_tensor(0.01, 0)


def conv(h, w, cin, cout, k, s, p, n=1, dil=1, avoid=()) -> Graph | None:
    eff = (k - 1) * dil + 1
    oh, ow = (h + 2 * p - eff) // s + 1, (w + 2 * p - eff) // s + 1
    if oh < 1 or ow < 1 or p >= eff or (k == 1 and s == 1 and p == 0):
        return None
    rng = np.random.default_rng(h * 1000 + w * 100 + cin * 10 + cout + k)
    wt = rng.integers(-128, 128, size=(cout, cin, k, k)).astype(np.int8)
    b = rng.integers(-500, 500, size=cout).astype(np.int32)
    attrs = ops.Conv2d((s, s), (dil, dil), (p, p, p, p), 1, avoid_variants=avoid)
    return single_node(attrs, [act("x", (n, cin, h, w), QI), const("w", wt, QW), const("b", b)],
                       act("y", (n, cout, oh, ow), QO), {"x": NHWC, "y": NHWC})


def shared_output(lib, graph: Graph, distance: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(C output with y placed `distance` bytes before x in one buffer, the plain output)."""
    rng = np.random.default_rng(seed)
    x = random_int8(rng, graph.tensor("x").shape)
    want = encode(graph, "y", run_core(graph, {"x": x})["y"])
    x_size, y_size = graph.tensor("x").nbytes, graph.tensor("y").nbytes
    offsets = {"x": max(distance, 0), "y": max(-distance, 0)}
    end = max(offsets["x"] + x_size, offsets["y"] + y_size)
    arena = run_shared(lib, kernel_calls(graph.nodes[0], graph, DSP), offsets, end, {"x": encode(graph, "x", x)})
    return arena[offsets["y"]:offsets["y"] + y_size], want


GRID = list(itertools.product((3, 4), (3, 5), (1, 3, 4), (1, 2, 5), (1, 3), (1, 2), (0, 1), (1, 2)))


@pytest.mark.parametrize("symbol", ["tinyc_conv_im2col_s8", "tinyc_conv_im2col8_s8"])
def test_im2col_overlap_distances_are_safe_and_tight(kernel_lib, kernel_lib_simd, symbol):
    # every grid conv has in_c <= 4: tinyc_conv_gather_w16_s8 (ahead of both) is avoided here
    gather = ("tinyc_conv_gather_w16_s8",)
    avoid = gather if symbol == "tinyc_conv_im2col_s8" else gather + ("tinyc_conv_im2col_s8",)
    cases = tight = 0
    for seed, (h, w, cin, cout, k, s, p, n) in enumerate(GRID):
        graph = conv(h, w, cin, cout, k, s, p, n=n, avoid=avoid)
        if graph is None:
            continue
        calls = kernel_calls(graph.nodes[0], graph, DSP)
        assert calls[0].symbol == symbol
        d = min_distance(node_traffic(calls), "x", graph.tensor("x").nbytes)
        per_pixel = min_distance(node_traffic(kernel_calls(graph.nodes[0], graph, HOST_TARGET)), "x",
                                 graph.tensor("x").nbytes)
        assert d <= per_pixel  # tinyc_conv_s8's model: the pair model never needs more room
        if d >= graph.tensor("y").nbytes:
            continue
        cases += 1
        wrong = False
        for lib in (kernel_lib, kernel_lib_simd):
            got, want = shared_output(lib, graph, d, seed)
            assert got.tobytes() == want.tobytes(), f"{symbol} at d={d}: {graph.nodes[0]}"
            if d - 1 > -graph.tensor("x").nbytes:
                got, want = shared_output(lib, graph, d - 1, seed)
                wrong = wrong or got.tobytes() != want.tobytes()
        tight += wrong
    assert cases > 100 and tight > cases // 3


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
def test_scratch_pass_keeps_the_arena():
    """resnet8 on a DSP core whose flash has no room for int16 weights (the STM32F746's core
    with 128 KB: 3/4 of it holds the int8 constants, 91 KB, not with their 3x3 weights doubled):
    the scratch pass lets in only scratches that fit, so the arena is the scratch-free
    kernels' 33,312 B; the first block's 3x3 convs (their steps are the peak) run the
    int8-column variant and tinyc_conv_s8, every other conv the int16-column one. With the
    board's 1 MB, the scratch-free int16-weight conv takes every 3x3 conv with channels
    % 4 == 0 and the gathered-window one the first conv and the strided 1x1 shortcuts, at the
    same arena."""
    path = MODELS / "resnet8.tf2onnx_int8.onnx"
    board_target = KernelTarget.of_board(load_board("stm32f746"))
    small_flash = replace(board_target, flash_bytes=128 * 1024)
    program, _ = lower(import_model(path), target=small_flash)
    symbols = [c.symbol for calls in program.calls.values() for c in calls if c.symbol.startswith("tinyc_conv")]
    assert program.plan.arena_bytes == 33_312
    assert symbols.count("tinyc_conv_im2col_s8") == 7
    assert symbols.count("tinyc_conv_im2col8_s8") == 1 and symbols.count("tinyc_conv_s8") == 1

    program, _ = lower(import_model(path), target=board_target)
    symbols = [c.symbol for calls in program.calls.values() for c in calls if c.symbol.startswith("tinyc_conv")]
    assert program.plan.arena_bytes == 33_312
    assert symbols.count("tinyc_conv_w16_s8") == 6 and symbols.count("tinyc_conv_gather_w16_s8") == 3  # conv1, shortcuts
