/*
 * Pointwise convolution (1x1, stride 1, no padding, groups 1), NHWC in and out, int8: per
 * image row, the matrix product of the row's pixels [w][in_c] with the filters [in_c][out_c].
 * The arithmetic is tinyc_conv_s8's, bit for bit (TFLite's ConvPerChannel on a 1x1 window).
 *
 * Needs in_c % 4 == 0 and out_c % 2 == 0 (the record's applies). weights are interleaved at
 * compile time (kernels/pointwise.py) as [out_c / 2][in_c / 4][2][4]: per pair of output
 * channels, per block of four input channels, the first channel's four weights, then the
 * second's, which is the order the inner loop loads them in (one pointer, post-increment).
 * Instead of a shift per channel it takes `requant` (pointwise.requant_args): two words per
 * channel (requant_tail.h's packed constants, for the guarded tail), then one word, the
 * double shift of the tail proved at compile time (pointwise.proved_tail_table; 0: not
 * proved), then per channel (bias or 0, multiplier, k, right_shift), what a block of the SIMD
 * path reads from one pointer where the proof holds (requant_tail.h tinyc_tail_proved: no
 * guard, the output offset inside k).
 *
 * Order (kernels/access.py pointwise_pairs models it): per row, the pixels in pairs (x, x + 1)
 * (an odd row's last pixel alone); per pair, per pair of output channels (c, c + 1): read both
 * pixels' in_c input bytes, then write the pair's four output bytes. So a block is a pair of
 * pixels and a pair of channels, and a pixel's input is read by every block of its pair. The
 * portable path runs exactly that order with plain loops; the SIMD paths read a pair's input
 * no later and write its outputs no earlier, so the model's distances hold for them too.
 *
 * SIMD path (TINYC_USE_SIMD): register blocking 2 pixels x 2 channels. Per four input
 * channels, one word of each pixel widened by SXTB16 / SXTB16 ROR 8 into int16 pairs {x0, x2}
 * and {x1, x3} (SXTAB16 adds the input offset when the registry could not fold it into the
 * bias), one word of each channel widened the same way (even lanes meet even lanes, so the
 * weights need no reordering within a word), eight SMLADs: 16 MACs for 20 instructions. The
 * four outputs go through the proved tail (SMMULR, two adds, two shifts, SSAT: the _proved_s8
 * kernels), the single-rounding one (the _single_s8 kernels) or, in the kernels without a
 * suffix, which run layers where the compiler proved neither, requant_tail.h's guarded one.
 *
 * tinyc_pointwise_conv_w16_s8 / _inplace_pairs_w16_s8 take the weights pre-expanded to
 * int16 at compile time (where the board's flash has room), two words per channel and block
 * in the order of the SMLADs: no SXTB16 on the weight side, 16 MACs for 16 instructions.
 * tinyc_pointwise_conv_in8_w16_s8 is the same with in_c a constant of the loop (unrolled).
 *
 * Expanded pair (tinyc_pointwise_conv_x16_w16_s8 for in_c >= 32, _in16_w16_s8 for in_c 16
 * with the count a constant, and the in-place kernels): each pixel pair is first widened to
 * int16 into the scratch (the input offset added there), per block of four input channels
 * {a0, a2}, {a1, a3}, {b0, b2}, {b1, b3}; every block then loads input words with LDRD:
 * 16 MACs for 12 instructions, four blocks an iteration.
 *
 * tinyc_pointwise_conv_inplace_pairs_s8 / _w16_s8 compute each pair from that copy (the
 * portable path from a byte copy): all of a pair's input is read before any of its output
 * is written, so with out_c <= in_c the output may start on the input (kernels/access.py
 * pointwise_inplace_pairs), as for tinyc_pointwise_conv_inplace_s8.
 */
#include <stdint.h>
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

/* The tail a loop nest ends each output with (a constant of every nest): the guarded one
 * (requant_tail.h tinyc_tail_s8), the proved one (tinyc_tail_proved: TFLite layers with right
 * shifts) or the single-rounding one (tinyc_tail_single: layers whose every channel has right
 * shift 0, the _single_s8 kernels). */
#define TINYC_PW_GUARDED 0
#define TINYC_PW_PROVED 1
#define TINYC_PW_SINGLE 2

#if !TINYC_USE_SIMD
/* Weight (oc, ic) in the interleaved layouts above: int8 [out_c / 2][in_c / 4][2][4], or
 * (wide) int16 words [out_c / 2][in_c / 4][2][2], word 0 = {w0, w2}, word 1 = {w1, w3}. */
static int32_t tinyc_pw_weight(const int8_t *weights, int wide, int32_t oc, int32_t ic, int32_t in_c)
{
    if (wide) {
        const int32_t word = (oc >> 1) * in_c + (ic >> 2) * 4 + (oc & 1) * 2 + (ic & 1);
        const int32_t v = tinyc_read_s8x4(weights + 4 * word);
        return (ic & 2) ? tinyc_hi16(v) : tinyc_lo16(v);
    }
    return (int32_t)weights[(oc >> 1) * 2 * in_c + (ic >> 2) * 8 + (oc & 1) * 4 + (ic & 3)];
}
#endif

#if TINYC_USE_SIMD
#if defined(__GNUC__)
/* Without gcc's first scheduling pass (as tinyc/dot_s8.h): with it, hoisted loads push the
 * 2x2 loop past the 14 registers and it spills. noclone: a loop nest one public kernel calls
 * would otherwise be specialised for that caller's arguments, and scheduled differently. */
#if !defined(__clang__)
#define TINYC_PW_NOINLINE static __attribute__((noinline, noclone, unused, optimize("no-schedule-insns")))
#else
#define TINYC_PW_NOINLINE static __attribute__((noinline, unused))
#endif
#define TINYC_PW_INLINE static inline __attribute__((always_inline))
#else
#define TINYC_PW_NOINLINE static
#define TINYC_PW_INLINE static inline
#endif

/* The accumulators of one block: pixels a, b times channels 0, 1 of the pair. */
typedef struct {
    int32_t a0, a1, b0, b1;
} tinyc_pw_acc;

/* What every block of a call reads (copied once: an int8 store may alias the params). */
typedef struct {
    const int8_t *weights;
    const int32_t *bias;
    const int32_t *multiplier;
    const int32_t *requant;
    const int32_t *proved; /* requant + 2 * out_c + 1: per channel (bias, multiplier, k, right_shift),
                            * or in the _single_s8 kernels (bias, multiplier, offset, 0) */
    int32_t in_c, out_c, width, rows;
    int32_t offset_pair; /* (input_offset, input_offset), 0 when folded into the bias */
    int32_t double_shift; /* of the proved or single tail, every channel's (0: not proved) */
    int32_t output_offset, act_min, act_max;
} tinyc_pw_call;

/* Widen one input word into {x0, x2}, {x1, x3}, adding the offset pair when asked for
 * (with_offset is a constant at every call, so the choice is made at compile time). */
TINYC_PW_INLINE int32_t tinyc_pw_even(int32_t v, int32_t offset_pair, int with_offset)
{
    return with_offset ? tinyc_sxtab16(offset_pair, v) : tinyc_sxtb16(v);
}

TINYC_PW_INLINE int32_t tinyc_pw_odd(int32_t v, int32_t offset_pair, int with_offset)
{
    return with_offset ? tinyc_sxtab16_ror8(offset_pair, v) : tinyc_sxtb16_ror8(v);
}

