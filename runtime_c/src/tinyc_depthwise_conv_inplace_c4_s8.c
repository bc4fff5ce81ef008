/*
 * Depthwise KxK convolution in place, NHWC, int8, channels a multiple of 4 (DSP cores; the
 * record in kernels/depthwise_inplace4.py says when): tinyc_depthwise_conv_inplace_s8's
 * contract (multiplier 1, stride 1, "same" size; the output may start anywhere at or before
 * the input; scratch: a ring of R = pad_top * in_w + pad_left + 1 input pixels) and its
 * arithmetic bit for bit, with every constant prepared by the compiler:
 *
 *   weights [channels / 4][taps]: per group of four channels its T = kernel_h * kernel_w taps,
 *           tap pairs (2p, 2p + 1) as two words {a0, a1, b0, b1} {a2, a3, b2, b3} (a, b the
 *           pair's taps, 0..3 the channels), so SXTB16 gives the lanes SMLAD pairs; an odd
 *           last tap as one word {w0, w1, w2, w3};
 *   bias    [channels]: the model's bias plus input_offset * (sum of the channel's weights);
 *   requant [channels][2] requant_tail.h's packed constants, [channels][2] the proved tail's
 *           (k, right_shift) and its shared double shift or 0 (kernels/depthwise3x3.py);
 *   pad     [channels]: the input zero point: a tap outside the image reads it, so that
 *           (x + input_offset) * w is 0 there and every window sums sum x * w over all its
 *           taps plus the folded bias, the same number as the reference's clipped sum.
 *
 * Order (kernels/access.py depthwise_inplace, as tinyc_depthwise_conv_inplace_s8): per image,
 * per pixel s in raster order: copy input pixel s into ring slot s % R; then per group of four
 * channels: read the group's taps (those at or before s from the ring, the later ones from
 * the input, which no write has reached yet), then write its four outputs (the model's
 * per-channel blocks merged: the reads come earlier, the writes in the same order).
 *
 * SIMD path: the window's T tap addresses are listed once per pixel; per group, a pair of
 * taps costs two input words, two PKH to pair their channels, four SXTB16 on the inputs and
 * four on the weights and four SMLAD (eight MACs); then the proved tail (SMMULR, two adds, a
 * shift, SSAT per output). Portable path: the same layouts in plain loops.
 */
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/depthwise.h"
#include "tinyc/dw_tail4.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

#define TINYC_DWI4_MAX_TAPS 25 /* the record's limit: kernel_h * kernel_w <= 25 */

static int32_t tinyc_dwi4_ring_pixels(const tinyc_conv_params *params)
{
    const int32_t pixels = params->in_h * params->in_w;
    const int32_t ring = params->pad_top * params->in_w + params->pad_left + 1;
    return ring < pixels ? ring : pixels;
}

int32_t tinyc_depthwise_conv_inplace_c4_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return tinyc_dwi4_ring_pixels(params) * params->in_c;
}

/* Weight of tap t, channel c, in the layout above. */
static inline int32_t tinyc_dwi4_weight_index(int32_t taps, int32_t t, int32_t c)
{
    const int32_t group = (c >> 2) * taps * 4;
    if (t < (taps & ~1)) {
        return group + (t >> 1) * 8 + ((c & 3) >> 1) * 4 + (t & 1) * 2 + (c & 1);
    }
    return group + t * 4 + (c & 3);
}

/* The address tap (ky, kx) of output pixel s reads, channel 0: the pad row outside the image,
 * the ring at or before s (the output may cover the input there), the input after s. */
static inline const int8_t *tinyc_dwi4_tap(const tinyc_conv_params *params, const int8_t *image, const int8_t *ring,
                                           int32_t ring_pixels, const int8_t *pad, int32_t s, int32_t in_y,
                                           int32_t in_x)
{
    int32_t r;
    if (in_y < 0 || in_y >= params->in_h || in_x < 0 || in_x >= params->in_w) {
        return pad;
    }
    r = in_y * params->in_w + in_x;
    return r <= s ? ring + (r % ring_pixels) * params->in_c : image + r * params->in_c;
}

