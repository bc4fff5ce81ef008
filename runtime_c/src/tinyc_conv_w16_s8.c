/*
 * Regular 2-D convolution (one group, dilation 1), int8, with weights pre-expanded to int16
 * at compile time: the scratch-free KxK conv of DSP cores (resnet8's peak step, where no
 * im2col scratch fits the arena), chosen only where the board's flash has room for the
 * doubled weights (kernels/conv_w16.py). Two public symbols, one loop nest:
 *
 *   tinyc_conv_w16_s8         TFLite's requantize tail, proved at compile time where it can
 *                             be (requant_tail.h tinyc_tail_proved), guarded otherwise;
 *   tinyc_conv_w16_single_s8  the single-rounding tail (requant_tail.h tinyc_tail_single,
 *                             kernels/single_tail.py): ONNX-semantics layers, one SMMLAR.
 *
 * input NHWC, output NHWC, in_c and out_c multiples of 4. weights: int32 words, each two
 * int16 weights, in blocks of four output channels: [out_c / 4][kernel_h][kernel_w * in_c / 4]
 * [4 channels][2 words], word 0 = {w[4g], w[4g + 2]}, word 1 = {w[4g + 1], w[4g + 3]} (low
 * half first): what the input word becomes through SXTAB16 and SXTAB16 ROR #8 (the input
 * offset added to both lanes for free: padding taps are skipped, so the offset cannot fold
 * into the bias). Per group of four input values and four output channels: one LDR and two
 * SXTAB16 for the input, two LDMIAs of four weight words (arm_dsp.h TINYC_LDMIA4_SMLAD_PAIRS,
 * one instruction with its destinations pinned to r4-r7: gcc pairs such loads as LDRDs at
 * best), eight SMLADs: 16 MACs in 13 instructions, one weight pointer walking the block's
 * words in order; eight groups per loop iteration where in_c % 32 == 0, four where
 * in_c % 16 == 0, two where in_c % 8 == 0 (C loops over one-instruction intrinsics).
 * Why one pixel and four channels, not two pixels: the loop holds four accumulators, the
 * two input halves, the four LDM words, both pointers, the run's end and the offset pair;
 * two pixels (or eight channels) would need four more registers than there are, and
 * two pixels by two channels costs more per MAC (the input expansion then serves two
 * channels instead of four).
 *
 * Order (kernels/access.py conv, as tinyc_conv_s8): pixel by pixel, four output channels at
 * a time, each block reading the pixel's whole window before its four bytes are written.
 * The in-bounds taps of a kernel row are (kx_hi - kx_lo) * in_c consecutive input bytes and
 * consecutive weight words alike, so a kernel row is one run; the clipping is computed once
 * per pixel (an interior pixel's runs are the whole rows, its weight words one run).
 *
 * requant (tinyc_conv_w16_s8, kernels/conv_w16.py requant_words): [C][2] packed shift words
 * (the guarded tail's, requant_tail.h tinyc_tail_channel_packed), one word, the proved
 * tail's double shift (0: not proved, the guarded tail runs), then per block of four
 * channels their bias and their (multiplier, k, right_shift). tail (tinyc_conv_w16_single_s8,
 * single_words): the double shift, then per block the bias and (multiplier, offset).
 */
#include <stdint.h>
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

/* TINYC_CONV16_OPT: the public functions compiled without instruction scheduling: gcc's
 * schedulers hoist the next groups' input loads above the current group's SMLADs, which keeps
 * more expanded inputs live than there are registers beside the four LDM destinations, and
 * the unrolled loops then spill (conv2d_1 of resnet8: 2.95 M instructions scheduled, see
 * the commit). */
#if TINYC_HAVE_DSP && defined(__GNUC__) && !defined(__clang__)
#define TINYC_CONV16_OPT __attribute__((optimize("no-schedule-insns", "no-schedule-insns2")))
#else
#define TINYC_CONV16_OPT
#endif
/* Groups per inner iteration: unrolled on DSP cores only (the same sums in any order of
 * iterations; the host build keeps one group a step, within its stack budget). */