/* Channel j (0, 1) of a pair's block of four input channels as int16 pairs {w0, w2}, {w1, w3}:
 * one word widened by SXTB16 / SXTB16 ROR 8 (int8 layout, 8 bytes a block), or two words
 * read as they are (wide: int16 pre-expanded at compile time, 16 bytes a block). */
TINYC_PW_INLINE void tinyc_pw_weights(const int8_t *w, int j, int wide, int32_t *w02, int32_t *w13)
{
    if (wide) {
        /* The weights are int32 words (the public kernels' argument type), so word reads
         * through an int32 pointer are aligned and lawful, and gcc pairs them into LDRD. */
        const int32_t *words = (const int32_t *)(const void *)w;
        *w02 = words[2 * j];
        *w13 = words[2 * j + 1];
    } else {
        const int32_t v = tinyc_read_s8x4(w + 4 * j);
        *w02 = tinyc_sxtb16(v);
        *w13 = tinyc_sxtb16_ror8(v);
    }
}

/* One block of four input channels, 2 pixels x 2 channels: xb is xa + in_c, so 14 values
 * stay live in the loops below: 4 accumulators, 4 widened inputs, 2 widened weights, xa,
 * in_c, w, w_end. */
#define TINYC_PW_BLOCK_2X2(xa, in_c, w, offset_pair, with_offset, wide, acc)                                        \
    do {                                                                                                          \
        const int32_t va_ = tinyc_read_s8x4(xa);                                                                  \
        const int32_t vb_ = tinyc_read_s8x4((xa) + (in_c));                                                       \
        const int32_t a02_ = tinyc_pw_even(va_, offset_pair, with_offset);                                        \
        const int32_t a13_ = tinyc_pw_odd(va_, offset_pair, with_offset);                                         \
        const int32_t b02_ = tinyc_pw_even(vb_, offset_pair, with_offset);                                        \
        const int32_t b13_ = tinyc_pw_odd(vb_, offset_pair, with_offset);                                         \
        int32_t w02_, w13_;                                                                                       \
        tinyc_pw_weights(w, 0, wide, &w02_, &w13_);                                                               \
        (acc).a0 = tinyc_smlad(w02_, a02_, (acc).a0);                                                             \
        (acc).b0 = tinyc_smlad(w02_, b02_, (acc).b0);                                                             \
        (acc).a0 = tinyc_smlad(w13_, a13_, (acc).a0);                                                             \
        (acc).b0 = tinyc_smlad(w13_, b13_, (acc).b0);                                                             \
        tinyc_pw_weights(w, 1, wide, &w02_, &w13_);                                                               \
        (acc).a1 = tinyc_smlad(w02_, a02_, (acc).a1);                                                             \
        (acc).b1 = tinyc_smlad(w02_, b02_, (acc).b1);                                                             \
        (acc).a1 = tinyc_smlad(w13_, a13_, (acc).a1);                                                             \
        (acc).b1 = tinyc_smlad(w13_, b13_, (acc).b1);                                                             \
    } while (0)

/* 2 pixels x 2 channels over the input channels, two blocks per iteration (half the loop
 * overhead), then the odd block when in_c / 4 is odd. */
TINYC_PW_INLINE tinyc_pw_acc tinyc_pw_dot2x2(const int8_t *xa, int32_t in_c, const int8_t *w, const int8_t *w_end,
                                             int32_t offset_pair, int with_offset, int wide, tinyc_pw_acc acc)
{
    const int32_t block = wide ? 16 : 8; /* weight bytes per block of four input channels */
    const int8_t *w_pairs_end = w + (in_c >> 3) * 2 * block;
    while (w != w_pairs_end) {
        TINYC_PW_BLOCK_2X2(xa, in_c, w, offset_pair, with_offset, wide, acc);
        TINYC_PW_BLOCK_2X2(xa + 4, in_c, w + block, offset_pair, with_offset, wide, acc);
        xa += 8;
        w += 2 * block;
    }
    if (w != w_end) {
        TINYC_PW_BLOCK_2X2(xa, in_c, w, offset_pair, with_offset, wide, acc);
    }
    return acc;
}

/* One block of four input channels, 1 pixel x 2 channels (the result in a0, a1). */
#define TINYC_PW_BLOCK_1X2(xa, w, offset_pair, with_offset, wide, acc)                                               \
    do {                                                                                                          \
        const int32_t va_ = tinyc_read_s8x4(xa);                                                                  \
        const int32_t a02_ = tinyc_pw_even(va_, offset_pair, with_offset);                                        \
        const int32_t a13_ = tinyc_pw_odd(va_, offset_pair, with_offset);                                         \
        int32_t w02_, w13_;                                                                                       \
        tinyc_pw_weights(w, 0, wide, &w02_, &w13_);                                                               \
        (acc).a0 = tinyc_smlad(w02_, a02_, (acc).a0);                                                             \
        (acc).a0 = tinyc_smlad(w13_, a13_, (acc).a0);                                                             \
        tinyc_pw_weights(w, 1, wide, &w02_, &w13_);                                                               \
        (acc).a1 = tinyc_smlad(w02_, a02_, (acc).a1);                                                             \
        (acc).a1 = tinyc_smlad(w13_, a13_, (acc).a1);                                                             \
    } while (0)

/* 1 pixel x 2 channels (an odd row's last pixel), two blocks per iteration as tinyc_pw_dot2x2. */
TINYC_PW_INLINE tinyc_pw_acc tinyc_pw_dot1x2(const int8_t *xa, int32_t in_c, const int8_t *w, const int8_t *w_end,
                                             int32_t offset_pair, int with_offset, int wide, tinyc_pw_acc acc)
{
    const int32_t block = wide ? 16 : 8;
    const int8_t *w_pairs_end = w + (in_c >> 3) * 2 * block;
    while (w != w_pairs_end) {
        TINYC_PW_BLOCK_1X2(xa, w, offset_pair, with_offset, wide, acc);
        TINYC_PW_BLOCK_1X2(xa + 4, w + block, offset_pair, with_offset, wide, acc);
        xa += 8;
        w += 2 * block;
    }
    if (w != w_end) {
        TINYC_PW_BLOCK_1X2(xa, w, offset_pair, with_offset, wide, acc);
    }
    return acc;
}

/* The in-place kernels' input, expanded into their scratch once per pixel pair (SXTB16, the
 * input offset added there when it is not folded): per block of four input channels the
 * int16 pairs {a0, a2}, {a1, a3}, then (a pair) {b0, b2}, {b1, b3}. Every block of the pair
 * then loads its input as aligned words, no SXTB16. */
/* doubled (a constant: the proved loops, offset folded): each int16 lane twice the input
 * (SXTAB16 onto itself, in [-256, 254]), so the blocks' accumulators come out as 2 * acc, the
 * proved tail's shift done once per input instead of once per output. */
TINYC_PW_INLINE int32_t tinyc_pw_even_x(int32_t v, int32_t offset_pair, int with_offset, int doubled)
{
    return doubled ? tinyc_sxtab16(tinyc_sxtb16(v), v) : tinyc_pw_even(v, offset_pair, with_offset);
}

TINYC_PW_INLINE int32_t tinyc_pw_odd_x(int32_t v, int32_t offset_pair, int with_offset, int doubled)
{
    return doubled ? tinyc_sxtab16_ror8(tinyc_sxtb16_ror8(v), v) : tinyc_pw_odd(v, offset_pair, with_offset);
}

