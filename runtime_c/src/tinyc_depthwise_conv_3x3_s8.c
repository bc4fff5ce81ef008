/*
 * Depthwise 3x3 convolution, depth multiplier 1, dilation 1, channels a multiple of 4, NHWC,
 * int8 (TFLite's DepthwiseConvPerChannel, bit for bit): what DSP cores run for the 3x3
 * depthwise layers of MobileNet-like models (the record's applies says when).
 *
 * Compile-time layouts (kernels/depthwise3x3.py):
 *   weights [channels / 4][3][3][2] int32 words of int16 pairs: per group of four channels
 *           c..c + 3, per tap, the lane words {w[c], w[c + 2]} and {w[c + 1], w[c + 3]} (low
 *           half first), so a lane multiplies them as loaded, at fixed offsets from one pointer;
 *   bias    the lane table: per group of four channels c..c + 3, per lane (channels ch, ch + 2;
 *           ch = c, then c + 1) eight words: the two channels' biases (the model's, or 0: the
 *           input offset is added on every tap), then per channel its multiplier and the
 *           proved tail's k and right shift (0 where not proved); for
 *           tinyc_depthwise_conv_3x3_single_s8 its multiplier, the output offset and 0;
 *   requant [channels][2]: requant_tail.h's packed constants instead of a shift (the guarded
 *           tail's), then one word: the double shift every channel shares where the compiler
 *           proved the fast (or the single) tail for all of them, else 0 (then every output
 *           takes the guarded tail). Where it is not 0 the weights and the biases come
 *           shifted left by it (the proof bounds every accumulator so shifted), so the tails
 *           shift nothing; the portable path divides the accumulator back (exact).
 *
 * Order (kernels/depthwise3x3.py pairs_traffic, run_units): per image, per output row, its
 * pixels in units: a pair (px, px + 1) where both windows' columns lie inside the input but
 * for px's left or px + 1's right column (stride 1 or 2, at most 256 channels), else one
 * pixel. A pair, per group of four channels: read both windows' channels c, c + 2, then
 * c + 1, c + 3 (the two lanes), then write px's four bytes; px + 1's bytes wait in a stack
 * buffer and are written after px's last group. A single pixel, per group: read its window,
 * write four bytes. Every write thus comes no earlier, relative to the reads, than in
 * tinyc_depthwise_conv_s8's raster order, and the overlap distances stay the same. The
 * portable path runs the same units in the same order.
 *
 * SIMD path: a pair lane keeps four accumulators (two channels of two pixels) over the
 * window rows inside the image; per row its three weight words (the lane's {c, c + 2}, as
 * stored), the four (stride 1; five for stride 2) input columns widened by SXTAB16 adding
 * the input offset, twelve SMLAxy; the column both pixels of a stride-1 pair tap is loaded
 * once. Its biases and tail constants come from the lane table, one pointer walking it;
 * the proved tail is an add, SMMLAR, a shift and SSAT per output, the single one SMMLAR and
 * SSAT. A single pixel walks its clipped taps four channels at a time (tinyc_dw3_mac4).
 * Portable path: plain loops.
 */
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/depthwise.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

/* The second pixel of a pair waits in a stack buffer of this many bytes (wider layers run
 * pixel by pixel). */
#define TINYC_DW3_PAIR_MAX_CHANNELS 256

/* Channel c's bias in the lane table (below: per group, per lane c & 1, its two channels). */
static inline int32_t tinyc_dw3_lane_bias(const int32_t *lanes, int32_t c)
{
    return lanes[(c >> 2) * 16 + (c & 1) * 8 + ((c >> 1) & 1)];
}

/* Weight (ky, kx) of channel c in the layout above (pre-shifted where the tail is proved). */
static inline int32_t tinyc_dw3_weight(const int32_t *weights, int32_t c, int32_t ky, int32_t kx)
{
    const uint32_t word = (uint32_t)weights[(c >> 2) * 18 + (ky * 3 + kx) * 2 + (c & 1)];
    return (int32_t)(int16_t)(uint16_t)(((c >> 1) & 1) ? word >> 16 : word & 0xFFFFu);
}

#if TINYC_USE_SIMD
typedef struct {
    int32_t output_offset, act_min, act_max;
    int32_t channels, offset_pair, mode;
    const int32_t *lanes; /* the lane table */
} tinyc_dw3_out;

#if defined(__GNUC__)
#define TINYC_DW3_INLINE static inline __attribute__((always_inline))
#else
#define TINYC_DW3_INLINE static inline
#endif

