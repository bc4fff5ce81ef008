/*
 * Dot products of one int8 input run with several int8 filter rows at once, the inner loop
 * of the accumulating kernels (conv, pointwise conv, fully connected). Not part of the
 * public API.
 *
 * acc[j] += sum_k (x[k] + input_offset) * (w_j[k] + filter_offset), k < n, where filter j's
 * run starts at w + j * w_stride. The input run is read once for all filters.
 *
 * Under TINYC_USE_SIMD four values at a time: one word of input gives, through SXTAB16 (with
 * the offset added for free, each 16-bit lane holding x + offset in [-255, 255]), the int16
 * pairs {x0, x2} and {x1, x3}; each filter's word gives {w0, w2} and {w1, w3} through
 * SXTB16, and two SMLADs add the four products. The pairing needs no reordering of the weights: even lanes meet even
 * lanes. The leftover n % 4 values, and the portable build, take the scalar loop. Integer
 * sums are exact, so both orders give the same bits as the reference loops.
 */
#ifndef TINYC_DOT_S8_H
#define TINYC_DOT_S8_H

#include <stdint.h>

#include "tinyc/arm_dsp.h"

#if TINYC_USE_SIMD
/* The four-filter loops live out of line, compiled without the first scheduling pass: with
 * it, gcc hoists loads until the 14 values the plain loop keeps live (5 pointers, a count,
 * 4 accumulators, 4 temporaries) no longer fit r0-r12 + lr and it spills pointers in the
 * loop; without it the loop is 24 instructions per 16 MACs. */
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_DOT_LOOP static __attribute__((noinline, unused, optimize("no-schedule-insns")))
#define TINYC_DOT_BODY static inline __attribute__((always_inline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define TINYC_DOT_LOOP static __attribute__((noinline, unused))
#define TINYC_DOT_BODY static inline __attribute__((always_inline))
#else
#define TINYC_DOT_LOOP static
#define TINYC_DOT_BODY static inline
#endif

/* 4 * blocks values of x with four filters, no offsets (folded into the bias). */
TINYC_DOT_BODY void tinyc_dot4_blocks_inline_s8(const int8_t *x, const int8_t *w0, int32_t w_stride, int32_t blocks,
                                         int32_t acc[4])
{
    const int8_t *w1 = w0 + w_stride;
    const int8_t *w2 = w1 + w_stride;
    const int8_t *w3 = w2 + w_stride;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; blocks > 0; --blocks) {
        const int32_t xv = tinyc_read_s8x4(x);
        const int32_t xe = tinyc_sxtb16(xv);
        const int32_t xo = tinyc_sxtb16_ror8(xv);
        int32_t wv;
        x += 4;
        wv = tinyc_read_s8x4(w0);
        w0 += 4;
        a0 = tinyc_smlad(tinyc_sxtb16(wv), xe, a0);
        a0 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a0);
        wv = tinyc_read_s8x4(w1);
        w1 += 4;
        a1 = tinyc_smlad(tinyc_sxtb16(wv), xe, a1);
        a1 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a1);
        wv = tinyc_read_s8x4(w2);
        w2 += 4;
        a2 = tinyc_smlad(tinyc_sxtb16(wv), xe, a2);
        a2 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a2);
        wv = tinyc_read_s8x4(w3);
        w3 += 4;
        a3 = tinyc_smlad(tinyc_sxtb16(wv), xe, a3);
        a3 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The same with the input offset, added to both lanes by SXTAB16 for free (symmetric
 * weights: convs with padding, whose skipped taps forbid folding the offset). One more
 * live value than the registers hold: gcc spills one pointer (26 instructions per 16 MACs). */