/* Whether an expanded-pair proved loop doubles a lone pixel (an odd row's last) too: the in_c
 * 16 and 64 loops do (their smallest code); the others halve the doubled bias for it and
 * keep the plain tail (with the doubled single pixel gcc spilled in the in_c >= 128 loops:
 * vww's 3x3 layers 2-4 % slower). */
#define TINYC_PW_DOUBLED_ALONE(proved, const_in_c) ((proved) != TINYC_PW_GUARDED && ((const_in_c) == 16 || (const_in_c) == 64))

TINYC_PW_INLINE void tinyc_pw_expand(const int8_t *xa, int32_t in_c, int32_t offset_pair, int with_offset, int pair,
                                     int doubled, int32_t *s)
{
    int32_t i;
    for (i = 0; i < in_c; i += 4) {
        const int32_t va = tinyc_read_s8x4(xa + i);
        s[0] = tinyc_pw_even_x(va, offset_pair, with_offset, doubled);
        s[1] = tinyc_pw_odd_x(va, offset_pair, with_offset, doubled);
        if (pair) {
            const int32_t vb = tinyc_read_s8x4(xa + in_c + i);
            s[2] = tinyc_pw_even_x(vb, offset_pair, with_offset, doubled);
            s[3] = tinyc_pw_odd_x(vb, offset_pair, with_offset, doubled);
            s += 4;
        } else {
            s += 2;
        }
    }
}

/* One block of four input channels from the expanded pair, 2 pixels x 2 channels: 2 input
 * and 2 weight LDRDs (wide), 8 SMLADs. */
#define TINYC_PW_BLOCK_X16_2X2(s, w, wide, acc)                                                                     \
    do {                                                                                                          \
        const int32_t a02_ = (s)[0], a13_ = (s)[1], b02_ = (s)[2], b13_ = (s)[3];                                 \
        int32_t w02_, w13_;                                                                                       \
        tinyc_pw_weights(w, 0, wide, &w02_, &w13_);                                                               \
        (acc).a0 = tinyc_smlad(w02_, a02_, (acc).a0);                                                             \
        (acc).b0 = tinyc_smlad(w02_, b02_, (acc).b0);                                                             \
        (acc).a0 = tinyc_smlad(w13_, a13_, (acc).a0);                                                             \
        (acc).b0 = tinyc_smlad(w13_, b13_, (acc).b0);                                                             \
        tinyc_pw_weights(w, 1, wide, &w02_, &w13_);                                                               \
        (acc).a1 = tinyc_smlad(w02_, a02_, (acc).a1);                                                             \
        (acc).b1 = tinyc_smlad(w02_, b02_, (acc).b1);                                                             \
        (acc).a1 = tinyc_smlad(w13_, a13_, (acc).a1);                                                             \
        (acc).b1 = tinyc_smlad(w13_, b13_, (acc).b1);                                                             \
    } while (0)

#define TINYC_PW_BLOCK_X16_1X2(s, w, wide, acc)                                                                     \
    do {                                                                                                          \
        const int32_t a02_ = (s)[0], a13_ = (s)[1];                                                               \
        int32_t w02_, w13_;                                                                                       \
        tinyc_pw_weights(w, 0, wide, &w02_, &w13_);                                                               \
        (acc).a0 = tinyc_smlad(w02_, a02_, (acc).a0);                                                             \
        (acc).a0 = tinyc_smlad(w13_, a13_, (acc).a0);                                                             \
        tinyc_pw_weights(w, 1, wide, &w02_, &w13_);                                                               \
        (acc).a1 = tinyc_smlad(w02_, a02_, (acc).a1);                                                             \
        (acc).a1 = tinyc_smlad(w13_, a13_, (acc).a1);                                                             \
    } while (0)

/* Four blocks in a row. */
#define TINYC_PW_QUAD_X16_2X2(s, w, block, wide, acc)                                                               \
    do {                                                                                                          \
        TINYC_PW_BLOCK_X16_2X2(s, w, wide, acc);                                                                  \
        TINYC_PW_BLOCK_X16_2X2((s) + 4, (w) + (block), wide, acc);                                                \
        TINYC_PW_BLOCK_X16_2X2((s) + 8, (w) + 2 * (block), wide, acc);                                            \
        TINYC_PW_BLOCK_X16_2X2((s) + 12, (w) + 3 * (block), wide, acc);                                           \
    } while (0)

/* The expanded pair (pair == 0: one pixel) times two channels, two blocks per iteration;
 * unrolled64 (a constant: the in_c 64 kernel's pairs): the 16 blocks in a row, no loop. */
TINYC_PW_INLINE tinyc_pw_acc tinyc_pw_dot_x16(const int32_t *s, int32_t in_c, const int8_t *w, const int8_t *w_end,
                                              int wide, int pair, int unrolled64, tinyc_pw_acc acc)
{
    const int32_t block = wide ? 16 : 8;
    const int8_t *w_quads_end = w + (in_c >> 4) * 4 * block;
    const int8_t *w_pairs_end = w + (in_c >> 3) * 2 * block;
    if (pair && unrolled64) { /* written out: gcc -O2 keeps a loop of 16 */
        TINYC_PW_QUAD_X16_2X2(s, w, block, wide, acc);
        TINYC_PW_QUAD_X16_2X2(s + 16, w + 4 * block, block, wide, acc);
        TINYC_PW_QUAD_X16_2X2(s + 32, w + 8 * block, block, wide, acc);
        TINYC_PW_QUAD_X16_2X2(s + 48, w + 12 * block, block, wide, acc);
        return acc;
    }
    /* A pair: four blocks per iteration (the loop's own instructions a smaller share). */
    while (pair && w != w_quads_end) {
        TINYC_PW_BLOCK_X16_2X2(s, w, wide, acc);
        TINYC_PW_BLOCK_X16_2X2(s + 4, w + block, wide, acc);
        TINYC_PW_BLOCK_X16_2X2(s + 8, w + 2 * block, wide, acc);
        TINYC_PW_BLOCK_X16_2X2(s + 12, w + 3 * block, wide, acc);
        s += 16;
        w += 4 * block;
    }
    while (w != w_pairs_end) {
        if (pair) {
            TINYC_PW_BLOCK_X16_2X2(s, w, wide, acc);
            TINYC_PW_BLOCK_X16_2X2(s + 4, w + block, wide, acc);
            s += 8;
        } else {
            TINYC_PW_BLOCK_X16_1X2(s, w, wide, acc);
            TINYC_PW_BLOCK_X16_1X2(s + 2, w + block, wide, acc);
            s += 4;
        }
        w += 2 * block;
    }
    if (w != w_end) {
        if (pair) {
            TINYC_PW_BLOCK_X16_2X2(s, w, wide, acc);
        } else {
            TINYC_PW_BLOCK_X16_1X2(s, w, wide, acc);
        }
    }
    return acc;
}

/* The two requantized outputs of one channel of a block (pixels a, b; pair == 0: a alone):
 * the channel's constants are unpacked once and serve both pixels. */
TINYC_PW_INLINE void tinyc_pw_store(int32_t acc_a, int32_t acc_b, tinyc_tail_channel q, const tinyc_pw_call *k,
                                    int8_t *ya, int8_t *yb, int pair, int full_range)
{
    *ya = tinyc_tail_s8(acc_a, q, k->output_offset, k->act_min, k->act_max, full_range);
    if (pair) {
        *yb = tinyc_tail_s8(acc_b, q, k->output_offset, k->act_min, k->act_max, full_range);
    }
}