/* The four outputs of channels c..c + 3, stored as one word after the group's reads. */
TINYC_DW3_INLINE void tinyc_dw3_store4(tinyc_acc4 acc, const int32_t *multiplier, const int32_t *requant, int32_t c,
                                    tinyc_dw3_out o, int full_range, int8_t *out)
{
    int8_t bytes[4];
    bytes[0] = tinyc_tail_s8(acc.a0, tinyc_tail_channel_packed(multiplier, requant, c), o.output_offset, o.act_min,
                             o.act_max, full_range);
    bytes[1] = tinyc_tail_s8(acc.a1, tinyc_tail_channel_packed(multiplier, requant, c + 1), o.output_offset,
                             o.act_min, o.act_max, full_range);
    bytes[2] = tinyc_tail_s8(acc.a2, tinyc_tail_channel_packed(multiplier, requant, c + 2), o.output_offset,
                             o.act_min, o.act_max, full_range);
    bytes[3] = tinyc_tail_s8(acc.a3, tinyc_tail_channel_packed(multiplier, requant, c + 3), o.output_offset,
                             o.act_min, o.act_max, full_range);
    memcpy(out + c, bytes, sizeof bytes);
}

/* The proved tail of one output (kernels/depthwise3x3.py fast_tail_table): the compiler has
 * shown that for this channel 2 * (acc << left) fits int32 for every accumulator the window
 * can produce, that right_shift >= 1 (so the sign fix-up is v >> 31), and that adding
 * k = round + (output_offset << right_shift) cannot overflow; then
 * ((v + round + (v >> 31)) >> right_shift) + output_offset == (v + k + (v >> 31)) >> right_shift
 * exactly, and requant_tail.h's guard, sign mask and offset add are not needed.
 * fast[2 * c] = k, fast[2 * c + 1] = right_shift. acc comes shifted by the double shift
 * already (the weights and biases are, kernels/depthwise3x3.py), and, as tinyc/dw_inplace4.h's
 * tinyc_dwi4_fast_tail, SMMLAR adds k + (acc >> 31) in the multiply: acc >> 31 stands for
 * v >> 31 (the multiplier is >= 0; where acc < 0 but v == 0, (k - 1) >> rs == k >> rs ==
 * output_offset, rs >= 1), and the compiler's bounds on v + k + (v >> 31) cover the sum. */
TINYC_DW3_INLINE int32_t tinyc_dw3_fast_tail(int32_t acc, int32_t m, const int32_t *fast)
{
    return tinyc_smmlar(acc, m, fast[0] + (acc >> 31)) >> fast[1];
}

/* The four outputs of channels c..c + 3 through the proved tail, stored as one word. */
TINYC_DW3_INLINE void tinyc_dw3_store4_fast(tinyc_acc4 acc, const int32_t *group_lanes, int32_t c, tinyc_dw3_out o,
                                            int full_range, int8_t *out)
{
    int8_t bytes[4];
    const int32_t *l0 = group_lanes;      /* channels c, c + 2 */
    const int32_t *l1 = group_lanes + 8;  /* channels c + 1, c + 3 */
    bytes[0] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(acc.a0, l0[2], l0 + 3), o.act_min, o.act_max, full_range);
    bytes[1] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(acc.a1, l1[2], l1 + 3), o.act_min, o.act_max, full_range);
    bytes[2] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(acc.a2, l0[5], l0 + 6), o.act_min, o.act_max, full_range);
    bytes[3] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(acc.a3, l1[5], l1 + 6), o.act_min, o.act_max, full_range);
    memcpy(out + c, bytes, sizeof bytes);
}

/* One of a pixel pair's lanes (lane 0: channels c, c + 2; lane 1: c + 1, c + 3) of one tap
 * column: the input word at p widened with the input offset added, or the weight word. */
TINYC_DW3_INLINE int32_t tinyc_dw3_lane_x(const int8_t *p, int32_t offset_pair, int lane)
{
    const int32_t word = tinyc_read_s8x4(p);
    return lane ? tinyc_sxtab16_ror8(offset_pair, word) : tinyc_sxtab16(offset_pair, word);
}


/* How a layer's outputs are requantized: the proved tail (fast_tail_table) with the SSAT clamp
 * or the activation range, or requant_tail.h's guarded tail. */
enum { TINYC_DW3_FAST_FULL, TINYC_DW3_FAST_CLAMPED, TINYC_DW3_GUARDED };

/* The lane table (kernels/depthwise3x3.py lane_table), after the proved tail's flag word: per
 * group of four channels, per lane (channels ch, ch + 2 with ch = c, then c + 1), eight words:
 * the two channels' biases, then per channel its multiplier and the proved tail's k and right
 * shift. One pointer walks it, so a lane loads its constants from fixed offsets. */
enum { TINYC_DW3_LANE_WORDS = 8 };

/* Output bytes of channels ch and ch + 2 of a pixel pair (a0, a2: px, stored at out[lane] and
 * out[lane + 2]; a1, a3: px + 1, stored in later) through the proved tail and SSAT. */
TINYC_DW3_INLINE void tinyc_dw3_tail4(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t *t, int32_t ch,
                                      int lane, int8_t *out, int8_t *later)
{
    const int32_t m0 = t[2], k0 = t[3], s0 = t[4];
    const int32_t m2 = t[5], k2 = t[6], s2 = t[7];
    const int32_t y0 = tinyc_tail_sat8(tinyc_smmlar(a0, m0, k0 + (a0 >> 31)) >> s0);
    const int32_t y1 = tinyc_tail_sat8(tinyc_smmlar(a1, m0, k0 + (a1 >> 31)) >> s0);
    const int32_t y2 = tinyc_tail_sat8(tinyc_smmlar(a2, m2, k2 + (a2 >> 31)) >> s2);
    const int32_t y3 = tinyc_tail_sat8(tinyc_smmlar(a3, m2, k2 + (a3 >> 31)) >> s2);
    out[lane] = (int8_t)y0;
    out[lane + 2] = (int8_t)y2;
    later[ch] = (int8_t)y1;
    later[ch + 2] = (int8_t)y3;
}

