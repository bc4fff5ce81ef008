"""Access patterns of the C kernels: which bytes each call reads and writes, and when.

A kernel's loop order decides whether its output may share bytes with its input. This
module states, per kernel, what runtime_c/src/<symbol>.c actually does (each variant record in
kernels/variant.py names its model), in the
buffers' physical byte positions, as a sequence of *blocks*:

    block 0, 1, 2, ... run in order; a block first reads its input bytes, then writes
    its output bytes.

For tinyc_conv_s8 a block is one output value (pixel, channel): it reads the pixel's
window, then writes one byte. For the channel-major in-place depthwise kernel a block is
one channel: it reads the channel's plane (computing into the one-channel scratch), then
copies the result over the output plane. For the ring depthwise kernel a pixel's first
block also reads the whole input pixel (into the ring), and taps at or before the pixel
are not arena reads at all. A read is stored once per run of consecutive blocks that read
the same byte (`Reads.first`..`Reads.last`), so a pixel's window is listed once, not once
per output channel. tests/test_overlap_kernels.py and tests/test_inplace_kernels.py check
every model against its C kernel on shared buffers.

From that, `min_distance` derives the overlap an OverlapFact states: with the output
placed D = offset(input) - offset(output) bytes before the input, output byte p lands on
input byte p - D. That is harmful exactly when a block writes p before a later block
reads p - D, so the unsafe distances are {p - q : p written in a block before one that
reads q}, and every D above their maximum is safe:

    min_distance = 1 + max over reads (q, last block l) of (max p written before block l) - q

It is tight: D = min_distance - 1 makes one write land on a byte that is read later.
(For a run of streaming blocks this is "bytes written so far minus input bytes no longer
needed", maximised over time.) Kernels whose inner copies are memcpy (concat, pad) have no
model: overlapping memcpy arguments are undefined behaviour in C, so they get no facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from .call import ParamStruct

NEVER = np.iinfo(np.int64).min // 4  # "no write yet": below any byte position difference


@dataclass(frozen=True, eq=False)
class Reads:
    """Input byte `pos[i]` is read by every block from `first[i]` to `last[i]` (at least by
    the last one; the range only has to cover every block that reads it)."""

    pos: np.ndarray
    first: np.ndarray
    last: np.ndarray

    @staticmethod
    def concat(parts: Sequence["Reads"]) -> "Reads":
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return Reads(empty, empty, empty)
        return Reads(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("pos", "first", "last")))

    def shifted(self, blocks: int) -> "Reads":
        return Reads(self.pos, self.first + blocks, self.last + blocks)


@dataclass(frozen=True, eq=False)
class Traffic:
    """One node's memory traffic: its calls' blocks, one after the other."""

    output: str
    blocks: int
    write_pos: np.ndarray  # physical output byte written, in write order
    write_block: np.ndarray  # the block of each write (nondecreasing)
    reads: Mapping[str, Reads]  # activation tensor -> the reads of its bytes
    # True when every value a block writes depends only on the bytes that block reads, as
    # they are when it reads them: then a wrong placement can be replayed exactly
    # (interp/planned.py). Softmax is not (its row's max and sum come from the row's first
    # block, its values from later ones), nor are the in-place convs that copy input into
    # their scratch (later blocks use the copy, not the input as it is by then).
    replayable: bool = True

    def max_write_before(self) -> np.ndarray:
        """[blocks + 1]: the highest output byte written by the blocks before block b."""
        per_block = np.full(self.blocks, NEVER, dtype=np.int64)
        np.maximum.at(per_block, self.write_block, self.write_pos)
        before = np.empty(self.blocks + 1, dtype=np.int64)
        before[0] = NEVER
        np.maximum.accumulate(per_block, out=before[1:])
        return before

    def write_block_of(self, out_size: int) -> np.ndarray:
        """[out_size]: the block that writes each output byte (the last, if several)."""
        block = np.full(out_size, np.iinfo(np.int64).max, dtype=np.int64)
        block[self.write_pos] = self.write_block  # later writes of a byte win, as in memory
        return block


def min_distance(traffic: Traffic, tensor: str, in_size: int) -> int:
    """Least D = offset(input) - offset(output) from which on every D is safe (module doc).
    1 - in_size when nothing can go wrong: every overlapping placement is then safe."""
    reads = traffic.reads.get(tensor)
    if reads is None or reads.pos.size == 0:
        return 1 - in_size
    before = traffic.max_write_before()[reads.last]
    live = before != NEVER
    if not live.any():
        return 1 - in_size
    return max(int(np.max(before[live] - reads.pos[live])) + 1, 1 - in_size)


# --- per-kernel models -------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CallTraffic:
    blocks: int
    write_pos: np.ndarray
    write_block: np.ndarray
    reads: tuple[Reads, ...]  # one per input TensorArg, in argument order
    replayable: bool = True  # see Traffic.replayable


Model = Callable[[ParamStruct], CallTraffic]


def _grid(*extents: int) -> list[np.ndarray]:
    """Flattened index arrays of a row-major loop nest over `extents` (outermost first)."""
    if not extents:
        return []
    axes = np.meshgrid(*(np.arange(e, dtype=np.int64) for e in extents), indexing="ij")
    return [a.reshape(-1) for a in axes]


def _dense_writes(count: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Block t writes output byte t (the kernels that do *output++)."""
    t = np.arange(count, dtype=np.int64)
    return count, t, t