/* The same two outputs through the proved tail (requant_tail.h tinyc_tail_proved): the
 * output offset is in k, and no guard. */
TINYC_PW_INLINE void tinyc_pw_store_proved(int32_t acc_a, int32_t acc_b, const int32_t *f, const tinyc_pw_call *k,
                                           int8_t *ya, int8_t *yb, int pair, int full_range)
{
    const int32_t m = f[1], kk = f[2], right_shift = f[3];
    *ya = tinyc_tail_clamp_s8(tinyc_tail_proved(acc_a, m, kk, right_shift, k->double_shift), k->act_min, k->act_max,
                              full_range);
    if (pair) {
        *yb = tinyc_tail_clamp_s8(tinyc_tail_proved(acc_b, m, kk, right_shift, k->double_shift), k->act_min,
                                  k->act_max, full_range);
    }
}

/* The same for accumulators already doubled (the expanded pair's proved loops: doubled
 * inputs, the bias doubled by the compiler, pointwise.requant_args doubled_bias): the proved
 * tail's double shift is always 1 (right shift >= 1 means shift < 0), so no shift here. */
TINYC_PW_INLINE void tinyc_pw_store_doubled(int32_t acc_a, int32_t acc_b, const int32_t *f, const tinyc_pw_call *k,
                                            int8_t *ya, int8_t *yb, int pair, int full_range)
{
    const int32_t m = f[1], kk = f[2], right_shift = f[3];
    int32_t v = tinyc_smmulr(acc_a, m);
    *ya = tinyc_tail_clamp_s8((v + kk + (v >> 31)) >> right_shift, k->act_min, k->act_max, full_range);
    if (pair) {
        v = tinyc_smmulr(acc_b, m);
        *yb = tinyc_tail_clamp_s8((v + kk + (v >> 31)) >> right_shift, k->act_min, k->act_max, full_range);
    }
}

/* The same two outputs through the single-rounding tail (requant_tail.h tinyc_tail_single):
 * one SMMLAR adds the output offset (f[2]), no guard (kernels/single_tail.py proved it).
 * doubled (a constant): the accumulators are already acc << double_shift (the expanded pair's
 * doubled inputs and bias; the records take these loops only where double_shift is 1). */
TINYC_PW_INLINE void tinyc_pw_store_single(int32_t acc_a, int32_t acc_b, const int32_t *f, const tinyc_pw_call *k,
                                           int8_t *ya, int8_t *yb, int pair, int full_range, int doubled)
{
    const int32_t m = f[1], offset = f[2];
    const int32_t va = doubled ? tinyc_smmlar(acc_a, m, offset) : tinyc_tail_single(acc_a, m, offset, k->double_shift);
    *ya = tinyc_tail_clamp_s8(va, k->act_min, k->act_max, full_range);
    if (pair) {
        const int32_t vb =
            doubled ? tinyc_smmlar(acc_b, m, offset) : tinyc_tail_single(acc_b, m, offset, k->double_shift);
        *yb = tinyc_tail_clamp_s8(vb, k->act_min, k->act_max, full_range);
    }
}

/* Every output channel of pixels xa and xa + in_c (pair == 0: xa alone), two channels per
 * block; the two pixels' outputs share their channels' requantize constants. pair,
 * with_offset and full_range are constants at every call (the choice is made at compile
 * time). The call's fields are copied into a local first: an int8 store may alias *call, so
 * fields read through the pointer would be reloaded (and the pointer kept live) per block. */
TINYC_PW_INLINE void tinyc_pw_pixels(const tinyc_pw_call *call, const int8_t *xa, int8_t *ya, int pair,
                                     int with_offset, int full_range, int wide, int proved, int32_t const_in_c,
                                     int x16, const int32_t *expanded)
{
    const tinyc_pw_call k = *call;
    /* const_in_c: the input channel count as a constant (the small-in_c kernels: their dot
     * products unroll), or 0: the call's. */
    const int32_t in_c = const_in_c != 0 ? const_in_c : k.in_c;
    const int8_t *w = k.weights;
    int8_t *yb = ya + k.out_c;
    int32_t oc;
    for (oc = 0; oc < k.out_c; oc += 2) {
        const int8_t *w_end = w + (wide ? 4 : 2) * in_c;
        tinyc_pw_acc acc;
        if (proved != TINYC_PW_GUARDED && x16 && !pair && !TINYC_PW_DOUBLED_ALONE(proved, const_in_c)) {
            /* the doubled bias halved (it is even) */
            acc.a0 = acc.b0 = k.proved[4 * oc] >> 1;
            acc.a1 = acc.b1 = k.proved[4 * oc + 4] >> 1;
        } else if (proved) {
            acc.a0 = acc.b0 = k.proved[4 * oc];
            acc.a1 = acc.b1 = k.proved[4 * oc + 4];
        } else {
            acc.a0 = acc.b0 = k.bias != 0 ? k.bias[oc] : 0;
            acc.a1 = acc.b1 = k.bias != 0 ? k.bias[oc + 1] : 0;
        }
        if (x16) {
            acc = tinyc_pw_dot_x16(expanded, in_c, w, w_end, wide, pair, const_in_c == 64, acc);
        } else if (pair) {
            acc = tinyc_pw_dot2x2(xa, in_c, w, w_end, k.offset_pair, with_offset, wide, acc);
        } else {
            acc = tinyc_pw_dot1x2(xa, in_c, w, w_end, k.offset_pair, with_offset, wide, acc);
        }
        w = w_end;
        if (proved == TINYC_PW_SINGLE) {
            const int doubled = x16 && (pair || TINYC_PW_DOUBLED_ALONE(proved, const_in_c));
            tinyc_pw_store_single(acc.a0, acc.b0, k.proved + 4 * oc, &k, ya + oc, yb + oc, pair, full_range, doubled);
            tinyc_pw_store_single(acc.a1, acc.b1, k.proved + 4 * oc + 4, &k, ya + oc + 1, yb + oc + 1, pair,
                                  full_range, doubled);
        } else if (proved && x16 && (pair || TINYC_PW_DOUBLED_ALONE(proved, const_in_c))) {
            tinyc_pw_store_doubled(acc.a0, acc.b0, k.proved + 4 * oc, &k, ya + oc, yb + oc, pair, full_range);
            tinyc_pw_store_doubled(acc.a1, acc.b1, k.proved + 4 * oc + 4, &k, ya + oc + 1, yb + oc + 1, pair,
                                   full_range);
        } else if (proved) {
            tinyc_pw_store_proved(acc.a0, acc.b0, k.proved + 4 * oc, &k, ya + oc, yb + oc, pair, full_range);
            tinyc_pw_store_proved(acc.a1, acc.b1, k.proved + 4 * oc + 4, &k, ya + oc + 1, yb + oc + 1, pair,
                                  full_range);
        } else {
            tinyc_pw_store(acc.a0, acc.b0, tinyc_tail_channel_packed(k.multiplier, k.requant, oc), &k, ya + oc,
                           yb + oc, pair, full_range);
            tinyc_pw_store(acc.a1, acc.b1, tinyc_tail_channel_packed(k.multiplier, k.requant, oc + 1), &k,
                           ya + oc + 1, yb + oc + 1, pair, full_range);
        }
    }
}

