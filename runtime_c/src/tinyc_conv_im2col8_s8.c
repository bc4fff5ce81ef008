/*
 * Regular convolution (one group) by partial im2col into an int8 scratch: half the scratch of
 * tinyc_conv_im2col_s8 (2 * K4 bytes), for the convs whose int16 scratch would grow the arena
 * (passes/scratch.py; resnet8's 16-channel 3x3 convs). Two output pixels x two output
 * channels per inner iteration, as there; the values are sign-extended in the inner loop
 * (SXTB16) instead of once in the im2col.
 *
 * input NHWC; output NHWC; K = kernel_h * kernel_w * in_c, K4 = K rounded up to 4. Column 0
 * (the pair's first pixel) is scratch[0, K4), column 1 scratch[K4, 2 K4): each pixel's window
 * in OHWI order, int8 as it is in the input, padding taps holding the input zero point
 * (-input_offset) and [K, K4) zero. The compiler folds the input offset into the bias for
 * every output (bias + input_offset * sum of the channel's weights): exact here, because
 * every tap, padding included, is in the column, and a padding tap's (zp + offset) * w is
 * 0. input_offset stays in the params only as the padding value. weights: OHWI rows padded
 * to K4, channel pairs interleaved by groups of four bytes, an odd last channel alone (the
 * layout of tinyc_conv_im2col_s8 without its per-row padding). SXTB16 / SXTB16 ROR #8 of
 * an input word and of a weight word pair the same lanes, so nothing is reordered at run
 * time.
 *
 * Order (kernels/access.py conv_im2col, shared with tinyc_conv_im2col_s8): per image, output
 * pixels in pairs (an odd last one twice), both windows read, then both pixels written. The
 * portable build runs the same order with scalar loops and the same requantize tail.
 */
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/tinyc_nn.h"

static int32_t tinyc_im2col8_window_values(const tinyc_conv_params *params)
{
    return (params->kernel_h * params->kernel_w * params->in_c + 3) & ~3;
}

int32_t tinyc_conv_im2col8_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return 2 * tinyc_im2col8_window_values(params);
}

/* The window of the output pixel whose top-left tap is (in_y0, in_x0) into column `col`. */
static void tinyc_im2col8_window(const tinyc_conv_params *params, const int8_t *image, int8_t *col, int32_t in_y0,
                                 int32_t in_x0)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t kernel_w = params->kernel_w;
    const int32_t dilation_w = params->dilation_w;
    const int32_t in_row_pitch = params->in_w * params->in_c;
    const int32_t row_values = kernel_w * in_c;
    const int pad = (int)(int8_t)(-params->input_offset); /* the input zero point */
    /* The in-bounds taps kx_lo <= kx < kx_hi of a row (dilation 1): one run of the input. */
    const int32_t kx_lo = in_x0 < 0 ? (-in_x0 < kernel_w ? -in_x0 : kernel_w) : 0;
    const int32_t kx_hi = in_w - in_x0 < kernel_w ? (in_w - in_x0 > kx_lo ? in_w - in_x0 : kx_lo) : kernel_w;
    int32_t ky, kx;
    for (ky = 0; ky < params->kernel_h; ++ky, col += row_values) {
        const int32_t in_y = in_y0 + ky * params->dilation_h;
        if (in_y < 0 || in_y >= in_h) {
            memset(col, pad, (size_t)row_values);
            continue;
        }
        {
            const int8_t *row = image + in_y * in_row_pitch;
            if (dilation_w == 1) {
                memset(col, pad, (size_t)(kx_lo * in_c));
                memcpy(col + kx_lo * in_c, row + (in_x0 + kx_lo) * in_c, (size_t)((kx_hi - kx_lo) * in_c));
                memset(col + kx_hi * in_c, pad, (size_t)((kernel_w - kx_hi) * in_c));
            } else {
                for (kx = 0; kx < kernel_w; ++kx) {
                    const int32_t in_x = in_x0 + kx * dilation_w;
                    if (in_x < 0 || in_x >= in_w) {
                        memset(col + kx * in_c, pad, (size_t)in_c);
                    } else {
                        memcpy(col + kx * in_c, row + in_x * in_c, (size_t)in_c);
                    }
                }
            }
        }
    }
}