def _conv_windows(p: ParamStruct) -> tuple[np.ndarray, ...]:
    """Every in-bounds (output pixel, tap): pixel index, and the tapped input pixel index."""
    n, oh, ow = p["batch"], p["out_h"], p["out_w"]
    kh, kw = p["kernel_h"], p["kernel_w"]
    b, oy, ox, ky, kx = _grid(n, oh, ow, kh, kw)
    iy = oy * p["stride_h"] - p["pad_top"] + ky * p["dilation_h"]
    ix = ox * p["stride_w"] - p["pad_left"] + kx * p["dilation_w"]
    ok = (iy >= 0) & (iy < p["in_h"]) & (ix >= 0) & (ix < p["in_w"])
    pixel = ((b * oh + oy) * ow + ox)[ok]
    tapped = ((b * p["in_h"] + iy) * p["in_w"] + ix)[ok]
    return pixel, tapped


def conv(p: ParamStruct) -> CallTraffic:
    """tinyc_conv_s8: for each output pixel, for each output channel oc: read the window of
    oc's group (all taps, the group's input channels), write one byte. NHWC in and out."""
    in_c, out_c, groups = p["in_c"], p["out_c"], p["groups"]
    gin, gout = in_c // groups, out_c // groups
    pixel, tapped = _conv_windows(p)
    channel = np.arange(in_c, dtype=np.int64)
    pos = (tapped[:, None] * in_c + channel[None, :]).reshape(-1)
    first = (pixel[:, None] * out_c + (channel // gin * gout)[None, :]).reshape(-1)
    blocks, wpos, wblock = _dense_writes(p["batch"] * p["out_h"] * p["out_w"] * out_c)
    return CallTraffic(blocks, wpos, wblock, (Reads(pos, first, first + gout - 1),))


def conv_im2col(p: ParamStruct) -> CallTraffic:
    """tinyc_conv_im2col_s8 (groups 1): per image, the output pixels in pairs (2k, 2k + 1;
    an odd last pixel alone): read both windows (all input channels of every in-bounds tap,
    expanded into the scratch), then write both pixels' out_c bytes. One block per pair, so
    pixel 2k + 1's window is read before pixel 2k is written. NHWC in and out."""
    n, out_c, in_c = p["batch"], p["out_c"], p["in_c"]
    pixels = p["out_h"] * p["out_w"]
    pairs = (pixels + 1) // 2
    pixel, tapped = _conv_windows(p)  # pixel = b * pixels + index in its image
    block = pixel // pixels * pairs + pixel % pixels // 2
    channel = np.arange(in_c, dtype=np.int64)
    pos = (tapped[:, None] * in_c + channel[None, :]).reshape(-1)
    first = np.repeat(block, in_c)
    wpos = np.arange(n * pixels * out_c, dtype=np.int64)
    out_pixel = wpos // out_c
    wblock = out_pixel // pixels * pairs + out_pixel % pixels // 2
    return CallTraffic(n * pairs, wpos, wblock, (Reads(pos, first, first),))


def depthwise(p: ParamStruct) -> CallTraffic:
    """tinyc_depthwise_conv_s8: for each output pixel, for each output channel oc =
    ic * multiplier + m: read input channel ic over the window, write one byte. NHWC."""
    in_c, out_c = p["in_c"], p["out_c"]
    mult = out_c // in_c
    pixel, tapped = _conv_windows(p)
    channel = np.arange(in_c, dtype=np.int64)
    pos = (tapped[:, None] * in_c + channel[None, :]).reshape(-1)
    first = (pixel[:, None] * out_c + channel[None, :] * mult).reshape(-1)
    blocks, wpos, wblock = _dense_writes(p["batch"] * p["out_h"] * p["out_w"] * out_c)
    return CallTraffic(blocks, wpos, wblock, (Reads(pos, first, first + mult - 1),))


def depthwise_chw_inplace(p: ParamStruct) -> CallTraffic:
    """tinyc_depthwise_conv_chw_inplace_s8: for each (image, channel): compute the whole
    output plane into the scratch (reading the input plane's windows), then copy it over
    the output plane. One block per channel. CHW (row-major NCHW) in and out."""
    n, c = p["batch"], p["in_c"]
    in_plane, out_plane = p["in_h"] * p["in_w"], p["out_h"] * p["out_w"]
    pixel, tapped = _conv_windows(p)  # pixel = (b * oh + oy) * ow + ox, tapped likewise
    b = pixel // out_plane
    ch = np.arange(c, dtype=np.int64)
    block = b[:, None] * c + ch[None, :]
    pos = (block * in_plane + (tapped % in_plane)[:, None]).reshape(-1)
    block = block.reshape(-1)
    wblock = np.repeat(np.arange(n * c, dtype=np.int64), out_plane)
    wpos = np.arange(n * c * out_plane, dtype=np.int64)
    return CallTraffic(n * c, wpos, wblock, (Reads(pos, block, block),))


def depthwise_inplace(p: ParamStruct) -> CallTraffic:
    """tinyc_depthwise_conv_inplace_s8 (stride 1, same size, multiplier 1): per pixel s,
    copy input pixel s into the ring, then per channel c: read the taps after s from the
    input (those at or before s come from the ring), write output (s, c). Its DSP twins
    tinyc_depthwise_conv_inplace_c4(_w16)_s8 keep this order with blocks of four channels
    merged (a group's reads, then its four writes): reads only earlier, writes in the same
    order, so this model holds for them (tests/test_kernels_depthwise_inplace4.py)."""
    c = p["in_c"]
    pixel, tapped = _conv_windows(p)  # same size: pixel and tapped index the same raster
    ahead = tapped > pixel
    ch = np.arange(c, dtype=np.int64)
    tap_pos = (tapped[ahead][:, None] * c + ch[None, :]).reshape(-1)
    tap_block = (pixel[ahead][:, None] * c + ch[None, :]).reshape(-1)
    pixels = p["batch"] * p["in_h"] * p["in_w"]
    save_pos = np.arange(pixels * c, dtype=np.int64)
    save_block = save_pos // c * c  # the pixel's first block, before any of its writes
    pos = np.concatenate([save_pos, tap_pos])
    block = np.concatenate([save_block, tap_block])
    blocks, wpos, wblock = _dense_writes(pixels * c)
    # Not replayable: a tap from the ring holds the value its pixel had when it was saved.
    return CallTraffic(blocks, wpos, wblock, (Reads(pos, block, block),), replayable=False)


def pointwise_inplace(p: ParamStruct) -> CallTraffic:
    """tinyc_pointwise_conv_inplace_s8: per pixel, copy the input pixel into the scratch,
    then per output channel write one byte (computed from the copy). NHWC."""
    in_c, out_c = p["in_c"], p["out_c"]
    pixels = p["batch"] * p["in_h"] * p["in_w"]
    pos = np.arange(pixels * in_c, dtype=np.int64)
    block = pos // in_c * out_c  # the pixel's first block, before any of its writes
    blocks, wpos, wblock = _dense_writes(pixels * out_c)
    # Not replayable: later channels use the copy, not the input as it is by then.
    return CallTraffic(blocks, wpos, wblock, (Reads(pos, block, block),), replayable=False)


def pointwise(in_chw: bool, out_chw: bool) -> Model:
    """tinyc_pointwise_conv_*_s8: per image, per pixel, per output channel: read the
    pixel's input channels (strided in CHW), write one byte (strided in CHW)."""

    def model(p: ParamStruct) -> CallTraffic:
        n, in_c, out_c = p["batch"], p["in_c"], p["out_c"]
        pixels = p["in_h"] * p["in_w"]
        b, pix, oc = _grid(n, pixels, out_c)
        wpos = b * pixels * out_c + (oc * pixels + pix if out_chw else pix * out_c + oc)
        blocks = n * pixels * out_c
        rb, rpix, ch = _grid(n, pixels, in_c)
        pos = rb * pixels * in_c + (ch * pixels + rpix if in_chw else rpix * in_c + ch)
        first = (rb * pixels + rpix) * out_c
        return CallTraffic(blocks, wpos, np.arange(blocks, dtype=np.int64), (Reads(pos, first, first + out_c - 1),))

    return model


def pointwise_pairs(p: ParamStruct) -> CallTraffic:
    """tinyc_pointwise_conv_s8 (NHWC, out_c even): per row, the pixels in pairs (x, x + 1),
    an odd row's last pixel alone; per pair, per pair of output channels (c, c + 1): read
    both pixels' input, then write the pair's 2 x 2 output bytes. A block is (pixel pair,
    channel pair); every block of a pair reads both its pixels."""
    rows, width, in_c, out_c = p["batch"] * p["in_h"], p["in_w"], p["in_c"], p["out_c"]
    pairs_per_row, channel_pairs = (width + 1) // 2, out_c // 2
    pixels = rows * width
    pixel = np.arange(pixels, dtype=np.int64)
    pair = pixel // width * pairs_per_row + pixel % width // 2  # the pixel's pair, in run order
    first_block = pair * channel_pairs
    ch = np.arange(in_c, dtype=np.int64)
    pos = (pixel[:, None] * in_c + ch[None, :]).reshape(-1)
    first = np.repeat(first_block, in_c)
    # Writes in block order: block (pair, g) writes channels 2g, 2g + 1 of each pixel of the pair.
    out_ch = np.arange(out_c, dtype=np.int64)
    wpos = (pixel[:, None] * out_c + out_ch[None, :]).reshape(-1)
    wblock = (first_block[:, None] + out_ch[None, :] // 2).reshape(-1)
    order = np.argsort(wblock, kind="stable")
    blocks = rows * pairs_per_row * channel_pairs
    return CallTraffic(blocks, wpos[order], wblock[order], (Reads(pos, first, first + channel_pairs - 1),))


def pointwise_inplace_pairs(p: ParamStruct) -> CallTraffic:
    """tinyc_pointwise_conv_inplace_pairs_s8: pointwise_pairs' order with the pixels of the
    whole image paired as one row (a row's last pixel with the next row's first), each pixel
    pair copied into the scratch at its first block, every block computing from the copy. NHWC."""
    flat = {"batch": 1, "in_h": 1, "in_w": p["batch"] * p["in_h"] * p["in_w"]}
    pairs = pointwise_pairs(ParamStruct(tuple((k, flat.get(k, v)) for k, v in p.fields)))
    (reads,) = pairs.reads
    # Not replayable: later blocks use the copy, not the input as it is by then.
    return CallTraffic(pairs.blocks, pairs.write_pos, pairs.write_block, (Reads(reads.pos, reads.first, reads.first),),
                       replayable=False)


def fully_connected(p: ParamStruct) -> CallTraffic:
    """tinyc_fully_connected_s8: for each batch row, for each output: read the whole input
    row, write one byte."""
    batch, k, m = p["batch"], p["in_features"], p["out_features"]
    b, col = _grid(batch, k)
    blocks, wpos, wblock = _dense_writes(batch * m)
    return CallTraffic(blocks, wpos, wblock, (Reads(b * k + col, b * m, b * m + m - 1),))


def pool(p: ParamStruct) -> CallTraffic:
    """tinyc_avgpool_s8 / tinyc_maxpool_s8: for each output pixel, for each channel: read
    the window clipped to the input, write one byte. NHWC."""
    n, oh, ow, c = p["batch"], p["out_h"], p["out_w"], p["channels"]
    kh, kw = p["kernel_h"], p["kernel_w"]
    b, oy, ox, ky, kx = _grid(n, oh, ow, kh, kw)
    iy = oy * p["stride_h"] - p["pad_top"] + ky
    ix = ox * p["stride_w"] - p["pad_left"] + kx
    ok = (iy >= 0) & (iy < p["in_h"]) & (ix >= 0) & (ix < p["in_w"])
    pixel = ((b * oh + oy) * ow + ox)[ok]
    tapped = ((b * p["in_h"] + iy) * p["in_w"] + ix)[ok]
    ch = np.arange(c, dtype=np.int64)
    pos = (tapped[:, None] * c + ch[None, :]).reshape(-1)
    block = (pixel[:, None] * c + ch[None, :]).reshape(-1)
    blocks, wpos, wblock = _dense_writes(n * oh * ow * c)
    return CallTraffic(blocks, wpos, wblock, (Reads(pos, block, block),))


def _strided_index(dims: Sequence[int], strides: Sequence[int]) -> np.ndarray:
    """For each element of a dense row-major walk over `dims`, sum(i_k * strides[k])."""
    index = np.zeros(1, dtype=np.int64)
    for d, s in zip(dims, strides):
        index = (index[:, None] + np.arange(d, dtype=np.int64)[None, :] * s).reshape(-1)
    return index


def broadcast(p: ParamStruct) -> CallTraffic:
    """tinyc_add_s8 / tinyc_mul_s8: dense output over shape.dims; element t reads a and b
    through their strides, then writes byte t."""
    shape = p["shape"]
    a = _strided_index(shape["dims"], shape["a_strides"])
    b = _strided_index(shape["dims"], shape["b_strides"])
    blocks, wpos, wblock = _dense_writes(a.size)
    return CallTraffic(blocks, wpos, wblock, (Reads(a, wblock, wblock), Reads(b, wblock, wblock)))


def lut(p: ParamStruct) -> CallTraffic:
    """tinyc_lut_s8: output[i] = table[input[i] + 128] for i in order."""
    blocks, wpos, wblock = _dense_writes(p["size"])
    return CallTraffic(blocks, wpos, wblock, (Reads(wpos, wblock, wblock),))


SIGN_FLIP_WORD = 4  # tinyc_sign_flip_s8 flips four bytes per 32-bit word


def sign_flip(p: ParamStruct) -> CallTraffic:
    """tinyc_sign_flip_s8: in order, each whole 4-byte word read, then written; then the last
    size % 4 bytes one at a time."""
    t = np.arange(p["size"], dtype=np.int64)
    words = p["size"] // SIGN_FLIP_WORD
    block = np.where(t < words * SIGN_FLIP_WORD, t // SIGN_FLIP_WORD, t - words * (SIGN_FLIP_WORD - 1))
    blocks = int(block[-1]) + 1 if t.size else 0
    return CallTraffic(blocks, t, block, (Reads(t, block, block),))


def softmax(p: ParamStruct) -> CallTraffic:
    """tinyc_softmax_s8: per row, two passes read the whole row (max, sum of exps) before
    the first write; the third pass reads x[c] and writes y[c] for c in order."""
    outer, depth = p["outer"], p["depth"]
    blocks, wpos, wblock = _dense_writes(outer * depth)
    row_start = (wpos // depth) * depth
    return CallTraffic(blocks, wpos, wblock, (Reads(wpos, row_start, wpos),), replayable=False)


def transpose(p: ParamStruct) -> CallTraffic:
    """tinyc_transpose_s8: dense output over out_dims; element t reads its strided input."""
    src = _strided_index(p["out_dims"], p["in_strides"])
    blocks, wpos, wblock = _dense_writes(src.size)
    return CallTraffic(blocks, wpos, wblock, (Reads(src, wblock, wblock),))
