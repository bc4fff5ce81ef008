"""Window geometry shared by the pooling ops (ONNX pads, TFLite window clipping)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def padded_layout(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, out: int) -> tuple[int, int]:
    """Rows to add before/after an axis so every window of `out` outputs lies inside.

    ceil_mode output shapes can reach past the explicit end pad; that overhang is
    added here too, and callers tell the two apart with `region`.
    """
    need = (out - 1) * stride + kernel
    return pad_begin, max(pad_end, need - pad_begin - size)


def region(size: int, pad_begin: int, pad_end: int, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks over the padded axis: (cell is inside the input, cell is inside input or explicit pads)."""
    real = np.arange(-pad_begin, size + after)
    inside = (real >= 0) & (real < size)
    with_pads = (real >= -pad_begin) & (real < size + pad_end)
    return inside, with_pads


def windows(padded: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """View [..., OH, OW, KH, KW] of the windows over the last two axes of `padded`."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, strides, out_hw
    *lead, _, _ = padded.shape
    *lead_strides, s_h, s_w = padded.strides
    return as_strided(
        padded,
        shape=(*lead, oh, ow, kh, kw),
        strides=(*lead_strides, s_h * sh, s_w * sw, s_h, s_w),
        writeable=False,
    )


def padded_geometry(
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
    out_hw: tuple[int, int],
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """(pads to apply: top, left, bottom, right), 2-D masks inside-input and inside-input-or-pads."""
    (h, w), (kh, kw), (sh, sw), (oh, ow) = in_hw, kernel, strides, out_hw
    pt, pl, pb, pr = pads
    top, bottom = padded_layout(h, kh, sh, pt, pb, oh)
    left, right = padded_layout(w, kw, sw, pl, pr, ow)
    in_rows, pad_rows = region(h, top, pb, bottom)
    in_cols, pad_cols = region(w, left, pr, right)
    inside = in_rows[:, None] & in_cols[None, :]
    with_pads = pad_rows[:, None] & pad_cols[None, :]
    return (top, left, bottom, right), inside, with_pads