#if TINYC_USE_SIMD
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_IM2COL8_LOOP static __attribute__((noinline, optimize("no-schedule-insns")))
#else
#define TINYC_IM2COL8_LOOP static
#endif

/* One group of four values: two columns (xa, xa + k4) x two filters (w: the pair's words). */
#define TINYC_IM2COL8_GROUP_2X2(xa, k4, w)             \
    do {                                               \
        int32_t xv = tinyc_read_s8x4(xa);              \
        const int32_t xae = tinyc_sxtb16(xv);          \
        const int32_t xao = tinyc_sxtb16_ror8(xv);     \
        int32_t wv = tinyc_read_s8x4(w);               \
        int32_t we = tinyc_sxtb16(wv);                 \
        int32_t wo = tinyc_sxtb16_ror8(wv);            \
        int32_t xbe, xbo;                              \
        xv = tinyc_read_s8x4((xa) + (k4));             \
        xbe = tinyc_sxtb16(xv);                        \
        xbo = tinyc_sxtb16_ror8(xv);                   \
        a00 = tinyc_smlad(we, xae, a00);               \
        a00 = tinyc_smlad(wo, xao, a00);               \
        a01 = tinyc_smlad(we, xbe, a01);               \
        a01 = tinyc_smlad(wo, xbo, a01);               \
        wv = tinyc_read_s8x4((w) + 4);                 \
        we = tinyc_sxtb16(wv);                         \
        wo = tinyc_sxtb16_ror8(wv);                    \
        a10 = tinyc_smlad(we, xae, a10);               \
        a10 = tinyc_smlad(wo, xao, a10);               \
        a11 = tinyc_smlad(we, xbe, a11);               \
        a11 = tinyc_smlad(wo, xbo, a11);               \
    } while (0)