#if TINYC_HAVE_DSP
#define TINYC_CONV16_UNROLL(size) (size)
#else
#define TINYC_CONV16_UNROLL(size) 1
#endif
#if defined(__GNUC__)
#define TINYC_CONV16_INLINE static inline __attribute__((always_inline))
#else
#define TINYC_CONV16_INLINE static inline
#endif

/* One group of four input values into four accumulators: x and w advance past it. The input
 * word is expanded with the offset by SXTAB16 and SXTAB16 ROR #8; on DSP cores each two
 * channels' four weight words come in one LDMIA (arm_dsp.h TINYC_LDMIA4_SMLAD_PAIRS: gcc
 * itself pairs such loads as LDRDs at best, two instructions per group more). */
#if TINYC_HAVE_DSP
#define TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3)                                                 \
    do {                                                                                              \
        const int32_t xv_ = tinyc_read_s8x4(x);                                                       \
        const int32_t xe_ = tinyc_sxtab16((in2), xv_);                                                \
        const int32_t xo_ = tinyc_sxtab16_ror8((in2), xv_);                                           \
        TINYC_LDMIA4_SMLAD_PAIRS(w, xe_, xo_, a0, a1);                                                \
        TINYC_LDMIA4_SMLAD_PAIRS(w, xe_, xo_, a2, a3);                                                \
        (x) += 4;                                                                                     \
    } while (0)
#else
#define TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3)                                                 \
    do {                                                                                              \
        const int32_t xv_ = tinyc_read_s8x4(x);                                                       \
        const int32_t xe_ = tinyc_sxtab16((in2), xv_);                                                \
        const int32_t xo_ = tinyc_sxtab16_ror8((in2), xv_);                                           \
        (a0) = tinyc_smlad((w)[1], xo_, tinyc_smlad((w)[0], xe_, (a0)));                              \
        (a1) = tinyc_smlad((w)[3], xo_, tinyc_smlad((w)[2], xe_, (a1)));                              \
        (a2) = tinyc_smlad((w)[5], xo_, tinyc_smlad((w)[4], xe_, (a2)));                              \
        (a3) = tinyc_smlad((w)[7], xo_, tinyc_smlad((w)[6], xe_, (a3)));                              \
        (x) += 4;                                                                                     \
        (w) += 8;                                                                                     \
    } while (0)
#endif

/* A whole window: `rows` >= 1 runs of run_bytes > 0 input bytes (a multiple of 4 * size),
 * `size` groups per iteration, the next run x_skip bytes and w_skip words past a run's end.
 * A run ends on the weight pointer (2 * run_bytes words on), so the inner loop holds no
 * counter and, after it, no copy of a pointer. */
#define TINYC_CONV16_RUNS(size, x, w, rows, run_bytes, x_skip, w_skip, in2, a0, a1, a2, a3)           \
    do {                                                                                              \
        int32_t r_ = (rows);                                                                          \
        do {                                                                                          \
            const int32_t *const end_ = (w) + 2 * (run_bytes);                                        \
            do {                                                                                      \
                TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                        \
                if (TINYC_CONV16_UNROLL(size) >= 2) {                                                 \
                    TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                    \
                }                                                                                     \
                if (TINYC_CONV16_UNROLL(size) >= 4) {                                                 \
                    TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                    \
                    TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                    \
                }                                                                                     \
                if (TINYC_CONV16_UNROLL(size) >= 8) {                                                 \
                    TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                    \
                    TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                    \
                    TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                    \
                    TINYC_CONV16_GROUP(x, w, in2, a0, a1, a2, a3);                                    \
                }                                                                                     \
            } while ((w) != end_);                                                                    \
            (x) += (x_skip);                                                                          \
            (w) += (w_skip);                                                                          \
        } while (--r_ > 0);                                                                           \
    } while (0)

#if TINYC_HAVE_DSP
/* Four int8 lanes: max(v, lo) and min(v, hi) lane by lane (SSUB8 sets GE, SEL picks). */
static inline int32_t tinyc_conv16_max_s8x4(int32_t v, int32_t lo)
{
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(v), "r"(lo) : "cc");
    return r;
}

