/*
 * Regular convolution (one group; any kernel, stride, dilation and padding) for the convs
 * whose windows are short and whose output channels are many: first layers (one to four
 * input channels: kws's 10x4 over one channel, vww's and resnet8's 3x3 over three) and
 * strided 1x1 convs (resnet8's shortcuts). Each output pixel's window, K = kernel_h *
 * kernel_w * in_c values, is gathered once into an int16 column (x + input_offset; 0 for
 * a padding tap), densely (no per-row rounding, unlike tinyc_conv_im2col_s8), then every
 * output channel is computed from it, four at a time, with SMLAD against int16 weights
 * expanded and interleaved at compile time (kernels/conv_gather.py; chosen only under the
 * int16-weight flash rule of kernels/wide_weights.py).
 *
 * scratch: one column of K4 int16 (K rounded up to 4; tinyc_conv_gather_w16_s8_get_buffer_size).
 * Values K .. K4 - 1 are zeroed once per call and meet zero weights.
 *
 * weights: int32 words, each two int16 weights (low half first), in blocks of four output
 * channels (out_c rounded up to 4, out_c4; the missing channels' weights are 0 and their
 * outputs never stored): [out_c4 / 4][K4 / 4][4 channels][2 words], word 0 = {w[4g], w[4g + 1]},
 * word 1 = {w[4g + 2], w[4g + 3]}, w the channel's OHWI row. Per group of four window
 * values: two words of the column (one LDRD), and per two channels one LDMIA of their four
 * words and four SMLADs.
 *
 * bias: out_c4 accumulator start values (the model's bias or 0). table: per channel
 * {multiplier, shift, k, right_shift} and a last word, double_shift: where the compiler proved
 * for every channel that requant.h's guard always passes and the rounding cannot overflow,
 * the tail is SMMULR, two adds, a shift and a clamp (SSAT for the full int8 range); where it
 * could not (double_shift 0), requant.h's guarded tail runs from multiplier and shift.
 *
 * tinyc_conv_gather_single_w16_s8 is the same kernel for layers whose every channel has right
 * shift 0 (ONNX semantics: onnxruntime-born first layers and shortcuts), whose tail the
 * compiler proved single-rounding (kernels/conv_gather.py single_table, kernels/single_tail.py): its
 * table is per channel {multiplier, offset} and the double shift, the tail one SMMLAR with the
 * output offset, SSAT and the lower clamp (an upper clamp below 127 by a pass over the
 * pixel's bytes), no guard.
 *
 * Order (kernels/access.py conv, as tinyc_conv_s8): pixel by pixel, the whole window read
 * (gathered) before any of the pixel's out_c bytes is written. Rows are addressed through
 * input_row_stride / output_row_stride, so a region of a larger image (a patch) works too.
 * The portable build runs the same gather and the same blocks one value at a time, with the
 * same requantize tail (requant.h).
 */
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

static int32_t tinyc_gather_window4(const tinyc_conv_params *params)
{
    return (params->kernel_h * params->kernel_w * params->in_c + 3) & ~3;
}

int32_t tinyc_conv_gather_w16_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return tinyc_gather_window4(params) * (int32_t)sizeof(int16_t);
}

/* n input values from x into col, plus the offset: four at a time as two words (LDR, two
 * SXTAB16, PKHBT, PKHTB, two STR; the column need not be word-aligned at this point). */
static inline int16_t *tinyc_gather_run(int16_t *col, const int8_t *x, int32_t n, int32_t input_offset)
{
    const int8_t *const end = x + n;
#if TINYC_USE_SIMD
    const int8_t *const end4 = x + (n & ~3);
    const int32_t offset2 = tinyc_pack_s16x2(input_offset, input_offset);
    while (x != end4) {
        const int32_t xv = tinyc_read_s8x4(x);
        const int32_t even = tinyc_sxtab16(offset2, xv);    /* {v0, v2} */
        const int32_t odd = tinyc_sxtab16_ror8(offset2, xv); /* {v1, v3} */
        tinyc_write_s16x2(col, tinyc_pkhbt_lsl16(even, odd)); /* {even.lo, odd.lo} */
        tinyc_write_s16x2(col + 2, tinyc_pkhtb_asr16(odd, even)); /* {even.hi, odd.hi} */
        x += 4;
        col += 4;
    }
#endif
    while (x != end) {
        *col++ = (int16_t)(*x++ + input_offset);
    }
    return col;
}

