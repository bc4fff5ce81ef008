"""Reference formulas of TFLite's integer arithmetic in plain Python ints and fractions,
written from the gemmlowp / TFLite definitions, for tests only (no NumPy, no tinycc_ml)."""

from __future__ import annotations

import math
from fractions import Fraction

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def c_div(a: int, b: int) -> int:
    """C's integer division: truncation toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def round_half_away(value: Fraction) -> int:
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def ref_srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul: (a*b + nudge) / 2^31 truncated, -1*-1 saturates."""
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def ref_rdbp(x: int, exponent: int) -> int:
    """RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero."""
    return round_half_away(Fraction(x, 1 << exponent))


def ref_mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (double rounding)."""
    left, right = max(shift, 0), max(-shift, 0)
    return ref_rdbp(ref_srdhm(x * (1 << left), multiplier), right)


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))