/* Every pixel of the call: per row, the pixels in pairs (an odd row's last pixel alone), each
 * pair first copied into scratch when there is one (the in-place variants). */
TINYC_PW_INLINE void tinyc_pw_image(const tinyc_pw_call *call, const int8_t *input, int8_t *output, int8_t *scratch,
                                    int with_offset, int full_range, int wide, int proved, int32_t const_in_c,
                                    int x16)
{
    const int32_t in_c = const_in_c != 0 ? const_in_c : call->in_c;
    const int32_t out_c = call->out_c;
    const int32_t width = call->width;
    const int32_t rows = call->rows;
    const int32_t offset_pair = call->offset_pair;
    /* The scratch rounded up to a word: tinyc_pw_scratch_bytes leaves room for it. */
    int32_t *expanded = x16 ? (int32_t *)(void *)(scratch + ((4u - ((uintptr_t)scratch & 3u)) & 3u)) : 0;
    int32_t row, x;
    for (row = 0; row < rows; ++row) {
        const int8_t *xa = input + row * width * in_c;
        int8_t *ya = output + row * width * out_c;
        for (x = 0; x + 1 < width; x += 2) {
            if (x16) {
                /* with_offset: the expansion adds the offset, the blocks then need none */
                tinyc_pw_expand(xa, in_c, offset_pair, with_offset, 1, proved != TINYC_PW_GUARDED, expanded);
            }
            tinyc_pw_pixels(call, xa, ya, 1, with_offset, full_range, wide, proved, const_in_c, x16, expanded);
            xa += 2 * in_c;
            ya += 2 * out_c;
        }
        if (x < width) {
            if (x16) {
                tinyc_pw_expand(xa, in_c, offset_pair, with_offset, 0, TINYC_PW_DOUBLED_ALONE(proved, const_in_c),
                                expanded);
            }
            tinyc_pw_pixels(call, xa, ya, 0, with_offset, full_range, wide, proved, const_in_c, x16, expanded);
        }
    }
}

/* tinyc_pointwise_conv_in8_w16_s8's proved loop: one pixel's 8 inputs widened into four
 * registers {x0, x2}, {x1, x3}, {x4, x6}, {x5, x7} serve all its output channels, so per
 * output only its weights (2 LDRD), 4 SMLADs, its constants (2 LDRD) and the proved tail. In
 * the interleaved int16 layout a channel pair's block of 8 words holds channel c's words 0, 1,
 * 4, 5 and channel c + 1's 2, 3, 6, 7. */
/* Two consecutive words p[index], p[index + 1] in one LDRD (gcc does not pair the word reads
 * of tinyc_pw_in8_output by itself); the portable twin reads them as they are. The memory
 * clobber orders it after every earlier store (an output byte may alias nothing it reads, but
 * the compiler cannot know). */

#if TINYC_HAVE_DSP && defined(__GNUC__)
#define TINYC_PW_READ_PAIR(p, index, lo, hi)                                                                        \
    __asm__("ldrd %0, %1, [%2, #%c3]" : "=r"(lo), "=r"(hi) : "r"(p), "i"(4 * (index)) : "memory")
/* p[0], p[1], then p += step (post-indexed LDRD: the pointer's increment costs nothing). */
#define TINYC_PW_READ_PAIR_POST(p, step, lo, hi)                                                                    \
    __asm__("ldrd %0, %1, [%2], #%c3" : "=r"(lo), "=r"(hi), "+r"(p) : "i"(4 * (step)) : "memory")
/* *y++ = v as one post-indexed STRB (gcc keeps a separate add for y otherwise). */
#define TINYC_PW_STORE_POST(y, v) __asm__ volatile("strb %1, [%0], #1" : "+r"(y) : "r"(v) : "memory")
#else
#define TINYC_PW_STORE_POST(y, v) (*(y)++ = (int8_t)(v))
#define TINYC_PW_READ_PAIR_POST(p, step, lo, hi)                                                                    \
    do {                                                                                                          \
        (lo) = (p)[0];                                                                                            \
        (hi) = (p)[1];                                                                                            \
        (p) += (step);                                                                                            \
    } while (0)
#define TINYC_PW_READ_PAIR(p, index, lo, hi)                                                                        \
    do {                                                                                                          \
        (lo) = (p)[index];                                                                                        \
        (hi) = (p)[(index) + 1];                                                                                  \
    } while (0)
#endif

/* One output of tinyc_pw_in8_pixel, channel j (0, 1) of the pair at *pw, *pf: its words
 * w[2j], w[2j + 1], w[2j + 4], w[2j + 5], its constants f[4j .. 4j + 3] (bias, multiplier, k,
 * right_shift). Channel 0's first two loads step both pointers to the next pair (post-indexed
 * LDRD), so channel 0's later loads and channel 1's index back from there: the loop keeps no
 * pointer increments of its own. The tail is tinyc_tail_proved with SMMLAR adding
 * k + (acc >> 31) (dw_inplace4.h tinyc_dwi4_fast_tail: the same proof covers it). */
TINYC_PW_INLINE int8_t tinyc_pw_in8_output(const int32_t **pw, const int32_t **pf, int j, int32_t x02, int32_t x13,
                                           int32_t x46, int32_t x57, const tinyc_pw_call *k, int full_range,
                                           int single)
{
    const int32_t *w = *pw, *f = *pf;
    int32_t bias, m, w0, w1, w4, w5, kk, right_shift;
    if (j == 0) {
        TINYC_PW_READ_PAIR_POST(f, 8, bias, m);
        TINYC_PW_READ_PAIR_POST(w, 8, w0, w1);
        *pw = w;
        *pf = f;
    } else {
        TINYC_PW_READ_PAIR(f, 4 - 8, bias, m);
        TINYC_PW_READ_PAIR(w, 2 - 8, w0, w1);
    }
    TINYC_PW_READ_PAIR(w, 2 * j + 4 - 8, w4, w5);
    TINYC_PW_READ_PAIR(f, 4 * j + 2 - 8, kk, right_shift);
    int32_t acc = tinyc_smlad(w0, x02, bias);
    acc = tinyc_smlad(w1, x13, acc);
    acc = tinyc_smlad(w4, x46, acc);
    acc = tinyc_smlad(w5, x57, acc);
    if (single) { /* kk is the output offset, right_shift 0 (tinyc_tail_single) */
        (void)right_shift;
        acc = tinyc_smmlar(acc, m, kk); /* acc doubled as below (double_shift 1: the record's rule) */
    } else {
        /* acc is already doubled (the proved tail's double shift is 1: right shift >= 1 means
         * shift < 0): the inputs are doubled per pixel and the bias in the table by the
         * compiler (pointwise.requant_args doubled_bias), so no shift per output. */
        acc = tinyc_smmlar(acc, m, kk + (acc >> 31)) >> right_shift;
    }
    return tinyc_tail_clamp_s8(acc, k->act_min, k->act_max, full_range);
}

/* All output channels of one pixel from its 8 input bytes lo, hi (read by the caller, so
 * both pixels of a pair are read before either's outputs are written). Out of line: the
 * loop gets the registers, and the pair and an odd row's last pixel share it. The call's
 * fields are read before the first store (an int8 store may alias *k). */