#if TINYC_USE_SIMD
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_DWI4_NOINLINE static __attribute__((noinline, unused, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define TINYC_DWI4_NOINLINE static __attribute__((noinline, unused))
#else
#define TINYC_DWI4_NOINLINE static
#endif

/* Two taps of four channels: acc[k] += xa[k] * wa[k] + xb[k] * wb[k]. PKHBT / PKHTB put the
 * two taps' bytes of channels {0, 1} and {2, 3} in one word each, SXTB16 pairs them per
 * channel, and the weights are stored so paired already. */
TINYC_DW3_INLINE void tinyc_dwi4_pair(const int8_t *xa, const int8_t *xb, const int8_t *w, tinyc_acc4 *acc)
{
    const uint32_t a = (uint32_t)tinyc_read_s8x4(xa);
    const uint32_t b = (uint32_t)tinyc_read_s8x4(xb);
    const int32_t lo = (int32_t)((a & 0xFFFFu) | (b << 16));          /* a0 a1 b0 b1 */
    const int32_t hi = (int32_t)((b & 0xFFFF0000u) | (a >> 16));      /* a2 a3 b2 b3 */
    const int32_t w01 = tinyc_read_s8x4(w);
    const int32_t w23 = tinyc_read_s8x4(w + 4);
    acc->a0 = tinyc_smlad(tinyc_sxtb16(lo), tinyc_sxtb16(w01), acc->a0);
    acc->a1 = tinyc_smlad(tinyc_sxtb16_ror8(lo), tinyc_sxtb16_ror8(w01), acc->a1);
    acc->a2 = tinyc_smlad(tinyc_sxtb16(hi), tinyc_sxtb16(w23), acc->a2);
    acc->a3 = tinyc_smlad(tinyc_sxtb16_ror8(hi), tinyc_sxtb16_ror8(w23), acc->a3);
}

/* One tap of four channels: acc[k] += x[k] * w[k]. */
TINYC_DW3_INLINE void tinyc_dwi4_single(const int8_t *x, const int8_t *w, tinyc_acc4 *acc)
{
    const int32_t xs = tinyc_read_s8x4(x);
    const int32_t ws = tinyc_read_s8x4(w);
    const int32_t x02 = tinyc_sxtb16(xs);
    const int32_t x13 = tinyc_sxtb16_ror8(xs);
    const int32_t w02 = tinyc_sxtb16(ws);
    const int32_t w13 = tinyc_sxtb16_ror8(ws);
    acc->a0 = tinyc_smlabb(x02, w02, acc->a0);
    acc->a1 = tinyc_smlabb(x13, w13, acc->a1);
    acc->a2 = tinyc_smlatt(x02, w02, acc->a2);
    acc->a3 = tinyc_smlatt(x13, w13, acc->a3);
}

typedef struct {
    const int32_t *bias, *multiplier, *requant;
    int32_t channels, taps, double_shift;
    tinyc_dw3_out o;
} tinyc_dwi4_layer;

/* The four outputs of one group through the proved tail (double_shift != 0) or the guarded one. */
TINYC_DW3_INLINE void tinyc_dwi4_store(const tinyc_dwi4_layer *layer, tinyc_acc4 acc, int32_t c, int full_range,
                                       int8_t *out)
{
    if (layer->double_shift != 0) {
        tinyc_dw3_store4_fast(acc, layer->multiplier, layer->requant + 2 * layer->channels, layer->double_shift, c,
                              layer->o, full_range, out);
    } else {
        tinyc_dw3_store4(acc, layer->multiplier, layer->requant, c, layer->o, full_range, out);
    }
}

/* One output pixel of a 3x3 window: the nine taps unrolled, four pairs and a single. */
TINYC_DW3_INLINE void tinyc_dwi4_pixel9(const tinyc_dwi4_layer *layer, const int8_t *const *tap, const int8_t *w,
                                        int full_range, int8_t *out)
{
    const int32_t channels = layer->channels;
    const int32_t *bias = layer->bias;
    int32_t c;
    for (c = 0; c < channels; c += 4) {
        tinyc_acc4 acc;
        acc.a0 = bias[c];
        acc.a1 = bias[c + 1];
        acc.a2 = bias[c + 2];
        acc.a3 = bias[c + 3];
        tinyc_dwi4_pair(tap[0] + c, tap[1] + c, w, &acc);
        tinyc_dwi4_pair(tap[2] + c, tap[3] + c, w + 8, &acc);
        tinyc_dwi4_pair(tap[4] + c, tap[5] + c, w + 16, &acc);
        tinyc_dwi4_pair(tap[6] + c, tap[7] + c, w + 24, &acc);
        tinyc_dwi4_single(tap[8] + c, w + 32, &acc);
        w += 36;
        tinyc_dwi4_store(layer, acc, c, full_range, out);
    }
}

/* One output pixel of any window of up to TINYC_DWI4_MAX_TAPS taps. */
TINYC_DW3_INLINE void tinyc_dwi4_pixel(const tinyc_dwi4_layer *layer, const int8_t *const *tap, const int8_t *w,
                                       int full_range, int8_t *out)
{
    const int32_t channels = layer->channels;
    const int32_t taps = layer->taps;
    const int32_t *bias = layer->bias;
    int32_t c, t;
    for (c = 0; c < channels; c += 4) {
        tinyc_acc4 acc;
        acc.a0 = bias[c];
        acc.a1 = bias[c + 1];
        acc.a2 = bias[c + 2];
        acc.a3 = bias[c + 3];
        for (t = 0; t + 2 <= taps; t += 2) {
            tinyc_dwi4_pair(tap[t] + c, tap[t + 1] + c, w, &acc);
            w += 8;
        }
        if (t < taps) {
            tinyc_dwi4_single(tap[t] + c, w, &acc);
            w += 4;
        }
        tinyc_dwi4_store(layer, acc, c, full_range, out);
    }
}

TINYC_DWI4_NOINLINE void tinyc_dwi4_pixel9_full(const tinyc_dwi4_layer *layer, const int8_t *const *tap,
                                                const int8_t *w, int8_t *out)
{
    tinyc_dwi4_pixel9(layer, tap, w, 1, out);
}

TINYC_DWI4_NOINLINE void tinyc_dwi4_pixel9_clamped(const tinyc_dwi4_layer *layer, const int8_t *const *tap,
                                                   const int8_t *w, int8_t *out)
{
    tinyc_dwi4_pixel9(layer, tap, w, 0, out);
}

TINYC_DWI4_NOINLINE void tinyc_dwi4_pixel_full(const tinyc_dwi4_layer *layer, const int8_t *const *tap,
                                               const int8_t *w, int8_t *out)
{
    tinyc_dwi4_pixel(layer, tap, w, 1, out);
}

TINYC_DWI4_NOINLINE void tinyc_dwi4_pixel_clamped(const tinyc_dwi4_layer *layer, const int8_t *const *tap,
                                                  const int8_t *w, int8_t *out)
{
    tinyc_dwi4_pixel(layer, tap, w, 0, out);
}
#endif /* TINYC_USE_SIMD */

void tinyc_depthwise_conv_inplace_c4_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                        const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                        const int8_t *pad, int8_t *output, int8_t *scratch)
{
    const int32_t in_w = params->in_w;
    const int32_t channels = params->in_c;
    const int32_t pixels = params->in_h * in_w;
    const int32_t taps = params->kernel_h * params->kernel_w;
    const int32_t ring = tinyc_dwi4_ring_pixels(params);
    int32_t b, s, ky, kx;
#if TINYC_USE_SIMD
    const int8_t *tap[TINYC_DWI4_MAX_TAPS];
    const int full_range = params->act_min == -128 && params->act_max == 127;
    tinyc_dwi4_layer layer;
    layer.bias = bias;
    layer.multiplier = multiplier;
    layer.requant = requant;
    layer.channels = channels;
    layer.taps = taps;
    layer.double_shift = requant[4 * channels];
    layer.o.output_offset = params->output_offset;
    layer.o.act_min = params->act_min;
    layer.o.act_max = params->act_max;
#else
    int32_t c, t;
#endif
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * pixels * channels;
        int8_t *out = output + b * pixels * channels;
        for (s = 0; s < pixels; ++s) {
            const int32_t oy = s / in_w;
            const int32_t ox = s - oy * in_w;
            const int32_t in_y0 = oy - params->pad_top;
            const int32_t in_x0 = ox - params->pad_left;
            memcpy(scratch + (s % ring) * channels, image + s * channels, (size_t)channels);
#if TINYC_USE_SIMD
            for (ky = 0; ky < params->kernel_h; ++ky) {
                for (kx = 0; kx < params->kernel_w; ++kx) {
                    tap[ky * params->kernel_w + kx] =
                        tinyc_dwi4_tap(params, image, scratch, ring, pad, s, in_y0 + ky * params->dilation_h,
                                       in_x0 + kx * params->dilation_w);
                }
            }
            if (taps == 9) {
                if (full_range) {
                    tinyc_dwi4_pixel9_full(&layer, tap, weights, out + s * channels);
                } else {
                    tinyc_dwi4_pixel9_clamped(&layer, tap, weights, out + s * channels);
                }
            } else if (full_range) {
                tinyc_dwi4_pixel_full(&layer, tap, weights, out + s * channels);
            } else {
                tinyc_dwi4_pixel_clamped(&layer, tap, weights, out + s * channels);
            }
#else
            for (c = 0; c < channels; ++c) {
                int32_t acc = bias[c];
                for (ky = 0; ky < params->kernel_h; ++ky) {
                    for (kx = 0; kx < params->kernel_w; ++kx) {
                        const int8_t *x = tinyc_dwi4_tap(params, image, scratch, ring, pad, s,
                                                         in_y0 + ky * params->dilation_h,
                                                         in_x0 + kx * params->dilation_w);
                        t = ky * params->kernel_w + kx;
                        acc += (int32_t)x[c] * (int32_t)weights[tinyc_dwi4_weight_index(taps, t, c)];
                    }
                }
                out[s * channels + c] = tinyc_requantize_s8(acc, multiplier[c], tinyc_tail_packed_shift(requant, c),
                                                            params->output_offset, params->act_min, params->act_max);
            }
#endif
        }
    }
}