static inline int32_t tinyc_conv16_min_s8x4(int32_t v, int32_t hi)
{
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(v), "r"(hi) : "cc");
    return r;
}
#else
static inline int32_t tinyc_conv16_max_s8x4(int32_t v, int32_t lo)
{
    uint32_t r = 0;
    int32_t j;
    for (j = 0; j < 4; ++j) {
        const int32_t a = tinyc_byte_s8(v, j), b = tinyc_byte_s8(lo, j);
        r |= (uint32_t)(uint8_t)(a > b ? a : b) << (8 * j);
    }
    return (int32_t)r;
}

static inline int32_t tinyc_conv16_min_s8x4(int32_t v, int32_t hi)
{
    uint32_t r = 0;
    int32_t j;
    for (j = 0; j < 4; ++j) {
        const int32_t a = tinyc_byte_s8(v, j), b = tinyc_byte_s8(hi, j);
        r |= (uint32_t)(uint8_t)(a < b ? a : b) << (8 * j);
    }
    return (int32_t)r;
}
#endif

/* Four values in [-128, 127] as the bytes of one word, v0 lowest (three BFIs). */
static inline int32_t tinyc_conv16_pack_s8x4(int32_t v0, int32_t v1, int32_t v2, int32_t v3)
{
    return tinyc_insert_byte(tinyc_insert_byte(tinyc_insert_byte(v0, v1, 1), v2, 2), v3, 3);
}

/* Four tails' values clamped to int8 and to the activation range (lo, hi: act_min, act_max
 * in every byte), stored as one word. */
static inline void tinyc_conv16_store4(int8_t *out, int32_t v0, int32_t v1, int32_t v2, int32_t v3, int32_t lo,
                                       int32_t hi)
{
    int32_t packed = tinyc_conv16_pack_s8x4(tinyc_tail_sat8(v0), tinyc_tail_sat8(v1), tinyc_tail_sat8(v2),
                                            tinyc_tail_sat8(v3));
    packed = tinyc_conv16_min_s8x4(tinyc_conv16_max_s8x4(packed, lo), hi);
    memcpy(out, &packed, sizeof packed);
}

/* The loop nest of both symbols. single: the tail words are tinyc_conv_w16_single_s8's (a
 * constant at both call sites, so each symbol holds one tail). */