TINYC_PW_INLINE void tinyc_pw_in8_pixel(const tinyc_pw_call *k, int32_t lo, int32_t hi, int8_t *y, int full_range,
                                        int single)
{
    const tinyc_pw_call kk = *k;
    const int32_t *w = (const int32_t *)(const void *)kk.weights;
    const int32_t *f = kk.proved;
    const int32_t *const f_end = f + 4 * kk.out_c;
    int32_t x02 = tinyc_sxtb16(lo), x13 = tinyc_sxtb16_ror8(lo);
    int32_t x46 = tinyc_sxtb16(hi), x57 = tinyc_sxtb16_ror8(hi);
    (void)single;
    { /* doubled (each int16 lane 2x, in [-256, 254]): the accumulators come out as 2 * acc */
        x02 = tinyc_sxtab16(x02, lo);
        x13 = tinyc_sxtab16_ror8(x13, lo);
        x46 = tinyc_sxtab16(x46, hi);
        x57 = tinyc_sxtab16_ror8(x57, hi);
    }
    while (f != f_end) {
        const int8_t y0 = tinyc_pw_in8_output(&w, &f, 0, x02, x13, x46, x57, &kk, full_range, single);
        TINYC_PW_STORE_POST(y, y0);
        const int8_t y1 = tinyc_pw_in8_output(&w, &f, 1, x02, x13, x46, x57, &kk, full_range, single);
        TINYC_PW_STORE_POST(y, y1);
    }
}

#if defined(__GNUC__)
#define TINYC_PW_IN8_NOINLINE static __attribute__((noinline, unused))
#else
#define TINYC_PW_IN8_NOINLINE static
#endif

TINYC_PW_IN8_NOINLINE void tinyc_pw_in8_pixel_full(const tinyc_pw_call *k, int32_t lo, int32_t hi, int8_t *y)
{
    tinyc_pw_in8_pixel(k, lo, hi, y, 1, 0);
}

TINYC_PW_IN8_NOINLINE void tinyc_pw_in8_pixel_single_full(const tinyc_pw_call *k, int32_t lo, int32_t hi, int8_t *y)
{
    tinyc_pw_in8_pixel(k, lo, hi, y, 1, 1);
}

/* Every pixel of tinyc_pointwise_conv_in8_w16(_single)_s8's call (proved tail, folded offset):
 * per row, the pixels in pairs as kernels/access.py pointwise_pairs models, both pixels' input
 * read before any output of the pair is written (no later than the model reads it), then
 * pixel a's outputs, then pixel b's (no earlier than the model writes them). `pixel`: the
 * tail's pixel function. One function per tail, each compiled on its own (an inline shared by
 * both moved the proved loop's register allocation, and tf2onnx models' counts with it). */
#define TINYC_PW_IN8_PIXELS(name, pixel)                                                                  \
    TINYC_PW_NOINLINE void name(const tinyc_pw_call *call, const int8_t *input, int8_t *output,            \
                                int8_t *scratch)                                                           \
    {                                                                                                      \
        const tinyc_pw_call k = *call;                                                                     \
        int32_t row, x;                                                                                    \
        (void)scratch;                                                                                     \
        for (row = 0; row < k.rows; ++row) {                                                               \
            const int8_t *xa = input + row * k.width * 8;                                                  \
            int8_t *ya = output + row * k.width * k.out_c;                                                 \
            for (x = 0; x + 1 < k.width; x += 2) {                                                         \
                const int32_t a_lo = tinyc_read_s8x4(xa), a_hi = tinyc_read_s8x4(xa + 4);                  \
                const int32_t b_lo = tinyc_read_s8x4(xa + 8), b_hi = tinyc_read_s8x4(xa + 12);             \
                pixel(&k, a_lo, a_hi, ya);                                                                 \
                pixel(&k, b_lo, b_hi, ya + k.out_c);                                                       \
                xa += 16;                                                                                  \
                ya += 2 * k.out_c;                                                                         \
            }                                                                                              \
            if (x < k.width) {                                                                             \
                pixel(&k, tinyc_read_s8x4(xa), tinyc_read_s8x4(xa + 4), ya);                               \
            }                                                                                              \
        }                                                                                                  \
    }

TINYC_PW_IN8_PIXELS(tinyc_pw_pixels_proved_full_w16_in8, tinyc_pw_in8_pixel_full)
TINYC_PW_IN8_PIXELS(tinyc_pw_pixels_single_full_w16_in8, tinyc_pw_in8_pixel_single_full)

/* Out of line, so the loops over channels and blocks get the registers: the folded offset
 * with the full int8 range (SSAT clamps; a fused clamp is a pass after them, tinyc_pw_run),
 * and the general case (an input offset the registry could not fold, any range); each with pair a
 * constant (two loop nests: an odd row's last pixel takes the single-pixel one), for the
 * int8 weights (_w8) and the int16 ones (_w16), so each public kernel links only its own. The
 * general case (_offset) is the main path of onnxruntime-born layers (single-rounding requantize,
 * no proved tail), so it stays at -O2. */
#define TINYC_PW_DISPATCH(name, with_offset, full_range, wide, proved, const_in_c)                                \
    TINYC_PW_NOINLINE void name(const tinyc_pw_call *call, const int8_t *input, int8_t *output, int8_t *scratch)  \
    {                                                                                                             \
        (void)scratch;                                                                                            \
        tinyc_pw_image(call, input, output, 0, with_offset, full_range, wide, proved, const_in_c, 0);             \
    }

/* The in-place kernels' loops: each pixel pair expanded into the scratch first. */
#define TINYC_PW_DISPATCH_X16(name, with_offset, full_range, wide, proved, const_in_c)                            \
    TINYC_PW_NOINLINE void name(const tinyc_pw_call *call, const int8_t *input, int8_t *output, int8_t *scratch)  \
    {                                                                                                             \
        tinyc_pw_image(call, input, output, scratch, with_offset, full_range, wide, proved, const_in_c, 1);       \
    }

TINYC_PW_DISPATCH(tinyc_pw_pixels_proved_full_w8, 0, 1, 0, 1, 0)
TINYC_PW_DISPATCH(tinyc_pw_pixels_offset_w8, 1, 0, 0, 0, 0)
TINYC_PW_DISPATCH(tinyc_pw_pixels_proved_full_w16, 0, 1, 1, 1, 0)
TINYC_PW_DISPATCH(tinyc_pw_pixels_offset_w16, 1, 0, 1, 0, 0)
/* The in_c 16 kernel (tinyc_pointwise_conv_in16_w16_s8): in_c a constant. */
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_proved_full_w16_in16, 0, 1, 1, 1, 16)
/* The in-place int16-weight kernel for in_c == 64 (kws's 64 -> 64 layers): each output channel
 * pair's 16 blocks unrolled, no loop or spill between them. */
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_proved_full_w16_in64, 0, 1, 1, 1, 64)

TINYC_PW_DISPATCH_X16(tinyc_pw_x16_proved_full_w8, 0, 1, 0, 1, 0)
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_offset_w8, 1, 0, 0, 0, 0)
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_proved_full_w16, 0, 1, 1, 1, 0)
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_offset_w16, 1, 0, 1, 0, 0)

/* The single-rounding twins of the proved loops (the _single_s8 kernels: layers whose every
 * channel has right shift 0, the tail proved by kernels/single_tail.py, the offset folded). */