static inline int16_t *tinyc_gather_zeros(int16_t *col, int32_t n)
{
    for (; n >= 2; n -= 2, col += 2) {
        tinyc_write_s16x2(col, 0);
    }
    if (n > 0) {
        *col++ = 0;
    }
    return col;
}

/* An interior window (every tap in the image, dilation_w 1): `rows` runs of n values, run r
 * at x + r * step. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void tinyc_gather_rows(int16_t *col, const int8_t *x, int32_t step, int32_t rows, int32_t n,
                              int32_t input_offset)
{
    for (; rows > 0; --rows, x += step) {
        col = tinyc_gather_run(col, x, n, input_offset);
    }
}

/* The zero runs are short (a few values): gcc must not turn their loops into memset calls
 * (a library function linked in for this file alone). */
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_GATHER_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TINYC_GATHER_NO_MEMSET
#endif

TINYC_GATHER_NO_MEMSET static void tinyc_gather_clear(int16_t *col, int32_t n)
{
    (void)tinyc_gather_zeros(col, n);
}

/* The window of the output pixel whose top-left tap is (in_y0, in_x0), in OHWI order: only the
 * border pixels take it, so it is compiled for size. */
TINYC_SIZE_OPTIMIZED TINYC_GATHER_NO_MEMSET static void tinyc_gather_window(const tinyc_conv_params *params, const int8_t *image,
                                                       int16_t *col, int32_t in_y0, int32_t in_x0)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t dilation_w = params->dilation_w;
    const int32_t input_offset = params->input_offset;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t row_values = kernel_w * in_c;
    /* The in-bounds taps kx_lo <= kx < kx_hi of a row (dilation 1): one run of the input. */
    const int32_t kx_lo = in_x0 < 0 ? (-in_x0 < kernel_w ? -in_x0 : kernel_w) : 0;
    const int32_t kx_hi = in_w - in_x0 < kernel_w ? (in_w - in_x0 > kx_lo ? in_w - in_x0 : kx_lo) : kernel_w;
    int32_t ky, kx;
    for (ky = 0; ky < kernel_h; ++ky) {
        const int32_t in_y = in_y0 + ky * params->dilation_h;
        if (in_y < 0 || in_y >= in_h) {
            col = tinyc_gather_zeros(col, row_values);
        } else if (dilation_w == 1) {
            col = tinyc_gather_zeros(col, kx_lo * in_c);
            if (kx_hi > kx_lo) {
                col = tinyc_gather_run(col, image + in_y * in_row_pitch + (in_x0 + kx_lo) * in_c,
                                       (kx_hi - kx_lo) * in_c, input_offset);
            }
            col = tinyc_gather_zeros(col, (kernel_w - kx_hi) * in_c);
        } else {
            for (kx = 0; kx < kernel_w; ++kx) {
                const int32_t in_x = in_x0 + kx * dilation_w;
                if (in_x < 0 || in_x >= in_w) {
                    col = tinyc_gather_zeros(col, in_c);
                } else {
                    col = tinyc_gather_run(col, image + in_y * in_row_pitch + in_x * in_c, in_c, input_offset);
                }
            }
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_GATHER_LOOP static __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define TINYC_GATHER_LOOP static __attribute__((noinline))
#else
#define TINYC_GATHER_LOOP static
#endif
#if defined(__GNUC__)
#define TINYC_GATHER_INLINE static inline __attribute__((always_inline))
#else
#define TINYC_GATHER_INLINE static inline
#endif

/* The requant table: per channel (out_c rounded up to 4) {multiplier, shift, k, right_shift},
 * then one word: the double shift every channel shares where kernels/conv_gather.py proved
 * the short tail for all of them (tinyc_gather_proved_tail), else 0. */
#define TINYC_GATHER_TABLE_WORDS 4

#if TINYC_USE_SIMD
/* What the loads below read (for the compiler's view of memory): two words (of weights or of
 * the column), a channel's row of the requant table. */
typedef struct {
    int32_t words[2];
} tinyc_gather_pair;

typedef struct {
    int32_t words[4];
} tinyc_gather_row;

#if TINYC_HAVE_DSP
#define TINYC_GATHER_CHANNEL(w, offset, x01, x23, acc)                                                \
    do {                                                                                              \
        int32_t lo, hi;                                                                               \
        __asm__("ldrd %0, %1, [%2, #" #offset "]"                                                     \
                : "=r"(lo), "=r"(hi)                                                                  \
                : "r"(w), "m"(*(const tinyc_gather_pair *)(const void *)((w) + (offset) / 4)));      \
        (acc) = tinyc_smlad(lo, (x01), (acc));                                                        \
        (acc) = tinyc_smlad(hi, (x23), (acc));                                                        \
    } while (0)
#else
#define TINYC_GATHER_CHANNEL(w, offset, x01, x23, acc)                                                \
    do {                                                                                              \
        (acc) = tinyc_smlad((w)[(offset) / 4], (x01), (acc));                                         \
        (acc) = tinyc_smlad((w)[(offset) / 4 + 1], (x23), (acc));                                     \
    } while (0)
#endif

typedef struct {
    int32_t a0, a1, a2, a3;
} tinyc_gather_acc4;

#if TINYC_HAVE_DSP
/* x01, x23 = the next two column words; col += 2 (LDRD with post-increment). */
#define TINYC_GATHER_COLUMN(col, x01, x23)                                                            \
    __asm__("ldrd %0, %1, [%2], #8"                                                                   \
            : "=r"(x01), "=r"(x23), "+r"(col)                                                         \
            : "m"(*(const tinyc_gather_pair *)(const void *)(col)))
#else
#define TINYC_GATHER_COLUMN(col, x01, x23)                                                            \
    do {                                                                                              \
        (x01) = (col)[0];                                                                             \
        (x23) = (col)[1];                                                                             \
        (col) += 2;                                                                                   \
    } while (0)
#endif

/* One group of four column values against the four channels' words at w + offset / 4. */
#define TINYC_GATHER_GROUP(col, w, offset)                                                            \
    do {                                                                                              \
        int32_t x01, x23;                                                                             \
        TINYC_GATHER_COLUMN(col, x01, x23);                                                           \
        TINYC_GATHER_CHANNEL(w, offset, x01, x23, a0);                                                \
        TINYC_GATHER_CHANNEL(w, offset + 8, x01, x23, a1);                                            \
        TINYC_GATHER_CHANNEL(w, offset + 16, x01, x23, a2);                                           \
        TINYC_GATHER_CHANNEL(w, offset + 24, x01, x23, a3);                                           \
    } while (0)

#if TINYC_HAVE_DSP
/* One group against the four channels' words at w; w += 8 (two LDMIA). */
#define TINYC_GATHER_GROUP_STEP(col, w)                                                               \
    do {                                                                                              \
        int32_t x01, x23;                                                                             \
        TINYC_GATHER_COLUMN(col, x01, x23);                                                           \
        TINYC_LDMIA4_SMLAD_PAIRS(w, x01, x23, a0, a1);                                                \
        TINYC_LDMIA4_SMLAD_PAIRS(w, x01, x23, a2, a3);                                                \
    } while (0)
#else
#define TINYC_GATHER_GROUP_STEP(col, w)                                                               \
    do {                                                                                              \
        TINYC_GATHER_GROUP(col, w, 0);                                                                \
        (w) += 8;                                                                                     \
    } while (0)
#endif

/* Four channels over `groups` groups of four column values (the column word-aligned),
 * starting from the channels' biases; two groups per iteration (24 instructions for 32
 * MACs on a DSP core: two LDRD of the column, four LDMIA of weights, 16 SMLAD). */
TINYC_GATHER_INLINE tinyc_gather_acc4 tinyc_gather_dot4(const int32_t *col, const int32_t *w, int32_t groups,
                                                        const int32_t *bias)
{
    tinyc_gather_acc4 acc;
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    int32_t pairs;
    for (pairs = groups >> 1; pairs > 0; --pairs) {
        TINYC_GATHER_GROUP_STEP(col, w);
        TINYC_GATHER_GROUP_STEP(col, w);
    }
    if (groups & 1) {
        TINYC_GATHER_GROUP_STEP(col, w);
    }
    acc.a0 = a0;
    acc.a1 = a1;
    acc.a2 = a2;
    acc.a3 = a3;
    return acc;
}

/* The proved tail (kernels/conv_gather.py, depthwise3x3.fast_tail_table): for this layer
 * the compiler has shown that 2 * (acc << left) fits int32 for every accumulator a window
 * can produce, that right_shift >= 1 and that adding k = round + (output_offset <<
 * right_shift) cannot overflow, so requant.h's fast tail is exactly
 * (SMMULR(acc << double_shift, m) + k + (v >> 31)) >> right_shift, with no guard. */
TINYC_GATHER_INLINE int32_t tinyc_gather_proved_tail(int32_t acc, const int32_t *q, int32_t double_shift,
                                                     int32_t act_min, int32_t act_max, int full_range)
{
    const int32_t v = tinyc_smmulr((int32_t)((uint32_t)acc << double_shift), q[0]);
    int32_t k, right_shift, out;
#if TINYC_HAVE_DSP
    __asm__("ldrd %0, %1, [%2, #8]"
            : "=r"(k), "=r"(right_shift)
            : "r"(q), "m"(*(const tinyc_gather_row *)(const void *)q));
#else
    k = q[2];
    right_shift = q[3];
#endif
    out = (v + k + (v >> 31)) >> right_shift;
    if (full_range) {
        return tinyc_tail_sat8(out);
    }
    out = out < act_min ? act_min : out;
    return out > act_max ? act_max : out;
}

/* Every output channel of one pixel from its gathered column, blocks of four, through the
 * proved tail (full_range: the clamp is SSAT). A last partial block's extra channels are
 * computed and not stored. */
TINYC_GATHER_INLINE void tinyc_gather_pixel_proved(const int32_t *col, const int32_t *w, int32_t groups,
                                                   const int32_t *bias, const int32_t *table, int32_t double_shift,
                                                   int32_t out_c, int32_t act_min, int32_t act_max, int full_range,
                                                   int8_t *out)
{
    const int32_t block_words = groups * 8;
    const int32_t full_blocks = out_c & ~3;
    int32_t oc, j;
    for (oc = 0; oc < full_blocks; oc += 4, w += block_words, table += 4 * TINYC_GATHER_TABLE_WORDS) {
        const tinyc_gather_acc4 acc = tinyc_gather_dot4(col, w, groups, bias + oc);
        out[oc] = (int8_t)tinyc_gather_proved_tail(acc.a0, table, double_shift, act_min, act_max, full_range);
        out[oc + 1] = (int8_t)tinyc_gather_proved_tail(acc.a1, table + 4, double_shift, act_min, act_max, full_range);
        out[oc + 2] = (int8_t)tinyc_gather_proved_tail(acc.a2, table + 8, double_shift, act_min, act_max, full_range);
        out[oc + 3] = (int8_t)tinyc_gather_proved_tail(acc.a3, table + 12, double_shift, act_min, act_max, full_range);
    }
    if (oc < out_c) {
        const tinyc_gather_acc4 acc = tinyc_gather_dot4(col, w, groups, bias + oc);
        const int32_t a[4] = {acc.a0, acc.a1, acc.a2, acc.a3};
        for (j = 0; oc + j < out_c; ++j) {
            out[oc + j] = (int8_t)tinyc_gather_proved_tail(a[j], table + 4 * j, double_shift, act_min, act_max,
                                                           full_range);
        }
    }
}

TINYC_GATHER_LOOP void tinyc_gather_pixel_full(const int32_t *col, const int32_t *w, int32_t groups,
                                               const int32_t *bias, const int32_t *table, int32_t double_shift,
                                               int32_t out_c, int8_t *out)
{
    tinyc_gather_pixel_proved(col, w, groups, bias, table, double_shift, out_c, -128, 127, 1, out);
}

/* A fused clamp after the full-range pixel: act_min and act_max are int8, so clamping the
 * saturated byte gives the byte a clamped tail would, without a second copy of the loops. */
static void tinyc_gather_clamp_bytes(int8_t *out, int32_t n, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t v = out[i];
        out[i] = (int8_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
    }
}

/* The same blocks through requant.h's guarded tail (a layer whose tail is not proved, as in
 * onnxruntime-born models: kept at -O2). */
TINYC_GATHER_LOOP void tinyc_gather_pixel_guarded(const int32_t *col, const int32_t *w, int32_t groups,
                                                  const int32_t *bias, const int32_t *table, int32_t out_c,
                                                  tinyc_requant_output o, int8_t *out)
{
    const int32_t block_words = groups * 8;
    int32_t oc, j;
    for (oc = 0; oc < out_c; oc += 4, w += block_words) {
        const tinyc_gather_acc4 acc = tinyc_gather_dot4(col, w, groups, bias + oc);
        const int32_t a[4] = {acc.a0, acc.a1, acc.a2, acc.a3};
        for (j = 0; j < 4 && oc + j < out_c; ++j) {
            const int32_t *q = table + (oc + j) * TINYC_GATHER_TABLE_WORDS;
            out[oc + j] = tinyc_requantize_channel_s8(a[j], tinyc_requant_channel_of(q[0], q[1]), o);
        }
    }
}

/* The single-rounding tail (requant_tail.h tinyc_tail_single, proved by the compiler for
 * this layer) and the clamp to [act_min, 127]: LDRD, LSL, SMMLAR, SSAT and the lower bound. */
TINYC_GATHER_INLINE int32_t tinyc_gather_single_tail(int32_t acc, const int32_t *q, int32_t double_shift,
                                                     int32_t act_min)
{
    int32_t multiplier, offset, v;
#if TINYC_HAVE_DSP
    __asm__("ldrd %0, %1, [%2]"
            : "=r"(multiplier), "=r"(offset)
            : "r"(q), "m"(*(const tinyc_gather_pair *)(const void *)q));
#else
    multiplier = q[0];
    offset = q[1];
#endif
    v = tinyc_tail_sat8(tinyc_tail_single(acc, multiplier, offset, double_shift));
    return v < act_min ? act_min : v;
}

/* Every output channel of one pixel through the single-rounding tail (table: {multiplier,
 * offset} per channel), blocks of four; a last partial block's extra channels are computed
 * and not stored. */
TINYC_GATHER_LOOP void tinyc_gather_pixel_single(const int32_t *col, const int32_t *w, int32_t groups,
                                                 const int32_t *bias, const int32_t *table, int32_t double_shift,
                                                 int32_t out_c, int32_t act_min, int8_t *out)
{
    const int32_t block_words = groups * 8;
    const int32_t full_blocks = out_c & ~3;
    int32_t oc, j;
    for (oc = 0; oc < full_blocks; oc += 4, w += block_words, table += 8) {
        const tinyc_gather_acc4 acc = tinyc_gather_dot4(col, w, groups, bias + oc);
        out[oc] = (int8_t)tinyc_gather_single_tail(acc.a0, table, double_shift, act_min);
        out[oc + 1] = (int8_t)tinyc_gather_single_tail(acc.a1, table + 2, double_shift, act_min);
        out[oc + 2] = (int8_t)tinyc_gather_single_tail(acc.a2, table + 4, double_shift, act_min);
        out[oc + 3] = (int8_t)tinyc_gather_single_tail(acc.a3, table + 6, double_shift, act_min);
    }
    if (oc < out_c) {
        const tinyc_gather_acc4 acc = tinyc_gather_dot4(col, w, groups, bias + oc);
        const int32_t a[4] = {acc.a0, acc.a1, acc.a2, acc.a3};
        for (j = 0; oc + j < out_c; ++j) {
            out[oc + j] = (int8_t)tinyc_gather_single_tail(a[j], table + 2 * j, double_shift, act_min);
        }
    }
}
#else
/* The same sums one value at a time (value 4 g + j meets lane j % 2 of word j / 2), and
 * requant.h's tail for every channel (single: the single-rounding table and tail). */
static void tinyc_gather_pixel_portable(const int16_t *col, const int32_t *w, int32_t groups, const int32_t *bias,
                                        const int32_t *table, int32_t out_c, tinyc_requant_output o, int single,
                                        int8_t *out)
{
    int32_t oc, g, j;
    for (oc = 0; oc < out_c; ++oc) {
        const int32_t *wc = w + (oc >> 2) * groups * 8 + (oc & 3) * 2;
        int32_t acc = bias[oc];
        for (g = 0; g < groups; ++g) {
            for (j = 0; j < 4; ++j) {
                const int32_t word = wc[g * 8 + (j >> 1)];
                const int32_t weight = (j & 1) != 0 ? tinyc_hi16(word) : tinyc_lo16(word);
                acc += weight * (int32_t)col[4 * g + j];
            }
        }
        if (single) {
            const int32_t *t = table + 2 * oc;
            out[oc] = tinyc_tail_clamp_s8(tinyc_tail_single(acc, t[0], t[1], table[2 * ((out_c + 3) & ~3)]),
                                          o.act_min, o.act_max, 0);
        } else {
            const int32_t *q = table + oc * TINYC_GATHER_TABLE_WORDS;
            out[oc] = tinyc_requantize_channel_s8(acc, tinyc_requant_channel_of(q[0], q[1]), o);
        }
    }
}
#endif

/* The pixel loop of both symbols: gather each output pixel's window, then its channels through
 * the tail `single` names, a constant at each call (TFLite's tail: proved, or guarded where the
 * table's double shift is 0; the single-rounding tail: always proved, kernels/conv_gather.py). */
TINYC_GATHER_INLINE void tinyc_gather_conv(const tinyc_conv_params *params, const int8_t *input,
                                           const int32_t *weights, const int32_t *bias, const int32_t *table,
                                           int8_t *output, int8_t *scratch, const int single)
{
    /* The scratch is an arena slice (16-byte aligned) or a test's malloc: word-aligned. */
    int16_t *col = (int16_t *)(void *)scratch;
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t out_c = params->out_c;
    const int32_t window = params->kernel_h * params->kernel_w * params->in_c;
    const int32_t window4 = tinyc_gather_window4(params);
    const int32_t groups = window4 >> 2;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    const tinyc_requant_output o = tinyc_requant_output_of(params->output_offset, params->act_min, params->act_max);
#if TINYC_USE_SIMD
    const int32_t double_shift = table[((out_c + 3) & ~3) * (single ? 2 : TINYC_GATHER_TABLE_WORDS)];
    const int full_range = params->act_min == -128 && params->act_max == 127;
    const int32_t *col_words = (const int32_t *)(const void *)col;
#endif
    int32_t b, oy, ox;

    tinyc_gather_clear(col + window, window4 - window); /* meets zero weights; never gathered */
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * params->in_h * in_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            int8_t *out = output + (b * out_h + oy) * out_row_pitch;
            const int32_t in_y0 = oy * params->stride_h - params->pad_top;
            const int interior_row =
                in_y0 >= 0 && in_y0 + (params->kernel_h - 1) * params->dilation_h < params->in_h;
            for (ox = 0; ox < out_w; ++ox, out += out_c) {
                const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                if (interior_row && params->dilation_w == 1 && in_x0 >= 0 && in_x0 + params->kernel_w <= params->in_w) {
                    tinyc_gather_rows(col, image + in_y0 * in_row_pitch + in_x0 * params->in_c,
                                      in_row_pitch * params->dilation_h, params->kernel_h,
                                      params->kernel_w * params->in_c, params->input_offset);
                } else {
                    tinyc_gather_window(params, image, col, in_y0, in_x0);
                }
#if TINYC_USE_SIMD
                if (single) {
                    /* the lower clamp is in the tail; an upper one below 127 is a pass */
                    tinyc_gather_pixel_single(col_words, weights, groups, bias, table, double_shift, out_c,
                                              params->act_min, out);
                    if (params->act_max < 127) {
                        tinyc_gather_clamp_bytes(out, out_c, params->act_min, params->act_max);
                    }
                } else if (double_shift == 0) {
                    tinyc_gather_pixel_guarded(col_words, weights, groups, bias, table, out_c, o, out);
                } else {
                    tinyc_gather_pixel_full(col_words, weights, groups, bias, table, double_shift, out_c, out);
                    if (!full_range) {
                        tinyc_gather_clamp_bytes(out, out_c, params->act_min, params->act_max);
                    }
                }
#else
                tinyc_gather_pixel_portable(col, weights, groups, bias, table, out_c, o, single, out);
#endif
            }
        }
    }
}

void tinyc_conv_gather_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                              const int32_t *bias, const int32_t *table, int8_t *output, int8_t *scratch)
{
    tinyc_gather_conv(params, input, weights, bias, table, output, scratch, 0);
}

void tinyc_conv_gather_single_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                     const int32_t *bias, const int32_t *table, int8_t *output, int8_t *scratch)
{
    tinyc_gather_conv(params, input, weights, bias, table, output, scratch, 1);
}

int32_t tinyc_conv_gather_single_w16_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return tinyc_gather_window4(params) * (int32_t)sizeof(int16_t);
}