/* The same for the layers whose tail is not the proved one with the SSAT clamp: out of line,
 * so the pair loops stay small (the main path of onnxruntime-born layers: kept at -O2). */
TINYC_DW_NOINLINE static void tinyc_dw3_tail4_general(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                      const int32_t *multiplier, const int32_t *requant, int32_t ch,
                                                      int lane, const tinyc_dw3_out *o,
                                                      int8_t *out, int8_t *later)
{
    if (o->mode == TINYC_DW3_FAST_CLAMPED) {
        const int32_t *t = o->lanes + (ch >> 2) * 2 * TINYC_DW3_LANE_WORDS + lane * TINYC_DW3_LANE_WORDS;
        out[lane] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(a0, t[2], t + 3), o->act_min, o->act_max, 0);
        out[lane + 2] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(a2, t[5], t + 6), o->act_min, o->act_max, 0);
        later[ch] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(a1, t[2], t + 3), o->act_min, o->act_max, 0);
        later[ch + 2] = tinyc_tail_clamp_s8(tinyc_dw3_fast_tail(a3, t[5], t + 6), o->act_min, o->act_max, 0);
    } else {
        const int full = o->act_min == -128 && o->act_max == 127;
        const tinyc_tail_channel q0 = tinyc_tail_channel_packed(multiplier, requant, ch);
        const tinyc_tail_channel q2 = tinyc_tail_channel_packed(multiplier, requant, ch + 2);
        out[lane] = tinyc_tail_s8(a0, q0, o->output_offset, o->act_min, o->act_max, full);
        out[lane + 2] = tinyc_tail_s8(a2, q2, o->output_offset, o->act_min, o->act_max, full);
        later[ch] = tinyc_tail_s8(a1, q0, o->output_offset, o->act_min, o->act_max, full);
        later[ch + 2] = tinyc_tail_s8(a3, q2, o->output_offset, o->act_min, o->act_max, full);
    }
}

/* tinyc_depthwise_conv_3x3_single_s8's tails: requant_tail.h's single-rounding one
 * (kernels/single_tail.py proved it for every accumulator of the layer), the lane entry t
 * holding per channel its multiplier and output offset where the proved TFLite-form tail has
 * its multiplier and k: one SMMLAR, then SSAT (inline) or the activation range (out of line). */
TINYC_DW3_INLINE void tinyc_dw3_tail4_single(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t *t,
                                             int32_t ch, int lane, int8_t *out, int8_t *later)
{
    const int32_t m0 = t[2], k0 = t[3];
    const int32_t m2 = t[5], k2 = t[6];
    out[lane] = (int8_t)tinyc_tail_sat8(tinyc_tail_single(a0, m0, k0, 0));
    out[lane + 2] = (int8_t)tinyc_tail_sat8(tinyc_tail_single(a2, m2, k2, 0));
    later[ch] = (int8_t)tinyc_tail_sat8(tinyc_tail_single(a1, m0, k0, 0));
    later[ch + 2] = (int8_t)tinyc_tail_sat8(tinyc_tail_single(a3, m2, k2, 0));
}

TINYC_DW_NOINLINE static void tinyc_dw3_tail4_single_clamped(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                             int32_t ch, int lane, const tinyc_dw3_out *o,
                                                             int8_t *out, int8_t *later)
{
    const int32_t *t = o->lanes + (ch >> 2) * 2 * TINYC_DW3_LANE_WORDS + lane * TINYC_DW3_LANE_WORDS;
    const int32_t lo = o->act_min, hi = o->act_max;
    out[lane] = tinyc_tail_clamp_s8(tinyc_tail_single(a0, t[2], t[3], 0), lo, hi, 0);
    out[lane + 2] = tinyc_tail_clamp_s8(tinyc_tail_single(a2, t[5], t[6], 0), lo, hi, 0);
    later[ch] = tinyc_tail_clamp_s8(tinyc_tail_single(a1, t[2], t[3], 0), lo, hi, 0);
    later[ch + 2] = tinyc_tail_clamp_s8(tinyc_tail_single(a3, t[5], t[6], 0), lo, hi, 0);
}

/* One lane of one group of four channels of an output pixel pair (px, px + 1), px + 1 being
 * sw input columns to the right of px: rows input rows from p (the group's channel 0 of the
 * first tapped column, the window's kx = left column of px), weights from w (row ky_lo of the
 * group), t the lane's entry of the lane table. left: px's kx = 0 column is padding; right:
 * px + 1's kx = 2 column is padding. Both pixels' windows of the lane's two channels are read,
 * then their four bytes go to out (px: the group's four bytes) and later (px + 1). With
 * stride 1 the column both pixels tap is loaded and widened once (the compiler merges the
 * two identical loads). */