TINYC_PW_DISPATCH(tinyc_pw_pixels_single_full_w8, 0, 1, 0, TINYC_PW_SINGLE, 0)
TINYC_PW_DISPATCH(tinyc_pw_pixels_single_full_w16, 0, 1, 1, TINYC_PW_SINGLE, 0)
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_single_full_w16_in16, 0, 1, 1, TINYC_PW_SINGLE, 16)
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_single_full_w16_in64, 0, 1, 1, TINYC_PW_SINGLE, 64)
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_single_full_w8, 0, 1, 0, TINYC_PW_SINGLE, 0)
TINYC_PW_DISPATCH_X16(tinyc_pw_x16_single_full_w16, 0, 1, 1, TINYC_PW_SINGLE, 0)

/* Every output byte clamped to [act_min, act_max] (the fused clamp of a proved layer, after
 * its full-range loops). */
static void tinyc_pw_clamp_bytes(int8_t *y, int32_t n, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t v = y[i];
        y[i] = (int8_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
    }
}

typedef void (*tinyc_pw_pixels_fn)(const tinyc_pw_call *call, const int8_t *input, int8_t *output, int8_t *scratch);
#endif /* TINYC_USE_SIMD */

/* Inlined into each public kernel with wide a constant, so it links only its own loop nests. */
#if defined(__GNUC__)
#define TINYC_PW_RUN_INLINE static inline __attribute__((always_inline))
#else
#define TINYC_PW_RUN_INLINE static inline
#endif

/* The public kernels: scratch == 0 reads the input where it is; otherwise each pixel pair is
 * first copied into scratch (2 * in_c bytes) and computed from the copy, so the pair's
 * outputs may overwrite its input (the in-place variant). */
TINYC_PW_RUN_INLINE void tinyc_pw_run(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                      const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                      int8_t *output, int8_t *scratch, int wide, int32_t const_in_c, int in_place,
                                      int scratch_kernel, int tail)
{
    const int32_t in_c = params->in_c;
    const int32_t out_c = params->out_c;
    const int32_t width = params->in_w;
    const int32_t rows = params->batch * params->in_h;
#if TINYC_USE_SIMD
    int full_range;
    tinyc_pw_call call;
    tinyc_pw_pixels_fn pixels;
    call.weights = weights;
    call.bias = bias;
    call.multiplier = multiplier;
    call.requant = requant;
    call.proved = requant + 2 * out_c + 1;
    call.in_c = in_c;
    call.out_c = out_c;
    /* The in-place kernels pair the pixels of the whole image (a row's last pixel with the next
     * row's first: kernels/access.py pointwise_inplace_pairs), the others row by row. */
    call.width = in_place ? rows * width : width;
    call.rows = in_place ? 1 : rows;
    call.offset_pair = tinyc_pack_s16x2(params->input_offset, params->input_offset);
    call.double_shift = requant[2 * out_c];
    call.output_offset = params->output_offset;
    call.act_min = params->act_min;
    call.act_max = params->act_max;
    /* act_min == -128 && act_max == 127 as one test (fewer bytes in every public kernel) */
    full_range = (((uint32_t)call.act_min + 128u) | ((uint32_t)call.act_max - 127u)) == 0u;
    /* tail, a constant of each public kernel, says which loops it links: the general ones
     * (TINYC_PW_GUARDED: SXTAB16 adds the input offset, the guarded tail, any activation
     * range), or those of the tail its record proved for the layer with the input offset
     * folded (the _proved_s8 kernels: kernels/pointwise.py proved_tail_holds; the _single_s8
     * ones: kernels/single_tail.py). wide and const_in_c are constants too. The kernels with
     * a scratch (in place, and the x16 ones) expand each pair into it. */
    /* A proved layer with a fused clamp runs the full-range loops (SSAT) and then clamps its
     * output bytes: act_min and act_max are int8, so clamping the saturated byte gives the
     * byte the clamped tail would, and the firmware holds one loop nest per kernel, not two.
     * (The pass runs once per output byte, only in such layers.) */
    if (tail == TINYC_PW_GUARDED) {
        if (in_place || scratch_kernel) {
            pixels = wide ? tinyc_pw_x16_offset_w16 : tinyc_pw_x16_offset_w8;
        } else {
            pixels = wide ? tinyc_pw_pixels_offset_w16 : tinyc_pw_pixels_offset_w8;
        }
    } else if (tail == TINYC_PW_SINGLE && (in_place || scratch_kernel)) {
        if (const_in_c == 16) {
            pixels = tinyc_pw_x16_single_full_w16_in16;
        } else if (const_in_c == 64) {
            pixels = tinyc_pw_x16_single_full_w16_in64;
        } else {
            pixels = wide ? tinyc_pw_x16_single_full_w16 : tinyc_pw_x16_single_full_w8;
        }
    } else if (tail == TINYC_PW_SINGLE) {
        if (const_in_c == 8) {
            pixels = tinyc_pw_pixels_single_full_w16_in8;
        } else {
            pixels = wide ? tinyc_pw_pixels_single_full_w16 : tinyc_pw_pixels_single_full_w8;
        }
    } else if (in_place || scratch_kernel) {
        if (const_in_c == 16) {
            pixels = tinyc_pw_x16_proved_full_w16_in16;
        } else if (const_in_c == 64) {
            pixels = tinyc_pw_x16_proved_full_w16_in64;
        } else {
            pixels = wide ? tinyc_pw_x16_proved_full_w16 : tinyc_pw_x16_proved_full_w8;
        }
    } else if (const_in_c == 8) {
        pixels = tinyc_pw_pixels_proved_full_w16_in8;
    } else {
        pixels = wide ? tinyc_pw_pixels_proved_full_w16 : tinyc_pw_pixels_proved_full_w8;
    }
    pixels(&call, input, output, scratch);
    if (tail != TINYC_PW_GUARDED && !full_range) {
        tinyc_pw_clamp_bytes(output, rows * width * out_c, call.act_min, call.act_max);
    }
#else
    const int32_t input_offset = params->input_offset;
    (void)const_in_c; /* params->in_c is the same number */
    (void)scratch_kernel; /* the portable path reads the input where it is unless in place */
    (void)tail; /* the reference tail: exact for every layer (the single-rounding one where every shift is >= 0) */
    /* in place: the pixels of the whole image paired as one row (see the SIMD path) */
    const int32_t pair_width = in_place ? rows * width : width;
    const int32_t pair_rows = in_place ? 1 : rows;
    const int32_t in_row_pitch = pair_width * params->in_c;
    const int32_t out_row_pitch = pair_width * params->out_c;
    int32_t row, x;
    const int32_t output_offset = params->output_offset;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    int32_t oc, ic, p, j;
    for (row = 0; row < pair_rows; ++row) {
        const int8_t *in_row = input + row * in_row_pitch;
        int8_t *out_row = output + row * out_row_pitch;
        for (x = 0; x < pair_width; x += 2) {
            const int32_t count = x + 1 < pair_width ? 2 : 1;
            const int8_t *pixels = in_row + x * in_c;
            if (in_place) { /* tinyc_pointwise_conv_x16_w16_s8 reads the input where it is, as modelled */
                for (ic = 0; ic < count * in_c; ++ic) {
                    scratch[ic] = pixels[ic];
                }
                pixels = scratch;
            }
            for (oc = 0; oc < out_c; oc += 2) {
                /* The block's four values first, then its writes (the modelled order). */
                int32_t acc[2][2];
                for (p = 0; p < count; ++p) {
                    const int8_t *px = pixels + p * in_c;
                    for (j = 0; j < 2; ++j) {
                        int32_t sum = bias != 0 ? bias[oc + j] : 0;
                        for (ic = 0; ic < in_c; ++ic) {
                            sum += ((int32_t)px[ic] + input_offset) *
                                   tinyc_pw_weight(weights, wide, oc + j, ic, in_c);
                        }
                        acc[p][j] = sum;
                    }
                }
                for (p = 0; p < count; ++p) {
                    for (j = 0; j < 2; ++j) {
                        out_row[(x + p) * out_c + oc + j] = tinyc_requantize_s8(
                            acc[p][j], multiplier[oc + j], tinyc_tail_packed_shift(requant, oc + j), output_offset, act_min,
                            act_max);
                    }
                }
            }
        }
    }
#endif
}