TINYC_DOT_BODY void tinyc_dot4_blocks_offset_inline_s8(const int8_t *x, const int8_t *w0, int32_t w_stride, int32_t blocks,
                                                int32_t input_offset, int32_t acc[4])
{
    const int8_t *w1 = w0 + w_stride;
    const int8_t *w2 = w1 + w_stride;
    const int8_t *w3 = w2 + w_stride;
    const int32_t in2 = tinyc_pack_s16x2(input_offset, input_offset);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; blocks > 0; --blocks) {
        const int32_t xv = tinyc_read_s8x4(x);
        const int32_t xe = tinyc_sxtab16(in2, xv);
        const int32_t xo = tinyc_sxtab16_ror8(in2, xv);
        int32_t wv;
        x += 4;
        wv = tinyc_read_s8x4(w0);
        w0 += 4;
        a0 = tinyc_smlad(tinyc_sxtb16(wv), xe, a0);
        a0 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a0);
        wv = tinyc_read_s8x4(w1);
        w1 += 4;
        a1 = tinyc_smlad(tinyc_sxtb16(wv), xe, a1);
        a1 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a1);
        wv = tinyc_read_s8x4(w2);
        w2 += 4;
        a2 = tinyc_smlad(tinyc_sxtb16(wv), xe, a2);
        a2 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a2);
        wv = tinyc_read_s8x4(w3);
        w3 += 4;
        a3 = tinyc_smlad(tinyc_sxtb16(wv), xe, a3);
        a3 = tinyc_smlad(tinyc_sxtb16_ror8(wv), xo, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
TINYC_DOT_LOOP void tinyc_dot4_blocks_s8(const int8_t *x, const int8_t *w0, int32_t w_stride, int32_t blocks,
                                         int32_t acc[4])
{
    tinyc_dot4_blocks_inline_s8(x, w0, w_stride, blocks, acc);
}

TINYC_DOT_LOOP void tinyc_dot4_blocks_offset_s8(const int8_t *x, const int8_t *w0, int32_t w_stride, int32_t blocks,
                                                int32_t input_offset, int32_t acc[4])
{
    tinyc_dot4_blocks_offset_inline_s8(x, w0, w_stride, blocks, input_offset, acc);
}

/* A window of `rows` runs of `run` values, four filters: row r of the input starts at
 * x + r * x_stride, row r of filter j at w + j * filter_stride + r * w_stride. The loops
 * over rows and filters' tails stay inside, so a conv pixel costs one call per four
 * output channels. */
TINYC_DOT_LOOP void tinyc_dot4_window_s8(const int8_t *x, int32_t x_stride, const int8_t *w, int32_t w_stride,
                                         int32_t filter_stride, int32_t rows, int32_t run, int32_t input_offset,
                                         int32_t acc[4])
{
    const int32_t blocks = run >> 2;
    const int32_t tail = run & 3;
    int32_t r, k;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + r * x_stride;
        const int8_t *wr = w + r * w_stride;
        if (blocks > 0) {
            if (input_offset == 0) {
                tinyc_dot4_blocks_inline_s8(xr, wr, filter_stride, blocks, acc);
            } else {
                tinyc_dot4_blocks_offset_inline_s8(xr, wr, filter_stride, blocks, input_offset, acc);
            }
        }
        for (k = run - tail; k < run; ++k) {
            const int32_t xk = (int32_t)xr[k] + input_offset;
            acc[0] += xk * (int32_t)wr[k];
            acc[1] += xk * (int32_t)wr[filter_stride + k];
            acc[2] += xk * (int32_t)wr[2 * filter_stride + k];
            acc[3] += xk * (int32_t)wr[3 * filter_stride + k];
        }
    }
}
#endif /* TINYC_USE_SIMD */

/* Four filters. */
static inline void tinyc_dot4_s8(const int8_t *x, const int8_t *w, int32_t w_stride, int32_t n, int32_t input_offset,
                                 int32_t filter_offset, int32_t acc[4])
{
    int32_t a0, a1, a2, a3, k = 0;
    const int8_t *w0 = w;
    const int8_t *w1 = w + w_stride;
    const int8_t *w2 = w + 2 * w_stride;
    const int8_t *w3 = w + 3 * w_stride;
#if TINYC_USE_SIMD
    /* Asymmetric weights (rare: QLinearMatMul) take the scalar loop. */
    if (n >= 4 && filter_offset == 0) {
        if (input_offset == 0) {
            tinyc_dot4_blocks_s8(x, w, w_stride, n >> 2, acc);
        } else {
            tinyc_dot4_blocks_offset_s8(x, w, w_stride, n >> 2, input_offset, acc);
        }
        k = n & ~3;
    }
#endif
    a0 = acc[0];
    a1 = acc[1];
    a2 = acc[2];
    a3 = acc[3];
    for (; k < n; ++k) {
        const int32_t xk = (int32_t)x[k] + input_offset;
        a0 += xk * ((int32_t)w0[k] + filter_offset);
        a1 += xk * ((int32_t)w1[k] + filter_offset);
        a2 += xk * ((int32_t)w2[k] + filter_offset);
        a3 += xk * ((int32_t)w3[k] + filter_offset);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One filter. */
static inline int32_t tinyc_dot1_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t input_offset,
                                    int32_t filter_offset, int32_t acc)
{
    int32_t k = 0;
#if TINYC_USE_SIMD
    const int32_t in2 = tinyc_pack_s16x2(input_offset, input_offset);
    const int32_t f2 = tinyc_pack_s16x2(filter_offset, filter_offset);
    for (; k + 4 <= n; k += 4) {
        const int32_t xv = tinyc_read_s8x4(x + k);
        const int32_t wv = tinyc_read_s8x4(w + k);
        acc = tinyc_smlad(tinyc_sxtab16(f2, wv), tinyc_sxtab16(in2, xv), acc);
        acc = tinyc_smlad(tinyc_sxtab16_ror8(f2, wv), tinyc_sxtab16_ror8(in2, xv), acc);
    }
#endif
    for (; k < n; ++k) {
        acc += ((int32_t)x[k] + input_offset) * ((int32_t)w[k] + filter_offset);
    }
    return acc;
}

#endif /* TINYC_DOT_S8_H */