TINYC_DW3_INLINE void tinyc_dw3_pair_lane(const int8_t *p, int32_t channels, int32_t offset_pair,
                                          int32_t in_row_pitch, int32_t rows, const int32_t *w, const int32_t *t,
                                          int32_t ch, int fast_full, const int32_t *multiplier,
                                          const int32_t *requant, const tinyc_dw3_out *o, int8_t *out,
                                          int8_t *later, int lane, int sw, int left, int right, int single)
{
    /* two pointers a fixed distance apart cover the pair's four or five columns with
     * register offsets 0 and channels; the loop ends on the weight pointer (no row counter:
     * with the rows' pitch, every register is taken) */
    const int32_t *w_end = w + 6 * rows;
    int32_t a0 = t[0]; /* px, channel ch */
    int32_t a2 = t[1]; /* px, channel ch + 2 */
    int32_t a1 = a0;   /* px + 1 */
    int32_t a3 = a2;
    int32_t x, wv;
#define TINYC_DW3_COL(k) ((k) < 2 ? p + (k) * channels : q + ((k) - 2) * channels)
    do {
        const int8_t *q = p + 2 * channels;
        wv = w[lane];
        if (!left) {
            x = tinyc_dw3_lane_x(TINYC_DW3_COL(0), offset_pair, lane);
            a0 = tinyc_smlabb(x, wv, a0);
            a2 = tinyc_smlatt(x, wv, a2);
        }
        x = tinyc_dw3_lane_x(TINYC_DW3_COL(sw - left), offset_pair, lane);
        a1 = tinyc_smlabb(x, wv, a1);
        a3 = tinyc_smlatt(x, wv, a3);
        wv = w[2 + lane];
        x = tinyc_dw3_lane_x(TINYC_DW3_COL(1 - left), offset_pair, lane);
        a0 = tinyc_smlabb(x, wv, a0);
        a2 = tinyc_smlatt(x, wv, a2);
        x = tinyc_dw3_lane_x(TINYC_DW3_COL(1 + sw - left), offset_pair, lane);
        a1 = tinyc_smlabb(x, wv, a1);
        a3 = tinyc_smlatt(x, wv, a3);
        wv = w[4 + lane];
        x = tinyc_dw3_lane_x(TINYC_DW3_COL(2 - left), offset_pair, lane);
        a0 = tinyc_smlabb(x, wv, a0);
        a2 = tinyc_smlatt(x, wv, a2);
        if (!right) {
            x = tinyc_dw3_lane_x(TINYC_DW3_COL(2 + sw - left), offset_pair, lane);
            a1 = tinyc_smlabb(x, wv, a1);
            a3 = tinyc_smlatt(x, wv, a3);
        }
        p += in_row_pitch;
        w += 6;
    } while (w != w_end);
#undef TINYC_DW3_COL
    if (single) {
        if (fast_full) {
            tinyc_dw3_tail4_single(a0, a1, a2, a3, t, ch, lane, out, later);
        } else {
            tinyc_dw3_tail4_single_clamped(a0, a1, a2, a3, ch, lane, o, out, later);
        }
    } else if (fast_full) {
        tinyc_dw3_tail4(a0, a1, a2, a3, t, ch, lane, out, later);
    } else {
        tinyc_dw3_tail4_general(a0, a1, a2, a3, multiplier, requant, ch, lane, o, out, later);
    }
}

/* A pixel pair, every group of four channels, both lanes. */
TINYC_DW3_INLINE void tinyc_dw3_pair(const int8_t *p, int32_t in_row_pitch, int32_t rows, const int32_t *w,
                                     const int32_t *multiplier, const int32_t *requant, const tinyc_dw3_out *o,
                                     int8_t *out, int8_t *later, int sw, int left, int right, int single)
{
    const int32_t channels = o->channels;
    const int32_t offset_pair = o->offset_pair;
    const int fast_full = o->mode == TINYC_DW3_FAST_FULL;
    const int32_t *t = o->lanes;
    int32_t c;
    int8_t group[4]; /* the first pixel's four bytes, stored after both lanes */
    for (c = 0; c < channels; c += 4) {
        tinyc_dw3_pair_lane(p, channels, offset_pair, in_row_pitch, rows, w, t, c, fast_full, multiplier, requant, o,
                            group, later, 0, sw, left, right, single);
        tinyc_dw3_pair_lane(p, channels, offset_pair, in_row_pitch, rows, w, t + TINYC_DW3_LANE_WORDS, c + 1,
                            fast_full, multiplier, requant, o, group, later, 1, sw, left, right, single);
        memcpy(out + c, group, sizeof group);
        p += 4;
        w += 18;
        t += 2 * TINYC_DW3_LANE_WORDS;
    }
}

/* pairs pixel pairs of one kind side by side along a row (a run of interior pairs in one
 * call). The second pixel's bytes wait in a stack buffer until the first pixel is complete, so the
 * pair writes in tinyc_depthwise_conv_s8's order but for the two lanes of a group of four
 * (access model: depthwise3x3.pairs_traffic); wider layers run pixel by pixel. */

