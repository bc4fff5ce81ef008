/*
 * Regular convolution (one group; any kernel size, stride, dilation and padding) by partial
 * im2col: the windows of two output pixels are expanded to int16 in a small scratch, then a
 * matrix product computes two pixels x two output channels per inner iteration (four
 * accumulators, each input value and each weight loaded once per pair of pixels and pair of
 * channels). The compiler picks it for DSP cores (kernels/conv.py), where it replaces
 * tinyc_conv_s8 on every non-pointwise conv; the arithmetic is TFLite's ConvPerChannel.
 *
 * input NHWC; output NHWC; scratch 2 * K4 int16 (tinyc_conv_im2col_s8_get_buffer_size), where
 * a kernel row has R = kernel_w * in_c values rounded up to a multiple of 4 and K4 =
 * kernel_h * R (every kernel row starts a group of four, so first layers' rows expand with
 * SIMD too).
 *
 * Window value k of a pixel (k = ky * R + kx * in_c + c, an OHWI filter row with each kernel
 * row padded) is x + input_offset, or 0 for a padding tap (it reads the input zero point);
 * a row's padding values meet zero weights and hold 0 or the offset. The scratch holds
 * groups of four values, column 0 (the pair's first pixel)
 * then column 1, each group as the int16 lanes {v0, v2}, {v1, v3}: what SXTAB16 and
 * SXTAB16 ROR #8 make of one input word, with the offset added for free. The weights
 * ("OHWI, channel pairs interleaved by 4", compile-time order of kernels/conv.py): channels
 * in pairs, per group of four the 4 bytes of the pair's first channel then the 4 of the
 * second, each kernel row zero-padded to R; an odd last channel alone, its K4 bytes in order. SXTB16 and
 * SXTB16 ROR #8 of a weight word give {w0, w2} and {w1, w3}, so the lanes meet without any
 * reordering at run time.
 *
 * Order (the access model kernels/access.py conv_im2col): per image, output pixels in pairs
 * (an odd last one twice): both windows are read (expanded), then both pixels' out_c bytes
 * written. The portable build runs the same order through the same scratch with scalar
 * loops; the requantize tail is the shared one (requant.h). Rows are addressed through
 * in_row_pitch / out_row_pitch only.
 */
#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/tinyc_nn.h"

/* A kernel row's values, rounded up to whole groups of four: every row starts a group. */
static int32_t tinyc_im2col_row_values(const tinyc_conv_params *params)
{
    return (params->kernel_w * params->in_c + 3) & ~3;
}

static int32_t tinyc_im2col_padded_window(const tinyc_conv_params *params)
{
    return params->kernel_h * tinyc_im2col_row_values(params);
}

int32_t tinyc_conv_im2col_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return 2 * tinyc_im2col_padded_window(params) * (int32_t)sizeof(int16_t);
}

/* The scratch slot (int16 index) of window value k of column col. */
static inline int32_t tinyc_im2col_slot(int32_t k, int32_t col)
{
    return (k & ~3) * 2 + col * 4 + ((k & 1) << 1) + ((k >> 1) & 1);
}

/* Values k .. k + n - 1 of column col: n int8 from x, plus the offset. Returns where the
 * values written end: k + n, or, when `free_tail` says the values after the run up to the
 * group boundary meet zero weights (a kernel row's padding), the boundary after the SIMD
 * build filled that last group as a whole (lanes past the run hold the offset). */