/* The expanded pair (2 bytes an input value, SIMD path; the portable one copies the pair's
 * bytes into the same buffer) and 3 bytes to round its start up to a word. */
static int32_t tinyc_pw_scratch_bytes(const tinyc_conv_params *params)
{
    return 2 * (params->in_w > 1 ? 2 : 1) * params->in_c + 3;
}

/* The in-place kernels' (their pairs run over the whole image). */
static int32_t tinyc_pw_inplace_scratch_bytes(const tinyc_conv_params *params)
{
    return 2 * (params->batch * params->in_h * params->in_w > 1 ? 2 : 1) * params->in_c + 3;
}

/* The public kernels, each a call of tinyc_pw_run with its constants (so each links only its
 * own loop nests): weight type (int8, or int16 pairs: _w16), the input channel count where
 * the loop unrolls it (in8, in16, in64; 0: any), and the tail.
 *   tinyc_pointwise_conv_<v>_s8: the general loops (any input offset and activation range,
 *     the guarded tail); what a layer runs where no tail below is proved.
 *   _proved_s8: the proved TFLite-form tail (pointwise.proved_tail_table), the input offset
 *     folded into the bias; their records apply only there (pointwise.proved_tail_holds).
 *   _single_s8: the single-rounding tail (requant_tail.h tinyc_tail_single, one SMMLAR with the
 *     output offset) for layers whose every channel has right shift 0 (ONNX semantics);
 *     their records apply only where kernels/single_tail.py proved it and the offset is
 *     folded; `requant` holds (bias, multiplier, offset, 0) per channel where the proved ones
 *     hold (bias, multiplier, k, right_shift).
 * The three run the same loops in the same order, with the same scratch. The kernels with a
 * scratch (in place: the pixels of the whole image paired; x16 and in16: each pair expanded
 * to int16) take it after the output, sized by their _get_buffer_size twin. */
#define TINYC_PW_KERNEL(name, weight_type, wide, const_in_c, tail)                                                \
    void name(const tinyc_conv_params *params, const int8_t *input, const weight_type *weights,                   \
              const int32_t *bias, const int32_t *multiplier, const int32_t *requant, int8_t *output)            \
    {                                                                                                            \
        tinyc_pw_run(params, input, (const int8_t *)weights, bias, multiplier, requant, output, 0, wide,          \
                     const_in_c, 0, 0, tail);                                                                    \
    }

#define TINYC_PW_SCRATCH_KERNEL(name, weight_type, wide, const_in_c, in_place, tail, scratch_bytes)               \
    int32_t name##_get_buffer_size(const tinyc_conv_params *params)                                              \
    {                                                                                                            \
        return scratch_bytes(params);                                                                            \
    }                                                                                                            \
    void name(const tinyc_conv_params *params, const int8_t *input, const weight_type *weights,                   \
              const int32_t *bias, const int32_t *multiplier, const int32_t *requant, int8_t *output,            \
              int8_t *scratch)                                                                                   \
    {                                                                                                            \
        tinyc_pw_run(params, input, (const int8_t *)weights, bias, multiplier, requant, output, scratch, wide,    \
                     const_in_c, in_place, 1, tail);                                                             \
    }

TINYC_PW_KERNEL(tinyc_pointwise_conv_s8, int8_t, 0, 0, TINYC_PW_GUARDED)
TINYC_PW_KERNEL(tinyc_pointwise_conv_w16_s8, int32_t, 1, 0, TINYC_PW_GUARDED)
TINYC_PW_KERNEL(tinyc_pointwise_conv_in8_w16_s8, int32_t, 1, 8, TINYC_PW_GUARDED)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_x16_w16_s8, int32_t, 1, 0, 0, TINYC_PW_GUARDED, tinyc_pw_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_in16_w16_s8, int32_t, 1, 16, 0, TINYC_PW_GUARDED, tinyc_pw_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_s8, int8_t, 0, 0, 1, TINYC_PW_GUARDED,
                        tinyc_pw_inplace_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_w16_s8, int32_t, 1, 0, 1, TINYC_PW_GUARDED,
                        tinyc_pw_inplace_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_in64_w16_s8, int32_t, 1, 64, 1, TINYC_PW_GUARDED,
                        tinyc_pw_inplace_scratch_bytes)

TINYC_PW_KERNEL(tinyc_pointwise_conv_proved_s8, int8_t, 0, 0, TINYC_PW_PROVED)
TINYC_PW_KERNEL(tinyc_pointwise_conv_w16_proved_s8, int32_t, 1, 0, TINYC_PW_PROVED)
TINYC_PW_KERNEL(tinyc_pointwise_conv_in8_w16_proved_s8, int32_t, 1, 8, TINYC_PW_PROVED)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_x16_w16_proved_s8, int32_t, 1, 0, 0, TINYC_PW_PROVED,
                        tinyc_pw_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_in16_w16_proved_s8, int32_t, 1, 16, 0, TINYC_PW_PROVED,
                        tinyc_pw_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_proved_s8, int8_t, 0, 0, 1, TINYC_PW_PROVED,
                        tinyc_pw_inplace_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_w16_proved_s8, int32_t, 1, 0, 1, TINYC_PW_PROVED,
                        tinyc_pw_inplace_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_in64_w16_proved_s8, int32_t, 1, 64, 1, TINYC_PW_PROVED,
                        tinyc_pw_inplace_scratch_bytes)

TINYC_PW_KERNEL(tinyc_pointwise_conv_single_s8, int8_t, 0, 0, TINYC_PW_SINGLE)
TINYC_PW_KERNEL(tinyc_pointwise_conv_w16_single_s8, int32_t, 1, 0, TINYC_PW_SINGLE)
TINYC_PW_KERNEL(tinyc_pointwise_conv_in8_w16_single_s8, int32_t, 1, 8, TINYC_PW_SINGLE)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_x16_w16_single_s8, int32_t, 1, 0, 0, TINYC_PW_SINGLE,
                        tinyc_pw_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_in16_w16_single_s8, int32_t, 1, 16, 0, TINYC_PW_SINGLE,
                        tinyc_pw_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_single_s8, int8_t, 0, 0, 1, TINYC_PW_SINGLE,
                        tinyc_pw_inplace_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_w16_single_s8, int32_t, 1, 0, 1, TINYC_PW_SINGLE,
                        tinyc_pw_inplace_scratch_bytes)
TINYC_PW_SCRATCH_KERNEL(tinyc_pointwise_conv_inplace_pairs_in64_w16_single_s8, int32_t, 1, 64, 1, TINYC_PW_SINGLE,
                        tinyc_pw_inplace_scratch_bytes)