/* Two columns x two filters over `groups` groups of four: acc[2 * filter + column]. */
TINYC_IM2COL8_LOOP void tinyc_im2col8_dot2x2(const int8_t *xa, int32_t k4, const int8_t *w, int32_t groups,
                                             int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t pairs;
    /* Two groups per iteration: the pointer and count updates once per 32 MACs. */
    for (pairs = groups >> 1; pairs > 0; --pairs) {
        TINYC_IM2COL8_GROUP_2X2(xa, k4, w);
        TINYC_IM2COL8_GROUP_2X2(xa + 4, k4, w + 8);
        xa += 8;
        w += 16;
    }
    if (groups & 1) {
        TINYC_IM2COL8_GROUP_2X2(xa, k4, w);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* Two columns x one filter (its K4 bytes in order). */
TINYC_IM2COL8_LOOP void tinyc_im2col8_dot2x1(const int8_t *xa, int32_t k4, const int8_t *w, int32_t groups,
                                             int32_t acc[2])
{
    int32_t a0 = acc[0], a1 = acc[1];
    for (; groups > 0; --groups, xa += 4, w += 4) {
        const int32_t wv = tinyc_read_s8x4(w);
        const int32_t we = tinyc_sxtb16(wv);
        const int32_t wo = tinyc_sxtb16_ror8(wv);
        const int32_t xav = tinyc_read_s8x4(xa);
        const int32_t xbv = tinyc_read_s8x4(xa + k4);
        a0 = tinyc_smlad(we, tinyc_sxtb16(xav), a0);
        a0 = tinyc_smlad(wo, tinyc_sxtb16_ror8(xav), a0);
        a1 = tinyc_smlad(we, tinyc_sxtb16(xbv), a1);
        a1 = tinyc_smlad(wo, tinyc_sxtb16_ror8(xbv), a1);
    }
    acc[0] = a0;
    acc[1] = a1;
}
#else
/* The same sums, one value at a time: filter value j of group g is w[g * w_group_stride + j]. */
static void tinyc_im2col8_dot_scalar(const int8_t *xa, int32_t k4, const int8_t *w, int32_t w_group_stride,
                                     int32_t acc[2])
{
    int32_t k;
    for (k = 0; k < k4; ++k) {
        const int32_t weight = w[(k >> 2) * w_group_stride + (k & 3)];
        acc[0] += weight * xa[k];
        acc[1] += weight * xa[k4 + k];
    }
}
#endif

/* Both columns' outputs: out_c bytes at out_a (column 0) and at out_b (column 1). */
TINYC_OUTLINE_FUNCTION void tinyc_im2col8_outputs(const tinyc_conv_params *params, const int8_t *cols,
                                                  const int8_t *weights, const int32_t *bias,
                                                  const int32_t *multiplier, const int32_t *shift, int8_t *out_a,
                                                  int8_t *out_b)
{
    const int32_t out_c = params->out_c;
    const int32_t k4 = tinyc_im2col8_window_values(params);
    const tinyc_requant_output out_q = tinyc_requant_output_of(params->output_offset, params->act_min, params->act_max);
    const int8_t *w = weights;
    int32_t oc;
    for (oc = 0; oc < out_c; oc += 2, w += 2 * k4) {
        /* acc[2 * j + column] of channel oc + j, started at the (offset-folded) bias. */
        const int32_t count = oc + 1 < out_c ? 2 : 1;
        int32_t acc[4];
        int32_t j;
        for (j = 0; j < count; ++j) {
            acc[2 * j] = acc[2 * j + 1] = bias != 0 ? bias[oc + j] : 0;
        }
#if TINYC_USE_SIMD
        if (count == 2) {
            tinyc_im2col8_dot2x2(cols, k4, w, k4 >> 2, acc);
        } else {
            tinyc_im2col8_dot2x1(cols, k4, w, k4 >> 2, acc);
        }
#else
        if (count == 2) {
            tinyc_im2col8_dot_scalar(cols, k4, w, 8, acc);
            tinyc_im2col8_dot_scalar(cols, k4, w + 4, 8, acc + 2);
        } else {
            tinyc_im2col8_dot_scalar(cols, k4, w, 4, acc);
        }
#endif
        for (j = 0; j < count; ++j) {
            const tinyc_requant_channel q = tinyc_requant_channel_of(multiplier[oc + j], shift[oc + j]);
            out_a[oc + j] = tinyc_requantize_channel_s8(acc[2 * j], q, out_q);
            out_b[oc + j] = tinyc_requantize_channel_s8(acc[2 * j + 1], q, out_q);
        }
    }
}

void tinyc_conv_im2col8_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output,
                           int8_t *scratch)
{
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t out_c = params->out_c;
    const int32_t in_row_pitch = params->in_w * params->in_c;
    const int32_t out_row_pitch = params->out_w * params->out_c;
    const int32_t pixels = out_h * out_w;
    const int32_t window = params->kernel_h * params->kernel_w * params->in_c;
    const int32_t k4 = tinyc_im2col8_window_values(params);
    int32_t b, p;
    /* The values past the window meet zero weights; they only have to be defined. */
    memset(scratch + window, 0, (size_t)(k4 - window));
    memset(scratch + k4 + window, 0, (size_t)(k4 - window));
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * params->in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (p = 0; p < pixels; p += 2) {
            /* The pair's pixels (an odd last one twice: the same window, the same bytes). */
            const int32_t q = p + 1 < pixels ? p + 1 : p;
            const int32_t ya = p / out_w, xa = p - ya * out_w;
            const int32_t yb = q / out_w, xb = q - yb * out_w;
            tinyc_im2col8_window(params, image, scratch, ya * params->stride_h - params->pad_top,
                                 xa * params->stride_w - params->pad_left);
            tinyc_im2col8_window(params, image, scratch + k4, yb * params->stride_h - params->pad_top,
                                 xb * params->stride_w - params->pad_left);
            tinyc_im2col8_outputs(params, scratch, weights, bias, multiplier, shift,
                                  out_image + ya * out_row_pitch + xa * out_c, out_image + yb * out_row_pitch + xb * out_c);
        }
    }
}