static inline int32_t tinyc_im2col_run(int16_t *cols, int32_t col, int32_t k, const int8_t *x, int32_t n,
                                       int32_t input_offset, int32_t free_tail)
{
    for (; n > 0 && (k & 3) != 0; --n, ++k, ++x) {
        cols[tinyc_im2col_slot(k, col)] = (int16_t)(*x + input_offset);
    }
#if TINYC_USE_SIMD
    {
        const int32_t offset2 = tinyc_pack_s16x2(input_offset, input_offset);
        int16_t *dst = cols + k * 2 + col * 4;
        for (; n >= 4; n -= 4, k += 4, x += 4, dst += 8) {
            const int32_t xv = tinyc_read_s8x4(x);
            tinyc_write_s16x2(dst, tinyc_sxtab16(offset2, xv));
            tinyc_write_s16x2(dst + 2, tinyc_sxtab16_ror8(offset2, xv));
        }
        if (free_tail && n > 0) {
            /* The last 1-3 bytes as one word (no read past the run), zero bytes after them. */
            uint32_t xv = (uint8_t)x[0];
            if (n > 1) {
                xv |= (uint32_t)(uint8_t)x[1] << 8;
            }
            if (n > 2) {
                xv |= (uint32_t)(uint8_t)x[2] << 16;
            }
            tinyc_write_s16x2(dst, tinyc_sxtab16(offset2, (int32_t)xv));
            tinyc_write_s16x2(dst + 2, tinyc_sxtab16_ror8(offset2, (int32_t)xv));
            return k + 4;
        }
    }
#else
    (void)free_tail;
#endif
    for (; n > 0; --n, ++k, ++x) {
        cols[tinyc_im2col_slot(k, col)] = (int16_t)(*x + input_offset);
    }
    return k;
}

/* Values k .. k + n - 1 of column col are 0 (padding taps, and each row's tail up to its
 * group boundary): whole groups as two zero words. */
static inline void tinyc_im2col_zeros(int16_t *cols, int32_t col, int32_t k, int32_t n)
{
    for (; n > 0 && (k & 3) != 0; --n, ++k) {
        cols[tinyc_im2col_slot(k, col)] = 0;
    }
    for (; n >= 4; n -= 4, k += 4) {
        int16_t *dst = cols + k * 2 + col * 4;
        tinyc_write_s16x2(dst, 0);
        tinyc_write_s16x2(dst + 2, 0);
    }
    for (; n > 0; --n, ++k) {
        cols[tinyc_im2col_slot(k, col)] = 0;
    }
}

/* The window of the output pixel whose top-left tap is (in_y0, in_x0) into column col:
 * kernel row ky is values ky * row_values .. + kernel_w * in_c, then zeros to the group. */
static void tinyc_im2col_window(const tinyc_conv_params *params, const int8_t *image, int16_t *cols, int32_t col,
                                int32_t in_y0, int32_t in_x0)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t dilation_w = params->dilation_w;
    const int32_t input_offset = params->input_offset;
    const int32_t in_row_pitch = params->in_w * params->in_c;
    const int32_t row_values = tinyc_im2col_row_values(params);
    /* The in-bounds taps kx_lo <= kx < kx_hi of a row (dilation 1): one run of the input. */
    const int32_t kx_lo = in_x0 < 0 ? (-in_x0 < kernel_w ? -in_x0 : kernel_w) : 0;
    const int32_t kx_hi = in_w - in_x0 < kernel_w ? (in_w - in_x0 > kx_lo ? in_w - in_x0 : kx_lo) : kernel_w;
    int32_t ky, kx, k = 0;
    for (ky = 0; ky < kernel_h; ++ky, k += row_values) {
        const int32_t in_y = in_y0 + ky * params->dilation_h;
        if (in_y < 0 || in_y >= in_h) {
            tinyc_im2col_zeros(cols, col, k, row_values);
            continue;
        }
        {
            const int8_t *row = image + in_y * in_row_pitch;
            if (dilation_w == 1) {
                /* Past the row's last tap only the row's padding follows: a free tail. */
                int32_t end;
                tinyc_im2col_zeros(cols, col, k, kx_lo * in_c);
                end = tinyc_im2col_run(cols, col, k + kx_lo * in_c, row + (in_x0 + kx_lo) * in_c,
                                       (kx_hi - kx_lo) * in_c, input_offset, kx_hi == kernel_w);
                tinyc_im2col_zeros(cols, col, end, k + row_values - end);
            } else {
                for (kx = 0; kx < kernel_w; ++kx) {
                    const int32_t in_x = in_x0 + kx * dilation_w;
                    if (in_x < 0 || in_x >= in_w) {
                        tinyc_im2col_zeros(cols, col, k + kx * in_c, in_c);
                    } else {
                        (void)tinyc_im2col_run(cols, col, k + kx * in_c, row + in_x * in_c, in_c, input_offset, 0);
                    }
                }
                tinyc_im2col_zeros(cols, col, k + kernel_w * in_c, row_values - kernel_w * in_c);
            }
        }
    }
}