#define TINYC_DW3_PAIR_FN(name, sw, left, right, single)                                                          \
    TINYC_DW_NOINLINE static void name(const int8_t *p, int32_t in_row_pitch, int32_t rows, const int32_t *w,    \
                                       int32_t pairs, const int32_t *multiplier, const int32_t *requant,         \
                                       const tinyc_dw3_out *o, int8_t *out)                                      \
    {                                                                                                             \
        const int32_t channels = o->channels;                                                                     \
        int8_t later[TINYC_DW3_PAIR_MAX_CHANNELS];                                                                \
        do {                                                                                                      \
            tinyc_dw3_pair(p, in_row_pitch, rows, w, multiplier, requant, o, out, later, sw, left, right, single); \
            memcpy(out + channels, later, (size_t)channels);                                                      \
            p += 2 * (sw) * channels;                                                                             \
            out += 2 * channels;                                                                                  \
        } while (--pairs != 0);                                                                                   \
    }

TINYC_DW3_PAIR_FN(tinyc_dw3_pair_s1, 1, 0, 0, 0)
TINYC_DW3_PAIR_FN(tinyc_dw3_pair_s1_left, 1, 1, 0, 0)
TINYC_DW3_PAIR_FN(tinyc_dw3_pair_s1_right, 1, 0, 1, 0)
TINYC_DW3_PAIR_FN(tinyc_dw3_pair_s2, 2, 0, 0, 0)
TINYC_DW3_PAIR_FN(tinyc_dw3_pair_s2_left, 2, 1, 0, 0)
TINYC_DW3_PAIR_FN(tinyc_dw3_pair_s2_right, 2, 0, 1, 0)
/* tinyc_depthwise_conv_3x3_single_s8's: the single-rounding tail */
TINYC_DW3_PAIR_FN(tinyc_dw3_single_pair_s1, 1, 0, 0, 1)
TINYC_DW3_PAIR_FN(tinyc_dw3_single_pair_s1_left, 1, 1, 0, 1)
TINYC_DW3_PAIR_FN(tinyc_dw3_single_pair_s1_right, 1, 0, 1, 1)
TINYC_DW3_PAIR_FN(tinyc_dw3_single_pair_s2, 2, 0, 0, 1)
TINYC_DW3_PAIR_FN(tinyc_dw3_single_pair_s2_left, 2, 1, 0, 1)
TINYC_DW3_PAIR_FN(tinyc_dw3_single_pair_s2_right, 2, 0, 1, 1)

/* Four channels of one tap: acc[k] += (x[k] + offset) * w[k], the weights two int16 lane
 * words ({c, c + 2}, {c + 1, c + 3}). */
TINYC_DW3_INLINE void tinyc_dw3_mac4(const int8_t *x, const int32_t *w, int32_t offset_pair, tinyc_acc4 *acc)
{
    const int32_t xs = tinyc_read_s8x4(x);
    const int32_t x02 = tinyc_sxtab16(offset_pair, xs);
    const int32_t x13 = tinyc_sxtab16_ror8(offset_pair, xs);
    acc->a0 = tinyc_smlabb(x02, w[0], acc->a0);
    acc->a1 = tinyc_smlabb(x13, w[1], acc->a1);
    acc->a2 = tinyc_smlatt(x02, w[0], acc->a2);
    acc->a3 = tinyc_smlatt(x13, w[1], acc->a3);
}

/* A border pixel: taps ky_lo <= ky < ky_hi, kx_lo <= kx < kx_hi of the window whose (0, 0)
 * tap is input pixel (in_y0, in_x0), x pointing at the image; the input offset on every tap.
 * A layer has few of them (the corners, and the rows its pair loops skip): compiled for size. */
TINYC_SIZE_OPTIMIZED TINYC_DW_NOINLINE static void tinyc_dw3_border(
    const int8_t *image, int32_t in_row_pitch, int32_t channels, int32_t in_y0, int32_t in_x0, int32_t ky_lo,
    int32_t ky_hi, int32_t kx_lo, int32_t kx_hi, int32_t offset_pair, const int32_t *w, const int32_t *multiplier,
    const int32_t *requant, int32_t proved, tinyc_dw3_out o, int8_t *out)
{
    const int32_t *lanes = o.lanes;
    const int full_range = o.act_min == -128 && o.act_max == 127;
    int32_t c, ky, kx;
    for (c = 0; c < channels; c += 4) {
        tinyc_acc4 acc;
        acc.a0 = lanes[0];
        acc.a1 = lanes[TINYC_DW3_LANE_WORDS];
        acc.a2 = lanes[1];
        acc.a3 = lanes[TINYC_DW3_LANE_WORDS + 1];
        for (ky = ky_lo; ky < ky_hi; ++ky) {
            const int8_t *row = image + (in_y0 + ky) * in_row_pitch + c;
            for (kx = kx_lo; kx < kx_hi; ++kx) {
                tinyc_dw3_mac4(row + (in_x0 + kx) * channels, w + (ky * 3 + kx) * 2, offset_pair, &acc);
            }
        }
        if (proved != 0) {
            if (full_range) {
                tinyc_dw3_store4_fast(acc, lanes, c, o, 1, out);
            } else {
                tinyc_dw3_store4_fast(acc, lanes, c, o, 0, out);
            }
        } else if (full_range) {
            tinyc_dw3_store4(acc, multiplier, requant, c, o, 1, out);
        } else {
            tinyc_dw3_store4(acc, multiplier, requant, c, o, 0, out);
        }
        w += 18;
        lanes += 2 * TINYC_DW3_LANE_WORDS;
    }
}

