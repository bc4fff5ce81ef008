/*
 * Depthwise 3x3 convolution, depth multiplier 1, dilation 1, channels a multiple of 4, NHWC,
 * int8 (TFLite's DepthwiseConvPerChannel, bit for bit): what DSP cores run for the 3x3
 * depthwise layers of MobileNet-like models (the record's applies says when).
 *
 * Compile-time layouts (kernels/depthwise3x3.py):
 *   weights [channels / 4][3][3][4]: per group of four channels its nine taps' words in a row,
 *           so the inner code loads them at fixed offsets from one pointer;
 *   bias    [2][channels]: the model's bias (or 0), then the interior bias: the same plus
 *           input_offset * (sum of the channel's nine weights), for windows with no padding
 *           tap, whose sum of (x + offset) * w is sum x * w + offset * sum w exactly;
 *   requant [channels][2]: requant_tail.h's packed constants instead of a shift, then
 *           [channels][2] the proved tail's (k, right_shift) and one word: the double shift
 *           every channel shares where the compiler proved that tail for all of them, else 0
 *           (then every pixel takes the border path and its guarded tail).
 *
 * Order (kernels/access.py depthwise, as tinyc_depthwise_conv_s8): per image, per output
 * pixel in raster order, per group of four channels: read the group's window, then write
 * its four outputs (the model's consecutive per-channel blocks merged).
 *
 * SIMD path: an interior pixel (full window) runs the nine taps unrolled per group, one
 * input word and one weight word each, SXTB16 widening both into lanes {c0, c2} and {c1, c3}
 * and four SMLAxy (no offset add: it is in the interior bias); the group's three input rows
 * are three pointers moved on by four bytes per group; the four outputs go through the
 * proved tail (SMMULR, two adds, a shift and SSAT per output, no guard). A border pixel walks its clipped taps
 * with SXTAB16 adding the input offset and the model's bias. Portable path: plain loops, the
 * offset on every tap.
 */
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/depthwise.h"
#include "tinyc/dw_tail4.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

/* Weight (ky, kx) of channel c in the layout above. */
static inline int32_t tinyc_dw3_weight_index(int32_t c, int32_t ky, int32_t kx)
{
    return (c >> 2) * 36 + (ky * 3 + kx) * 4 + (c & 3);
}