#if TINYC_USE_SIMD
#if defined(__GNUC__) && !defined(__clang__)
/* Without the first scheduling pass gcc keeps the 13 live values of the loop in registers. */
#define TINYC_IM2COL_LOOP static __attribute__((noinline, optimize("no-schedule-insns")))
#else
#define TINYC_IM2COL_LOOP static
#endif

/* Two columns x two filters over `groups` groups of four: acc[2 * filter + column]. The
 * scratch is read as words (two int16 lanes each; it is word-aligned: an arena slice or a
 * malloc), four per group, which gcc loads with LDRD or LDM. */
/* One group of four values: two columns x two filters (w: the pair's two words). */
#define TINYC_IM2COL_GROUP_2X2(cols, w)                 \
    do {                                                \
        const int32_t xa0 = (cols)[0];                  \
        const int32_t xa1 = (cols)[1];                  \
        const int32_t xb0 = (cols)[2];                  \
        const int32_t xb1 = (cols)[3];                  \
        int32_t wv = tinyc_read_s8x4(w);                \
        int32_t we = tinyc_sxtb16(wv);                  \
        int32_t wo = tinyc_sxtb16_ror8(wv);             \
        a00 = tinyc_smlad(we, xa0, a00);                \
        a01 = tinyc_smlad(we, xb0, a01);                \
        a00 = tinyc_smlad(wo, xa1, a00);                \
        a01 = tinyc_smlad(wo, xb1, a01);                \
        wv = tinyc_read_s8x4((w) + 4);                  \
        we = tinyc_sxtb16(wv);                          \
        wo = tinyc_sxtb16_ror8(wv);                     \
        a10 = tinyc_smlad(we, xa0, a10);                \
        a11 = tinyc_smlad(we, xb0, a11);                \
        a10 = tinyc_smlad(wo, xa1, a10);                \
        a11 = tinyc_smlad(wo, xb1, a11);                \
    } while (0)