/* tinyc_dw3_border for the single-rounding tail (the lane table's multipliers and offsets). */
TINYC_SIZE_OPTIMIZED TINYC_DW_NOINLINE static void tinyc_dw3_border_single(
    const int8_t *image, int32_t in_row_pitch, int32_t channels, int32_t in_y0, int32_t in_x0, int32_t ky_lo,
    int32_t ky_hi, int32_t kx_lo, int32_t kx_hi, int32_t offset_pair, const int32_t *w, const tinyc_dw3_out *o,
    int8_t *out)
{
    const int32_t *lanes = o->lanes;
    int32_t c, ky, kx;
    for (c = 0; c < channels; c += 4) {
        int32_t acc[4];
        int32_t j;
        tinyc_acc4 sum;
        sum.a0 = lanes[0];
        sum.a1 = lanes[TINYC_DW3_LANE_WORDS];
        sum.a2 = lanes[1];
        sum.a3 = lanes[TINYC_DW3_LANE_WORDS + 1];
        for (ky = ky_lo; ky < ky_hi; ++ky) {
            const int8_t *row = image + (in_y0 + ky) * in_row_pitch + c;
            for (kx = kx_lo; kx < kx_hi; ++kx) {
                tinyc_dw3_mac4(row + (in_x0 + kx) * channels, w + (ky * 3 + kx) * 2, offset_pair, &sum);
            }
        }
        acc[0] = sum.a0;
        acc[1] = sum.a1;
        acc[2] = sum.a2;
        acc[3] = sum.a3;
        for (j = 0; j < 4; ++j) { /* channel c + j: lane j & 1, its (j >> 1)-th channel */
            const int32_t *t = lanes + (j & 1) * TINYC_DW3_LANE_WORDS + 2 + 3 * (j >> 1);
            out[c + j] = tinyc_tail_clamp_s8(tinyc_tail_single(acc[j], t[0], t[1], 0), o->act_min,
                                             o->act_max, 0);
        }
        w += 18;
        lanes += 2 * TINYC_DW3_LANE_WORDS;
    }
}

#endif /* TINYC_USE_SIMD */

/* What runs output pixel ox of a row (with ox + 1 when a pair): kernels/depthwise3x3.py
 * run_units is its twin (the access model follows it). A pair needs two pixels, stride 1 or 2,
 * at least one window row inside the image, both windows' columns inside the input but for
 * the first pixel's kx = 0 column (left) or the second's kx = 2 column (right). */
typedef enum {
    TINYC_DW3_SINGLE,
    TINYC_DW3_PAIR_S1,
    TINYC_DW3_PAIR_S1_LEFT,
    TINYC_DW3_PAIR_S1_RIGHT,
    TINYC_DW3_PAIR_S2,
    TINYC_DW3_PAIR_S2_LEFT,
    TINYC_DW3_PAIR_S2_RIGHT
} tinyc_dw3_unit;

static inline tinyc_dw3_unit tinyc_dw3_unit_at(int32_t ox, int32_t out_w, int32_t in_x0, int32_t in_w,
                                               int32_t stride_w, int32_t rows, int32_t channels)
{
    const int32_t second = in_x0 + stride_w;
    int32_t kind;
    if (ox + 1 >= out_w || rows < 1 || (stride_w != 1 && stride_w != 2) || channels > TINYC_DW3_PAIR_MAX_CHANNELS) {
        return TINYC_DW3_SINGLE;
    }
    if (in_x0 >= 0 && second + 3 <= in_w) {
        kind = 0;
    } else if (in_x0 == -1 && second + 3 <= in_w) {
        kind = 1;
    } else if (in_x0 >= 0 && second + 3 == in_w + 1) {
        kind = 2;
    } else {
        return TINYC_DW3_SINGLE;
    }
    return (tinyc_dw3_unit)((stride_w == 1 ? TINYC_DW3_PAIR_S1 : TINYC_DW3_PAIR_S2) + kind);
}

#if !TINYC_USE_SIMD
/* Output channel ch of the pixel whose window's (0, 0) tap is input pixel (in_y0, in_x0): its
 * taps inside the image, requant.h's reference tail (the accumulator divided back by the
 * weights' and bias's pre-shift, exact). */