#if TINYC_USE_SIMD
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_DW3_NOINLINE static __attribute__((noinline, unused, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define TINYC_DW3_NOINLINE static __attribute__((noinline, unused))
#else
#define TINYC_DW3_NOINLINE static
#endif

/* One tap of four channels, no offset: acc[k] += x[k] * w[k]. */
#define TINYC_DW3_TAP(row, x_off, w_off)                                                                           \
    do {                                                                                                          \
        const int32_t xs_ = tinyc_read_s8x4((row) + (x_off));                                                     \
        const int32_t ws_ = tinyc_read_s8x4(w + (w_off));                                                         \
        const int32_t x02_ = tinyc_sxtb16(xs_);                                                                   \
        const int32_t x13_ = tinyc_sxtb16_ror8(xs_);                                                              \
        const int32_t w02_ = tinyc_sxtb16(ws_);                                                                   \
        const int32_t w13_ = tinyc_sxtb16_ror8(ws_);                                                              \
        acc.a0 = tinyc_smlabb(x02_, w02_, acc.a0);                                                                \
        acc.a1 = tinyc_smlabb(x13_, w13_, acc.a1);                                                                \
        acc.a2 = tinyc_smlatt(x02_, w02_, acc.a2);                                                                \
        acc.a3 = tinyc_smlatt(x13_, w13_, acc.a3);                                                                \
    } while (0)

/* An interior pixel: x is its window's top-left input pixel (channel 0). */
TINYC_DW3_INLINE void tinyc_dw3_interior(const int8_t *x, int32_t in_row_pitch, int32_t channels, const int8_t *w,
                                         const int32_t *interior_bias, const int32_t *multiplier,
                                         const int32_t *fast, int32_t double_shift, tinyc_dw3_out o, int full_range,
                                         int8_t *out)
{
    const int8_t *r0 = x;
    const int8_t *r1 = x + in_row_pitch;
    const int8_t *r2 = r1 + in_row_pitch;
    const int32_t two = 2 * channels;
    int32_t c;
    for (c = 0; c < channels; c += 4) {
        tinyc_acc4 acc;
        acc.a0 = interior_bias[c];
        acc.a1 = interior_bias[c + 1];
        acc.a2 = interior_bias[c + 2];
        acc.a3 = interior_bias[c + 3];
        TINYC_DW3_TAP(r0, 0, 0);
        TINYC_DW3_TAP(r0, channels, 4);
        TINYC_DW3_TAP(r0, two, 8);
        TINYC_DW3_TAP(r1, 0, 12);
        TINYC_DW3_TAP(r1, channels, 16);
        TINYC_DW3_TAP(r1, two, 20);
        TINYC_DW3_TAP(r2, 0, 24);
        TINYC_DW3_TAP(r2, channels, 28);
        TINYC_DW3_TAP(r2, two, 32);
        r0 += 4;
        r1 += 4;
        r2 += 4;
        w += 36;
        tinyc_dw3_store4_fast(acc, multiplier, fast, double_shift, c, o, full_range, out);
    }
}

TINYC_DW3_NOINLINE void tinyc_dw3_interior_full(const int8_t *x, int32_t in_row_pitch, int32_t channels,
                                                const int8_t *w, const int32_t *interior_bias,
                                                const int32_t *multiplier, const int32_t *fast, int32_t double_shift,
                                                tinyc_dw3_out o, int8_t *out)
{
    tinyc_dw3_interior(x, in_row_pitch, channels, w, interior_bias, multiplier, fast, double_shift, o, 1, out);
}

TINYC_DW3_NOINLINE void tinyc_dw3_interior_clamped(const int8_t *x, int32_t in_row_pitch, int32_t channels,
                                                   const int8_t *w, const int32_t *interior_bias,
                                                   const int32_t *multiplier, const int32_t *fast,
                                                   int32_t double_shift, tinyc_dw3_out o, int8_t *out)
{
    tinyc_dw3_interior(x, in_row_pitch, channels, w, interior_bias, multiplier, fast, double_shift, o, 0, out);
}

/* A border pixel: taps ky_lo <= ky < ky_hi, kx_lo <= kx < kx_hi of the window whose (0, 0)
 * tap is input pixel (in_y0, in_x0), x pointing at the image; the input offset on every tap. */
TINYC_DW_NOINLINE static void tinyc_dw3_border(const int8_t *image, int32_t in_row_pitch, int32_t channels,
                                               int32_t in_y0, int32_t in_x0, int32_t ky_lo, int32_t ky_hi,
                                               int32_t kx_lo, int32_t kx_hi, int32_t offset_pair, const int8_t *w,
                                               const int32_t *bias, const int32_t *multiplier,
                                               const int32_t *requant, int32_t double_shift, tinyc_dw3_out o,
                                               int8_t *out)
{
    const int32_t *fast = requant + 2 * channels;
    const int full_range = o.act_min == -128 && o.act_max == 127;
    int32_t c, ky, kx;
    for (c = 0; c < channels; c += 4) {
        tinyc_acc4 acc;
        acc.a0 = bias[c];
        acc.a1 = bias[c + 1];
        acc.a2 = bias[c + 2];
        acc.a3 = bias[c + 3];
        for (ky = ky_lo; ky < ky_hi; ++ky) {
            const int8_t *row = image + (in_y0 + ky) * in_row_pitch + c;
            for (kx = kx_lo; kx < kx_hi; ++kx) {
                tinyc_dw_mac4(row + (in_x0 + kx) * channels, w + (ky * 3 + kx) * 4, offset_pair, &acc);
            }
        }
        w += 36;
        if (double_shift != 0) {
            if (full_range) {
                tinyc_dw3_store4_fast(acc, multiplier, fast, double_shift, c, o, 1, out);
            } else {
                tinyc_dw3_store4_fast(acc, multiplier, fast, double_shift, c, o, 0, out);
            }
        } else if (full_range) {
            tinyc_dw3_store4(acc, multiplier, requant, c, o, 1, out);
        } else {
            tinyc_dw3_store4(acc, multiplier, requant, c, o, 0, out);
        }
    }
}
#endif /* TINYC_USE_SIMD */

void tinyc_depthwise_conv_3x3_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                 const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                 int8_t *output)
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
    const int32_t *interior_bias = bias + channels;
    const int32_t *fast = requant + 2 * channels;
    tinyc_dw3_out o;
    int full_range;
    int32_t double_shift;
    o.output_offset = params->output_offset;
    o.act_min = params->act_min;
    o.act_max = params->act_max;
    full_range = o.act_min == -128 && o.act_max == 127;
    double_shift = requant[4 * channels];
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * stride_h - pad_top;
            const int32_t ky_lo = in_y0 < 0 ? -in_y0 : 0;
            const int32_t ky_hi = in_y0 + 3 > in_h ? in_h - in_y0 : 3;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * stride_w - pad_left;
                const int32_t kx_lo = in_x0 < 0 ? -in_x0 : 0;
                const int32_t kx_hi = in_x0 + 3 > in_w ? in_w - in_x0 : 3;
                int8_t *out = out_image + oy * out_row_pitch + ox * channels;
                if (double_shift != 0 && ky_lo == 0 && ky_hi == 3 && kx_lo == 0 && kx_hi == 3) {
                    const int8_t *x = image + in_y0 * in_row_pitch + in_x0 * channels;
                    if (full_range) {
                        tinyc_dw3_interior_full(x, in_row_pitch, channels, weights, interior_bias, multiplier,
                                                fast, double_shift, o, out);
                    } else {
                        tinyc_dw3_interior_clamped(x, in_row_pitch, channels, weights, interior_bias, multiplier,
                                                   fast, double_shift, o, out);
                    }
                } else {
                    /* a clipped window, or a layer whose fast tail is not proved: every tap
                     * with its offset and requant_tail.h's guarded tail */
                    tinyc_dw3_border(image, in_row_pitch, channels, in_y0, in_x0, ky_lo, ky_hi, kx_lo, kx_hi,
                                     offset_pair, weights, bias, multiplier, requant, double_shift, o, out);
                }
            }
        }
    }
#else
    const int32_t input_offset = params->input_offset;
    int32_t c, ky, kx;
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * stride_h - pad_top;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * stride_w - pad_left;
                int8_t *out = out_image + oy * out_row_pitch + ox * channels;
                for (c = 0; c < channels; ++c) {
                    int32_t acc = bias[c];
                    for (ky = 0; ky < 3; ++ky) {
                        const int32_t in_y = in_y0 + ky;
                        if (in_y < 0 || in_y >= in_h) {
                            continue;
                        }
                        for (kx = 0; kx < 3; ++kx) {
                            const int32_t in_x = in_x0 + kx;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            acc += ((int32_t)image[in_y * in_row_pitch + in_x * channels + c] + input_offset) *
                                   (int32_t)weights[tinyc_dw3_weight_index(c, ky, kx)];
                        }
                    }
                    out[c] = tinyc_requantize_s8(acc, multiplier[c], tinyc_tail_packed_shift(requant, c),
                                                 params->output_offset, params->act_min, params->act_max);
                }
            }
        }
    }
#endif
}
