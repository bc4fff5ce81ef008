"""Conv2d (regular, grouped, depthwise): TFLite's integer conv / depthwise conv.

acc[n, o, y, x] = bias[o] + sum over (c, kh, kw) inside the input of
                  (in[n, g*Cg + c, y*sh - pt + kh*dh, x*sw - pl + kw*dw] - zp_in) * w[o, c, kh, kw]
out = clamp(MultiplyByQuantizedMultiplier(acc, mult[o], shift[o]) + zp_out, act_min, act_max)

Padding positions contribute nothing (TFLite skips them; in real terms they are 0.0).
Constants come from params.conv_requant (double arithmetic, per output channel; single-rounding
constants under ONNX semantics).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...ir import ops
from ...ir.graph import Tensor
from ...quant import params
from ..common import channel_requantize, exact_matmul
from ..registry import Operand

OP = ops.Conv2d


def _windows(x: np.ndarray, attrs: ops.Conv2d, kernel: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """View [N, C, KH, KW, OH, OW] of the zero-padded, zero-point-centred input."""
    (kh, kw), (oh, ow) = kernel, out_hw
    (sh, sw), (dh, dw) = attrs.strides, attrs.dilations
    pt, pl, pb, pr = attrs.pads
    n, c, h, w = x.shape
    # Extra rows/columns past the explicit pads are never read by a well-formed conv;
    # padding up to the extent keeps the strided view inside the array regardless.
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    extra_h = max(0, need_h - (h + pt + pb))
    extra_w = max(0, need_w - (w + pl + pr))
    padded = np.pad(x, ((0, 0), (0, 0), (pt, pb + extra_h), (pl, pr + extra_w)))
    s_n, s_c, s_h, s_w = padded.strides
    return as_strided(
        padded,
        shape=(n, c, kh, kw, oh, ow),
        strides=(s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw),
        writeable=False,
    )


def run(attrs: ops.Conv2d, inputs: Sequence[Operand | None], output: Tensor) -> np.ndarray:
    x, w, bias = inputs
    assert x is not None and w is not None
    in_q, w_q, out_q = x.tensor.quant, w.tensor.quant, output.quant
    if any(w_q.zero_point):
        raise ValueError(f"Conv2d {output.name}: weights must be symmetric (zero point 0), as in TFLite")
    n, c, _, _ = x.value.shape
    o, cg, kh, kw = w.value.shape
    _, _, oh, ow = output.shape
    g = attrs.groups
    og = o // g

    centred = x.value.astype(np.int64) - in_q.zp
    win = _windows(centred, attrs, (kh, kw), (oh, ow))  # [N, C, KH, KW, OH, OW]
    weights = w.value.astype(np.int64)
    if cg == 1 and og == 1:
        # depthwise, multiplier 1: one channel per group, a multiply-add over the window
        acc = np.einsum("ncijyx,cij->ncyx", win, weights[:, 0])
    else:
        win = win.reshape(n, g, cg, kh, kw, oh, ow)
        # im2col per group: [G, N*OH*OW, Cg*KH*KW] times weights [G, Cg*KH*KW, Og].
        cols = win.transpose(1, 0, 5, 6, 2, 3, 4).reshape(g, n * oh * ow, cg * kh * kw)
        wmat = weights.reshape(g, og, cg * kh * kw).transpose(0, 2, 1)
        acc = exact_matmul(cols, wmat)  # [G, N*OH*OW, Og]
        acc = acc.reshape(g, n, oh, ow, og).transpose(1, 0, 4, 2, 3).reshape(n, o, oh, ow)
    if bias is not None:
        acc = acc + bias.value.astype(np.int64).reshape(1, o, 1, 1)

    requant = params.conv_node_requant(attrs.fixed_requant, in_q, w_q, out_q, attrs.semantics)
    return channel_requantize(acc, requant, 1, out_q.zp, attrs.act_min, attrs.act_max)