TINYC_IM2COL_LOOP void tinyc_im2col_dot2x2(const int32_t *cols, const int8_t *w, int32_t groups, int32_t acc[4])
{
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    int32_t pairs;
    /* Two groups per iteration: the loop's pointer and count updates once per 32 MACs. */
    for (pairs = groups >> 1; pairs > 0; --pairs) {
        TINYC_IM2COL_GROUP_2X2(cols, w);
        TINYC_IM2COL_GROUP_2X2(cols + 4, w + 8);
        cols += 8;
        w += 16;
    }
    if (groups & 1) {
        TINYC_IM2COL_GROUP_2X2(cols, w);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* Two columns x one filter (its K4 bytes in order). */
TINYC_IM2COL_LOOP void tinyc_im2col_dot2x1(const int32_t *cols, const int8_t *w, int32_t groups, int32_t acc[2])
{
    int32_t a0 = 0, a1 = 0;
    for (; groups > 0; --groups) {
        const int32_t wv = tinyc_read_s8x4(w);
        const int32_t we = tinyc_sxtb16(wv);
        const int32_t wo = tinyc_sxtb16_ror8(wv);
        w += 4;
        a0 = tinyc_smlad(we, cols[0], a0);
        a0 = tinyc_smlad(wo, cols[1], a0);
        a1 = tinyc_smlad(we, cols[2], a1);
        a1 = tinyc_smlad(wo, cols[3], a1);
        cols += 4;
    }
    acc[0] = a0;
    acc[1] = a1;
}
#else
/* The same sums, one value at a time (value k of a group sits at lane slot(k)). */
static void tinyc_im2col_dot_scalar(const int16_t *cols, const int8_t *w, int32_t w_group_stride, int32_t groups,
                                    int32_t acc[2])
{
    int32_t g, j;
    acc[0] = 0;
    acc[1] = 0;
    for (g = 0; g < groups; ++g) {
        for (j = 0; j < 4; ++j) {
            const int32_t weight = w[g * w_group_stride + j];
            acc[0] += weight * cols[tinyc_im2col_slot(g * 4 + j, 0)];
            acc[1] += weight * cols[tinyc_im2col_slot(g * 4 + j, 1)];
        }
    }
}
#endif

/* Both columns' outputs: out_c bytes at out_a (column 0) and at out_b (column 1). The
 * windows are in the scratch by now, so the order of the stores is free. */
TINYC_OUTLINE_FUNCTION void tinyc_im2col_outputs(const tinyc_conv_params *params, const int16_t *cols,
                                                 const int8_t *weights,
                                 const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out_a,
                                 int8_t *out_b)
{
    const int32_t out_c = params->out_c;
    const int32_t k4 = tinyc_im2col_padded_window(params);
    const int32_t groups = k4 >> 2;
    const tinyc_requant_output out_q = tinyc_requant_output_of(params->output_offset, params->act_min, params->act_max);
    const int8_t *w = weights;
    int32_t oc;
    for (oc = 0; oc < out_c; oc += 2, w += 2 * k4) {
        /* acc[2 * j + column] of channel oc + j; one channel's constants live at a time. */
        int32_t acc[4];
        const int32_t count = oc + 1 < out_c ? 2 : 1;
        int32_t j;
#if TINYC_USE_SIMD
        if (count == 2) {
            tinyc_im2col_dot2x2((const int32_t *)(const void *)cols, w, groups, acc);
        } else {
            tinyc_im2col_dot2x1((const int32_t *)(const void *)cols, w, groups, acc);
        }
#else
        if (count == 2) {
            tinyc_im2col_dot_scalar(cols, w, 8, groups, acc);
            tinyc_im2col_dot_scalar(cols, w + 4, 8, groups, acc + 2);
        } else {
            tinyc_im2col_dot_scalar(cols, w, 4, groups, acc);
        }
#endif
        for (j = 0; j < count; ++j) {
            const int32_t c = oc + j;
            const tinyc_requant_channel q = tinyc_requant_channel_of(multiplier[c], shift[c]);
            const int32_t b = bias != 0 ? bias[c] : 0;
            out_a[c] = tinyc_requantize_channel_s8(acc[2 * j] + b, q, out_q);
            out_b[c] = tinyc_requantize_channel_s8(acc[2 * j + 1] + b, q, out_q);
        }
    }
}

void tinyc_conv_im2col_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                          const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output,
                          int8_t *scratch)
{
    /* The scratch is an arena slice (16-byte aligned) or a test's malloc: int16-aligned. */
    int16_t *cols = (int16_t *)(void *)scratch;
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t out_c = params->out_c;
    const int32_t in_row_pitch = params->in_w * params->in_c;
    const int32_t out_row_pitch = params->out_w * params->out_c;
    const int32_t pixels = out_h * out_w;
    int32_t b, p;
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * params->in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (p = 0; p < pixels; p += 2) {
            /* The pair's pixels (an odd last one twice: the same window, the same bytes). */
            const int32_t q = p + 1 < pixels ? p + 1 : p;
            const int32_t ya = p / out_w, xa = p - ya * out_w;
            const int32_t yb = q / out_w, xb = q - yb * out_w;
            tinyc_im2col_window(params, image, cols, 0, ya * params->stride_h - params->pad_top,
                                xa * params->stride_w - params->pad_left);
            tinyc_im2col_window(params, image, cols, 1, yb * params->stride_h - params->pad_top,
                                xb * params->stride_w - params->pad_left);
            tinyc_im2col_outputs(params, cols, weights, bias, multiplier, shift,
                                 out_image + ya * out_row_pitch + xa * out_c, out_image + yb * out_row_pitch + xb * out_c);
        }
    }
}