TINYC_DW_NOINLINE static int8_t tinyc_dw3_portable_output(const tinyc_conv_params *params, const int8_t *image,
                                                          int32_t in_y0, int32_t in_x0, int32_t ch,
                                                          const int32_t *weights, const int32_t *bias,
                                                          const int32_t *multiplier, const int32_t *requant)
{
    const int32_t channels = params->in_c;
    const int32_t in_row_pitch = params->in_w * params->in_c;
    int32_t acc = tinyc_dw3_lane_bias(bias, ch);
    int32_t ky, kx;
    for (ky = 0; ky < 3; ++ky) {
        const int32_t in_y = in_y0 + ky;
        if (in_y < 0 || in_y >= params->in_h) {
            continue;
        }
        for (kx = 0; kx < 3; ++kx) {
            const int32_t in_x = in_x0 + kx;
            if (in_x < 0 || in_x >= params->in_w) {
                continue;
            }
            acc += ((int32_t)image[in_y * in_row_pitch + in_x * channels + ch] + params->input_offset) *
                   tinyc_dw3_weight(weights, ch, ky, kx);
        }
    }
    acc /= (int32_t)1 << requant[2 * channels]; /* 2^double_shift where pre-shifted, else 1 */
    return tinyc_requantize_s8(acc, multiplier[ch], tinyc_tail_packed_shift(requant, ch), params->output_offset,
                               params->act_min, params->act_max);
}

/* One unit of the portable path (a pixel, or a pair whose second pixel is stored after the
 * first's), the SIMD path's order, so one access model holds for both. Out of line so the
 * kernel's frame stays under the runtime's 512 B stack rule with the pair's holding buffer. */
TINYC_DW_NOINLINE static void tinyc_dw3_portable_unit(const tinyc_conv_params *params, const int8_t *image,
                                                      int32_t in_y0, int32_t ox, int32_t count, const int32_t *weights,
                                                      const int32_t *bias, const int32_t *multiplier,
                                                      const int32_t *requant, int8_t *out)
{
    const int32_t channels = params->in_c;
    int32_t c, k, j;
    int8_t later[TINYC_DW3_PAIR_MAX_CHANNELS];
    for (c = 0; c < channels; c += 4) {
        int8_t group[2][4];
        for (k = 0; k < count; ++k) {
            const int32_t in_x0 = (ox + k) * params->stride_w - params->pad_left;
            for (j = 0; j < 4; ++j) {
                group[k][j] = tinyc_dw3_portable_output(params, image, in_y0, in_x0, c + j, weights, bias,
                                                        multiplier, requant);
            }
        }
        memcpy(out + c, group[0], 4);
        if (count == 2) {
            memcpy(later + c, group[1], 4);
        }
    }
    if (count == 2) {
        memcpy(out + channels, later, (size_t)channels);
    }
}
#endif

/* The kernel, for the TFLite-form tails (single 0) or the single-rounding one (single 1; a
 * constant at each of the two public functions below). */
#if defined(__GNUC__)
static inline __attribute__((always_inline)) void
#else
static inline void
#endif
tinyc_dw3_run(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights, const int32_t *bias,
              const int32_t *multiplier, const int32_t *requant, int8_t *output, int single)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->in_c;
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t stride_h = params->stride_h;
    const int32_t stride_w = params->stride_w;
    const int32_t pad_top = params->pad_top;
    const int32_t pad_left = params->pad_left;
    const int32_t in_row_pitch = params->in_w * params->in_c;
    const int32_t out_row_pitch = params->out_w * params->out_c;
    int32_t b, oy, ox;
