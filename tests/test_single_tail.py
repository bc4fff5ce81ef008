"""kernels/single_tail.py: the proved single-rounding tail (SMMLAR of the shifted accumulator)
equals MultiplyByQuantizedMultiplier + offset for every accumulator the proof admits, and the
proof refuses what it cannot show."""

from __future__ import annotations

import numpy as np
import pytest

from tinycc_ml.kernels.single_tail import prove_single_tail
from tinycc_ml.quant import fixedpoint
from tinycc_ml.quant.params import single_rounding_multiplier


def smmlar(a: np.ndarray, b: np.ndarray, acc: np.ndarray) -> np.ndarray:
    return acc + ((a.astype(np.int64) * b + (1 << 31)) >> 32)


@pytest.mark.parametrize("seed", range(8))
def test_single_tail_equals_the_reference(seed):
    rng = np.random.default_rng(seed)
    reals = np.exp(rng.uniform(np.log(1e-5), np.log(4.0), size=16))
    pairs = [single_rounding_multiplier(float(r)) for r in reals]
    for multiplier, shift in pairs:
        bound = int(rng.integers(1, (1 << 29) >> shift))
        tail = prove_single_tail(np.array([multiplier]), np.array([shift]), np.array([bound]), -7)
        assert tail is not None
        acc = np.concatenate([rng.integers(-bound, bound + 1, size=20000), [-bound, bound, 0, -1, 1]])
        expected = fixedpoint.multiply_by_quantized_multiplier(acc, multiplier, shift) - 7
        shifted = acc << tail.double_shift
        assert np.all(np.abs(shifted) < 1 << 31)
        got = smmlar(shifted, tail.multiplier[0], tail.offset[0])
        np.testing.assert_array_equal(got, expected)


def test_exact_ties_round_as_the_reference():
    # acc * m == 2^30 (mod 2^31): a tie of the only rounding, both signs
    multiplier, shift, offset = 1 << 28, 0, 3
    acc = np.arange(-64, 65, dtype=np.int64)
    tail = prove_single_tail(np.array([multiplier]), np.array([shift]), np.array([64]), offset)
    assert tail is not None
    got = smmlar(acc << tail.double_shift, tail.multiplier[0], tail.offset[0])
    np.testing.assert_array_equal(got, fixedpoint.multiply_by_quantized_multiplier(acc, multiplier, shift) + offset)


def test_refuses_a_right_shift_mixed_shifts_and_a_doubled_overflow():
    m = np.array([1 << 30, 1 << 30])
    assert prove_single_tail(m, np.array([-1, 0]), np.array([100, 100]), 0) is None
    assert prove_single_tail(m, np.array([0, 1]), np.array([100, 100]), 0) is None
    assert prove_single_tail(m[:1], np.array([0]), np.array([1 << 30]), 0) is None
    assert prove_single_tail(m[:1], np.array([0]), np.array([(1 << 30) - 1]), 0) is not None


def test_a_constant_channel_needs_no_proof():
    tail = prove_single_tail(np.array([1 << 30, 5]), np.array([0, -3]), np.array([100, 1 << 40]), 4,
                             constant=np.array([-1000, -17]))
    assert tail is not None
    assert tail.table().tolist() == [1 << 30, 4, 0, -17]
