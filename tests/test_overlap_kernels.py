"""Overlap distances derived from the kernels' access models, checked exhaustively on small
shapes against the real C kernels and the plan-aware interpreter.

For every shape in each grid: place the output exactly min_distance bytes before the
input (offset(input) - offset(output) = d) in one shared buffer and run (a) the C kernel
with pointers into that buffer and (b) the plan-aware interpreter on a plan with those
offsets: both must give the non-overlapping result. Then place it at d - 1: by the model
a write then lands on a byte read later, so the C output is wrong for some shapes (the
bound is tight, not only safe), and the plan-aware interpreter replays exactly the same
wrong bytes as the C kernel.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kernel_support import NHWC, act, const, single_node
from overlap_support import check_grid, overlapped_runs, single_node_distance
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams

QI = QuantParams.per_tensor(0.05, 3)
QO = QuantParams.per_tensor(0.02, -5)
QW = QuantParams.per_tensor(0.01, 0)
SOFTMAX_OUT = QuantParams.per_tensor(1.0 / 256.0, -128)


def conv(h, w, cin, cout, k, s, p, groups=1, dil=1, seed=0) -> Graph | None:
    eff = (k - 1) * dil + 1
    oh, ow = (h + 2 * p - eff) // s + 1, (w + 2 * p - eff) // s + 1
    if oh < 1 or ow < 1 or p >= eff:
        return None
    rng = np.random.default_rng(seed)
    wt = rng.integers(-128, 128, size=(cout, cin // groups, k, k)).astype(np.int8)
    b = rng.integers(-500, 500, size=cout).astype(np.int32)
    attrs = ops.Conv2d((s, s), (dil, dil), (p, p, p, p), groups)
    return single_node(attrs, [act("x", (1, cin, h, w), QI), const("w", wt, QW), const("b", b)],
                       act("y", (1, cout, oh, ow), QO), {"x": NHWC, "y": NHWC})


def test_conv_grid(kernel_lib):
    grid = itertools.product((1, 3, 4), (1, 3, 4), (1, 2, 3), (1, 2, 4), (1, 2, 3), (1, 2), (0, 1))
    tally = check_grid(kernel_lib, (conv(*shape) for shape in grid))
    assert tally.symbols == {"tinyc_conv_s8", "tinyc_depthwise_conv_s8"}  # 1 input channel: depthwise
    assert tally.cases > 500 and tally.tight > tally.cases // 3


def test_grouped_and_dilated_conv_grid(kernel_lib):
    grouped = (conv(h, w, c, 2 * c, k, s, p, groups=2)
               for h, w, c, k, s, p in itertools.product((3, 5), (3, 4), (2, 4), (1, 3), (1, 2), (0, 1)))
    dilated = (conv(h, w, c, 3, 2, s, p, dil=2)
               for h, w, c, s, p in itertools.product((3, 5), (3, 4), (2, 3), (1, 2), (0, 1)))
    tally = check_grid(kernel_lib, itertools.chain(grouped, dilated))
    assert tally.symbols == {"tinyc_conv_s8", "tinyc_depthwise_conv_s8"}  # 2 channels in 2 groups: depthwise
    assert tally.cases > 60 and tally.tight > tally.cases // 3


def depthwise(h, w, c, mult, k, s, p, dil=1) -> Graph | None:
    return conv(h, w, c, c * mult, k, s, p, groups=c, dil=dil) if c > 1 else None


def test_depthwise_grid(kernel_lib):
    grid = itertools.product((1, 3, 5), (2, 4), (2, 3), (1, 2), (1, 3), (1, 2), (0, 1), (1, 2))
    tally = check_grid(kernel_lib, (depthwise(*shape) for shape in grid))
    assert tally.symbols == {"tinyc_depthwise_conv_s8"}
    assert tally.cases > 100 and tally.tight > tally.cases // 3


def fully_connected(batch, k, m) -> Graph:
    rng = np.random.default_rng(batch * 100 + k * 10 + m)
    wt = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    return single_node(ops.FullyConnected(), [act("x", (batch, k), QI), const("w", wt, QW), None],
                       act("y", (batch, m), QO))


def test_fully_connected_grid(kernel_lib):
    tally = check_grid(kernel_lib, (fully_connected(*s) for s in itertools.product((1, 2, 3), range(1, 6), range(1, 6))))
    assert tally.cases == 75 and tally.tight > 30



def pointwise_inplace(n, h, w, c, oc) -> Graph:
    rng = np.random.default_rng(n * 1000 + h * 100 + w * 10 + c + oc)
    wt = rng.integers(-128, 128, size=(oc, c, 1, 1)).astype(np.int8)
    b = rng.integers(-500, 500, size=oc).astype(np.int32)
    attrs = ops.Conv2d((1, 1), (1, 1), (0, 0, 0, 0), 1, -128, 127, True)
    return single_node(attrs, [act("x", (n, c, h, w), QI), const("w", wt, QW), const("b", b)],
                       act("y", (n, oc, h, w), QO), {"x": NHWC, "y": NHWC})


def test_simd_paths_keep_the_modelled_distances(kernel_lib_simd):
    """The DSP paths (emulated) compute several output channels of a pixel, or several rows
    of a fully connected layer, before writing them: consecutive blocks of the access
    models merged, which moves reads earlier and writes later. At each model's distance they
    must still give the plain result, on shapes wide enough for the four-channel blocks and
    their leftovers. (Tightness at distance - 1 is the portable build's: merged blocks may
    survive a placement the model calls unsafe.)"""
    convs = (conv(h, w, cin, cout, k, s, p, seed=h * w + cin)
             for h, w, cin, cout, k, s, p in itertools.product((3, 5), (4, 6), (1, 4, 9), (3, 4, 9), (1, 3), (1, 2), (0, 1)))
    grouped = (conv(4, 5, c, 2 * c, 3, 1, 1, groups=2) for c in (2, 8, 10))
    dilated = (conv(6, 6, c, 5, 2, 1, 1, dil=2) for c in (3, 8))
    fcs = (fully_connected(b, k, m) for b, k, m in itertools.product((1, 2), (3, 8, 13), (1, 4, 7, 9)))
    pointwise = (pointwise_inplace(n, h, w, c, oc)
                 for n, h, w, c, oc in itertools.product((1, 2), (2, 3), (3,), (4, 9), (3, 4, 8, 12)))
    cases = 0
    for seed, graph in enumerate(itertools.chain(convs, grouped, dilated, fcs, pointwise)):
        if graph is None:
            continue
        d = single_node_distance(graph, "x")
        if d >= graph.tensor("y").nbytes:
            continue
        c_out, _, want = overlapped_runs(kernel_lib_simd, graph, "x", d, seed)
        assert c_out.tobytes() == want.tobytes(), f"SIMD C at d={d}: {graph.nodes[0]} {graph.tensor('x').shape}"
        cases += 1
    assert cases > 150


def pool(kind, h, w, c, k, s, p) -> Graph | None:
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if oh < 1 or ow < 1 or p >= k:
        return None
    if kind == "avg":
        attrs = ops.AveragePool2d((k, k), (s, s), (p, p, p, p))
        qy = QO
    else:
        attrs, qy = ops.MaxPool2d((k, k), (s, s), (p, p, p, p)), QI
    return single_node(attrs, [act("x", (1, c, h, w), QI)], act("y", (1, c, oh, ow), qy), {"x": NHWC, "y": NHWC})


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_pool_grid(kernel_lib, kind):
    grid = itertools.product((1, 3, 4), (2, 5), (1, 3), (1, 2, 3), (1, 2), (0, 1))
    tally = check_grid(kernel_lib, (pool(kind, *shape) for shape in grid))
    assert tally.cases > 80 and tally.tight > 0


def binary(op, a_shape, b_shape, out_shape) -> Graph:
    attrs = ops.Add() if op == "add" else ops.Mul()
    return single_node(attrs, [act("x", a_shape, QI), act("b", b_shape, QO)], act("y", out_shape, QO))


@pytest.mark.parametrize("op", ["add", "mul"])
def test_elementwise_grid(kernel_lib, op):
    shapes = [((n,), (n,), (n,)) for n in range(1, 9)]
    shapes += [((2, n), (n,), (2, n)) for n in range(1, 5)]  # b broadcast along the outer axis
    shapes += [((3, n), (3, 1), (3, n)) for n in range(1, 5)]
    tally = check_grid(kernel_lib, (binary(op, *s) for s in shapes))
    assert tally.cases == len(shapes) and tally.tight > 0
    assert all(single_node_distance(binary(op, *s), "x") == 0 for s in shapes)  # exactly in place


def test_lut_and_transpose_grid(kernel_lib):
    table = tuple(int(v) for v in np.random.default_rng(3).integers(-128, 128, 256))
    luts = [single_node(ops.Lut(table), [act("x", (n,), QI)], act("y", (n,), QO)) for n in range(1, 12)]
    tally = check_grid(kernel_lib, luts)
    assert tally.cases == 11 and tally.tight > 0
    assert all(single_node_distance(g, "x") == 0 for g in luts)
    transposes = []
    for shape in ((2, 3), (3, 2), (2, 3, 4), (1, 4, 3)):
        for perm in itertools.permutations(range(len(shape))):
            out = tuple(shape[a] for a in perm)
            transposes.append(single_node(ops.Transpose(perm), [act("x", shape, QI)], act("y", out, QI)))
    tally = check_grid(kernel_lib, transposes)
    assert tally.cases == 10 and tally.tight > 0  # 10 of the 18 permutations copy (the rest are aliases)


def test_softmax_grid(kernel_lib):
    graphs = [single_node(ops.Softmax(), [act("x", (outer, depth), QI)], act("y", (outer, depth), SOFTMAX_OUT))
              for outer in (1, 2, 3) for depth in range(1, 7)]
    tally = check_grid(kernel_lib, graphs, replayable=False)
    assert tally.cases == 18
    assert all(single_node_distance(g, "x") == 0 for g in graphs)


def test_closed_forms_of_the_distances():
    # tinyc_conv_s8, 1x1, Cout > Cin: the last pixel's first channel is written while the
    # pixel's own input is still read by its other channels: out - in + Cin - 1.
    g = conv(48, 48, 8, 16, 1, 1, 0)
    assert single_node_distance(g, "x") == 36864 - 18432 + 8 - 1
    # 3x3 stride 1 pad 1 (resnet8): one row, one pixel and all but one channel.
    g = conv(32, 32, 16, 16, 3, 1, 1)
    assert single_node_distance(g, "x") == 32 * 16 + 2 * 16 - 1
    # depthwise 3x3 stride 1 pad 1 (kws): one row and one pixel.
    g = depthwise(25, 5, 64, 1, 3, 1, 1)
    assert single_node_distance(g, "x") == 5 * 64 + 64
