"""quant/fixedpoint.py against reference formulas written from gemmlowp / TFLite's
definitions with Python integers and exact fractions (no NumPy, no shared code)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycc_ml.quant import fixedpoint as fx

from quant_reference import I32_MAX, I32_MIN, ref_mbqm, ref_rdbp, ref_srdhm, round_half_away

int32s = st.integers(I32_MIN, I32_MAX)
SETTINGS = settings(max_examples=400, deadline=None)


@SETTINGS
@given(int32s, int32s)
def test_srdhm_matches_reference(a: int, b: int) -> None:
    assert int(fx.saturating_rounding_doubling_high_mul(a, b)) == ref_srdhm(a, b)


@SETTINGS
@given(int32s, int32s)
def test_srdhm_is_rounded_doubled_high_product(a: int, b: int) -> None:
    """Independent of the nudge formula: the result is a*b/2^31 rounded to nearest, ties
    toward +infinity (the negative nudge 1 - 2^30 plus truncation rounds -0.5 to 0)."""
    expected = I32_MAX if a == b == I32_MIN else math.floor(Fraction(a * b, 1 << 31) + Fraction(1, 2))
    assert int(fx.saturating_rounding_doubling_high_mul(a, b)) == expected


def test_srdhm_edge_cases() -> None:
    assert int(fx.saturating_rounding_doubling_high_mul(I32_MIN, I32_MIN)) == I32_MAX
    assert int(fx.saturating_rounding_doubling_high_mul(I32_MIN, I32_MAX)) == -I32_MAX
    assert int(fx.saturating_rounding_doubling_high_mul(I32_MAX, I32_MAX)) == I32_MAX - 1
    # ties round toward +infinity: 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1
    assert int(fx.saturating_rounding_doubling_high_mul(1, 1 << 30)) == 1
    assert int(fx.saturating_rounding_doubling_high_mul(-1, 1 << 30)) == 0
    assert int(fx.saturating_rounding_doubling_high_mul(3, 1 << 30)) == 2
    assert int(fx.saturating_rounding_doubling_high_mul(-3, 1 << 30)) == -1


@SETTINGS
@given(int32s, st.integers(0, 31))
def test_rounding_divide_by_pot(x: int, exponent: int) -> None:
    assert int(fx.rounding_divide_by_pot(x, exponent)) == ref_rdbp(x, exponent)


@pytest.mark.parametrize(
    "x, exponent, expected",
    [(5, 1, 3), (-5, 1, -3), (3, 1, 2), (-3, 1, -2), (7, 2, 2), (-7, 2, -2), (6, 2, 2), (-6, 2, -2),
     (-2, 2, -1), (2, 2, 1), (-1, 1, -1), (1, 1, 1), (I32_MIN, 31, -1), (I32_MAX, 31, 1), (I32_MIN, 0, I32_MIN)],
)
def test_rounding_divide_by_pot_ties(x: int, exponent: int, expected: int) -> None:
    assert int(fx.rounding_divide_by_pot(x, exponent)) == expected


@SETTINGS
@given(st.integers(-(1 << 24), 1 << 24), st.integers(1 << 30, I32_MAX), st.integers(-31, 7))
def test_mbqm_matches_reference(x: int, multiplier: int, shift: int) -> None:
    assert int(fx.multiply_by_quantized_multiplier(x, multiplier, shift)) == ref_mbqm(x, multiplier, shift)


@SETTINGS
@given(st.integers(-(1 << 24), 1 << 24), st.integers(1 << 30, I32_MAX), st.integers(-31, 7))
def test_mbqm_is_within_one_of_exact_product(x: int, multiplier: int, shift: int) -> None:
    """Double rounding costs at most one unit against the exact x * m * 2^(shift - 31)."""
    exact = Fraction(x * multiplier) * Fraction(2) ** (shift - 31)
    got = int(fx.multiply_by_quantized_multiplier(x, multiplier, shift))
    assert abs(got - exact) <= 1


def test_mbqm_vectorised_per_channel() -> None:
    xs = np.array([[100000, -100000, 7], [-1, 1, 0]], dtype=np.int64)
    mults = np.array([1 << 30, 1518500250, I32_MAX], dtype=np.int64)
    shifts = np.array([-3, 2, -31], dtype=np.int64)
    got = fx.multiply_by_quantized_multiplier(xs, mults, shifts)
    expected = [[ref_mbqm(int(x), int(m), int(s)) for x, m, s in zip(row, mults, shifts)] for row in xs]
    assert got.tolist() == expected


@SETTINGS
@given(st.floats(min_value=2.0**-31, max_value=2.0**29, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_represents_the_real(real: float) -> None:
    multiplier, shift = fx.quantize_multiplier(real)
    assert (1 << 30) <= multiplier <= I32_MAX
    # multiplier = round_half_away(real * 2^(31 - shift)): error at most half a unit of the multiplier.
    exact = Fraction(real) * Fraction(2) ** (31 - shift)
    assert abs(multiplier - exact) <= Fraction(1, 2)
    assert multiplier == round_half_away(exact) or multiplier == (1 << 30)


def test_quantize_multiplier_edge_cases() -> None:
    assert fx.quantize_multiplier(0.0) == (0, 0)
    # below 2^-31 TFLite flushes to zero (shift < -31)
    assert fx.quantize_multiplier(2.0**-40) == (0, 0)
    assert fx.quantize_multiplier(2.0**-33) == (0, 0)
    # exactly 2^-32 -> frexp gives (0.5, -31): still representable
    assert fx.quantize_multiplier(2.0**-32) == (1 << 30, -31)
    # q rounds up to 2^31: halve it and bump the shift
    assert fx.quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    assert fx.quantize_multiplier(0.5 - 2.0**-41) == (1 << 30, 0)
    # an exact tie in q * 2^31 rounds half away from zero (TfLiteRound)
    assert fx.quantize_multiplier((2**30 + 0.5) / 2**31) == ((1 << 30) + 1, 0)
    assert fx.quantize_multiplier(1.0) == (1 << 30, 1)
    assert fx.quantize_multiplier(0.75) == (3 << 29, 0)
    # the largest shift TFLite's double-rounding build accepts is 30
    assert fx.quantize_multiplier(2.0**29) == (1 << 30, 30)
    with pytest.raises(ValueError):
        fx.quantize_multiplier(-0.5)
    with pytest.raises(ValueError):
        fx.quantize_multiplier(float("nan"))


def test_round_half_away_from_zero() -> None:
    assert [fx.round_half_away_from_zero(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994)] == [
        1, 2, 3, -1, -2, -3, 0
    ]


def test_saturate_int8() -> None:
    got = fx.saturate_int8(np.array([-1000, -129, -128, 0, 127, 128, 1 << 40]))
    assert got.dtype == np.int8
    assert got.tolist() == [-128, -128, -128, 0, 127, 127, 127]