#if TINYC_USE_SIMD
    const int32_t offset_pair = tinyc_dw_offset_pair(params->input_offset);
    /* the proved (or single) tail's double shift, already in the weights and biases; 0: the
     * guarded tail */
    const int32_t proved = requant[2 * channels];
    tinyc_dw3_out o;
    o.output_offset = params->output_offset;
    o.act_min = params->act_min;
    o.act_max = params->act_max;
    o.channels = channels;
    o.offset_pair = offset_pair;
    o.lanes = bias;
    o.mode = proved == 0 ? TINYC_DW3_GUARDED
             : (o.act_min == -128 && o.act_max == 127) ? TINYC_DW3_FAST_FULL
                                                         : TINYC_DW3_FAST_CLAMPED;
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * stride_h - pad_top;
            const int32_t ky_lo = in_y0 < 0 ? -in_y0 : 0;
            const int32_t ky_hi = in_y0 + 3 > in_h ? in_h - in_y0 : 3;
            const int32_t rows = ky_hi - ky_lo;
            const int8_t *row = image + (in_y0 + ky_lo) * in_row_pitch;
            const int32_t *w_row = weights + ky_lo * 6;
            int8_t *out_row = out_image + oy * out_row_pitch;
            ox = 0;
            while (ox < out_w) {
                const int32_t in_x0 = ox * stride_w - pad_left;
                int8_t *out = out_row + ox * channels;
                const tinyc_dw3_unit unit = tinyc_dw3_unit_at(ox, out_w, in_x0, in_w, stride_w, rows, channels);
                if (unit == TINYC_DW3_SINGLE) {
                    const int32_t kx_lo = in_x0 < 0 ? -in_x0 : 0;
                    const int32_t kx_hi = in_x0 + 3 > in_w ? in_w - in_x0 : 3;
                    if (single) {
                        tinyc_dw3_border_single(image, in_row_pitch, channels, in_y0, in_x0, ky_lo, ky_hi, kx_lo,
                                                kx_hi, offset_pair, weights, &o, out);
                    } else {
                        tinyc_dw3_border(image, in_row_pitch, channels, in_y0, in_x0, ky_lo, ky_hi, kx_lo, kx_hi,
                                         offset_pair, weights, multiplier, requant, proved, o, out);
                    }
                    ox += 1;
                    continue;
                }
                {
                    /* the pair's first tapped column: in_x0, or in_x0 + 1 = 0 for a left pair */
                    const int8_t *p = row + (in_x0 < 0 ? 0 : in_x0) * channels;
                    int32_t pairs = 1;
                    if (unit == TINYC_DW3_PAIR_S1 || unit == TINYC_DW3_PAIR_S2) {
                        while (tinyc_dw3_unit_at(ox + 2 * pairs, out_w, in_x0 + 2 * pairs * stride_w, in_w, stride_w,
                                                 rows, channels) == unit) {
                            ++pairs;
                        }
                    }
                    switch (unit) {
                    case TINYC_DW3_PAIR_S1:
                        if (single) {
                            tinyc_dw3_single_pair_s1(p, in_row_pitch, rows, w_row, pairs, multiplier, requant, &o, out);
                        } else {
                            tinyc_dw3_pair_s1(p, in_row_pitch, rows, w_row, pairs, multiplier, requant, &o, out);
                        }
                        break;
                    case TINYC_DW3_PAIR_S1_LEFT:
                        if (single) {
                            tinyc_dw3_single_pair_s1_left(p, in_row_pitch, rows, w_row,
                                1, multiplier, requant, &o, out);
                        } else {
                            tinyc_dw3_pair_s1_left(p, in_row_pitch, rows, w_row, 1, multiplier, requant, &o, out);
                        }
                        break;
                    case TINYC_DW3_PAIR_S1_RIGHT:
                        if (single) {
                            tinyc_dw3_single_pair_s1_right(p, in_row_pitch, rows, w_row,
                                1, multiplier, requant, &o, out);
                        } else {
                            tinyc_dw3_pair_s1_right(p, in_row_pitch, rows, w_row, 1, multiplier, requant, &o, out);
                        }
                        break;
                    case TINYC_DW3_PAIR_S2:
                        if (single) {
                            tinyc_dw3_single_pair_s2(p, in_row_pitch, rows, w_row, pairs, multiplier, requant, &o, out);
                        } else {
                            tinyc_dw3_pair_s2(p, in_row_pitch, rows, w_row, pairs, multiplier, requant, &o, out);
                        }
                        break;
                    case TINYC_DW3_PAIR_S2_LEFT:
                        if (single) {
                            tinyc_dw3_single_pair_s2_left(p, in_row_pitch, rows, w_row,
                                1, multiplier, requant, &o, out);
                        } else {
                            tinyc_dw3_pair_s2_left(p, in_row_pitch, rows, w_row, 1, multiplier, requant, &o, out);
                        }
                        break;
                    default:
                        if (single) {
                            tinyc_dw3_single_pair_s2_right(p, in_row_pitch, rows, w_row,
                                1, multiplier, requant, &o, out);
                        } else {
                            tinyc_dw3_pair_s2_right(p, in_row_pitch, rows, w_row, 1, multiplier, requant, &o, out);
                        }
                        break;
                    }
                    ox += 2 * pairs;
                }
            }
        }
    }
#else
    /* the SIMD path's order (pairs, a group of four channels at a time, the second pixel
     * after the first), so one access model holds for both; requant.h's reference tail, the
     * same bytes for either kind of tail */
    (void)single;
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * stride_h - pad_top;
            const int32_t rows = (in_y0 + 3 > in_h ? in_h - in_y0 : 3) - (in_y0 < 0 ? -in_y0 : 0);
            ox = 0;
            while (ox < out_w) {
                const int32_t count =
                    tinyc_dw3_unit_at(ox, out_w, ox * stride_w - pad_left, in_w, stride_w, rows, channels) ==
                            TINYC_DW3_SINGLE
                        ? 1
                        : 2;
                tinyc_dw3_portable_unit(params, image, in_y0, ox, count, weights, bias, multiplier, requant,
                                        out_image + oy * out_row_pitch + ox * channels);
                ox += count;
            }
        }
    }
#endif
}

void tinyc_depthwise_conv_3x3_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                 const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                 int8_t *output)
{
    tinyc_dw3_run(params, input, weights, bias, multiplier, requant, output, 0);
}

/* The same for layers whose every channel rounds once (kernels/depthwise3x3.py SINGLE_3X3):
 * the lane table carries per channel (multiplier, output offset, 0) where the proved tail has
 * (multiplier, k, right_shift), requant's last word the single tail's double shift (never 0).
 * The portable path is the other kernel's (requant.h's reference tail: the same bytes). */
void tinyc_depthwise_conv_3x3_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                        const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                        const int32_t *requant, int8_t *output)
{
    tinyc_dw3_run(params, input, weights, bias, multiplier, requant, output, 1);
}
