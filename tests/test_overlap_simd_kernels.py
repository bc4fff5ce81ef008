"""The SIMD paths (emulated on the host) of the kernels this file names keep the overlap
distances their access models (kernels/access.py) derive: at D = min_distance the kernel on
one shared buffer gives the plain result. The SIMD paths merge a pixel's consecutive blocks
(several channels read, then written), which only ever writes later than the model says, so
only D is checked, not D - 1 (tests/test_overlap_kernels.py checks tightness on the
portable loops). Channel counts reach the four-channel groups and their leftovers."""

from __future__ import annotations

import itertools

import pytest

from overlap_support import check_grid, single_node_distance
from test_overlap_kernels import binary, pool


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_simd_pool_keeps_overlap_distances(kernel_lib_simd, kind):
    grid = itertools.product((1, 3, 4), (2, 5), (3, 4, 5, 8), (1, 2, 3), (1, 2), (0, 1))
    tally = check_grid(kernel_lib_simd, (pool(kind, *shape) for shape in grid), tight=False)
    assert tally.symbols == {f"tinyc_{kind}pool_s8"}
    assert tally.cases > 100


def test_simd_add_keeps_overlap_distances(kernel_lib_simd):
    shapes = [((n,), (n,), (n,)) for n in range(1, 13)]
    shapes += [((2, n), (n,), (2, n)) for n in range(1, 7)]
    shapes += [((3, n), (3, 1), (3, n)) for n in range(1, 7)]
    tally = check_grid(kernel_lib_simd, (binary("add", *s) for s in shapes), tight=False)
    assert tally.cases == len(shapes)
    assert all(single_node_distance(binary("add", *s), "x") == 0 for s in shapes)