TINYC_CONV16_INLINE void tinyc_conv16_run(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                          const int32_t *multiplier, const int32_t *requant, int8_t *output,
                                          int single)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t out_c = params->out_c;
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t stride_h = params->stride_h;
    const int32_t stride_w = params->stride_w;
    const int32_t pad_top = params->pad_top;
    const int32_t pad_left = params->pad_left;
    const int32_t output_offset = params->output_offset;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    const int32_t in2 = tinyc_pack_s16x2(params->input_offset, params->input_offset);
    const int32_t row_words = kernel_w * in_c * 2;     /* one kernel row of a block of four channels */
    const int32_t block_words = kernel_h * row_words; /* a block of four output channels */
    const int32_t table_words = single ? 12 : 16;     /* a block's bias and tail constants */
    const int32_t *const table = single ? requant + 1 : requant + 2 * out_c + 1;
    const int32_t double_shift = table[-1];
    const int32_t lo = (int32_t)(((uint32_t)act_min & 0xFFu) * 0x01010101u); /* act_min in every byte */
    const int32_t hi = (int32_t)(((uint32_t)act_max & 0xFFu) * 0x01010101u);
    /* every run's groups a multiple of in_c / 4 (one tap's): of 4, 2 or any */
    const int32_t unroll = (in_c & 31) == 0 ? 8 : ((in_c & 15) == 0 ? 4 : ((in_c & 7) == 0 ? 2 : 1));
    int32_t b, oy, ox, oc;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * stride_h - pad_top;
            const int32_t ky_lo = in_y0 < 0 ? -in_y0 : 0;
            const int32_t ky_hi = in_h - in_y0 < kernel_h ? in_h - in_y0 : kernel_h;
            const int32_t rows = ky_hi - ky_lo;
            int8_t *out = output + (b * out_h + oy) * out_row_pitch;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * stride_w - pad_left;
                const int32_t kx_lo = in_x0 < 0 ? -in_x0 : 0;
                const int32_t kx_hi = in_w - in_x0 < kernel_w ? in_w - in_x0 : kernel_w;
                const int32_t groups = (kx_hi - kx_lo) * in_c / 4;
                const int32_t x_skip = in_row_pitch - 4 * groups; /* from a run's end to the next's start */
                const int32_t w_skip = row_words - 8 * groups;
                const int32_t run_bytes = 4 * groups;
                const int8_t *x0 = image + (in_y0 + ky_lo) * in_row_pitch + (in_x0 + kx_lo) * in_c;
                const int32_t *wb = weights + ky_lo * row_words + kx_lo * in_c * 2;
                const int32_t *t = table;
                for (oc = 0; oc < out_c; oc += 4, wb += block_words, t += table_words, out += 4) {
                    const int8_t *x = x0;
                    const int32_t *w = wb;
                    int32_t a0 = t[0], a1 = t[1], a2 = t[2], a3 = t[3];
                    int32_t v0, v1, v2, v3;
                    if (rows <= 0 || groups <= 0) {
                        /* every tap is padding: the bias alone */
                    } else if (unroll == 8) {
                        TINYC_CONV16_RUNS(8, x, w, rows, run_bytes, x_skip, w_skip, in2, a0, a1, a2, a3);
                    } else if (unroll == 4) {
                        TINYC_CONV16_RUNS(4, x, w, rows, run_bytes, x_skip, w_skip, in2, a0, a1, a2, a3);
                    } else if (unroll == 2) {
                        TINYC_CONV16_RUNS(2, x, w, rows, run_bytes, x_skip, w_skip, in2, a0, a1, a2, a3);
                    } else {
                        TINYC_CONV16_RUNS(1, x, w, rows, run_bytes, x_skip, w_skip, in2, a0, a1, a2, a3);
                    }
                    if (single) {
                        v0 = tinyc_tail_single(a0, t[4], t[5], double_shift);
                        v1 = tinyc_tail_single(a1, t[6], t[7], double_shift);
                        v2 = tinyc_tail_single(a2, t[8], t[9], double_shift);
                        v3 = tinyc_tail_single(a3, t[10], t[11], double_shift);
                    } else if (double_shift != 0) {
                        v0 = tinyc_tail_proved(a0, t[4], t[5], t[6], double_shift);
                        v1 = tinyc_tail_proved(a1, t[7], t[8], t[9], double_shift);
                        v2 = tinyc_tail_proved(a2, t[10], t[11], t[12], double_shift);
                        v3 = tinyc_tail_proved(a3, t[13], t[14], t[15], double_shift);
                    } else {
                        /* the guarded tail: exact for every accumulator (requant_tail.h) */
                        out[0] = tinyc_tail_s8(a0, tinyc_tail_channel_packed(multiplier, requant, oc), output_offset,
                                               act_min, act_max, 0);
                        out[1] = tinyc_tail_s8(a1, tinyc_tail_channel_packed(multiplier, requant, oc + 1),
                                               output_offset, act_min, act_max, 0);
                        out[2] = tinyc_tail_s8(a2, tinyc_tail_channel_packed(multiplier, requant, oc + 2),
                                               output_offset, act_min, act_max, 0);
                        out[3] = tinyc_tail_s8(a3, tinyc_tail_channel_packed(multiplier, requant, oc + 3),
                                               output_offset, act_min, act_max, 0);
                        continue;
                    }
                    tinyc_conv16_store4(out, v0, v1, v2, v3, lo, hi);
                }
            }
        }
    }
}

TINYC_CONV16_OPT void tinyc_conv_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                       const int32_t *multiplier, const int32_t *requant, int8_t *output)
{
    tinyc_conv16_run(params, input, weights, multiplier, requant, output, 0);
}

TINYC_CONV16_OPT void tinyc_conv_w16_single_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                              const int32_t *tail, int8_t *output)
{
    tinyc_conv16_run(params, input, weights, tail, tail, output, 1);
}
