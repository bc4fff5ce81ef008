/*
 * The in-place NHWC depthwise conv of DSP cores, four channels at a time, shared by its int8-
 * and int16-weight kernels (tinyc_depthwise_conv_inplace_c4{,_w16}_s8; the records in
 * kernels/depthwise_inplace4.py say when each runs). tinyc_depthwise_conv_inplace_s8's
 * contract (multiplier 1, stride 1, "same" size; the output may start anywhere at or before
 * the input; scratch: a ring of R = pad_top * in_w + pad_left + 1 input pixels) and its
 * arithmetic bit for bit, with every constant prepared by the compiler:
 *
 *   weights per group of four channels its T = kernel_h * kernel_w taps, tap pairs (2p, 2p + 1)
 *           paired per channel for SMLAD (a, b the pair's taps, 0..3 the channels):
 *           int8:  two words {a0, a1, b0, b1} {a2, a3, b2, b3} (SXTB16 pairs them),
 *           int16: four words {a0, b0} {a1, b1} {a2, b2} {a3, b3}, and where the tail is
 *           proved, these weights and the biases below shifted left by its double shift, so
 *           the tail needs no shift (the compiler proved acc << double_shift fits);
 *           an odd last tap as int8 {w0, w1, w2, w3}, int16 {w0, w2} {w1, w3};
 *   consts  per group of four channels 16 words, what its pixels read in one place: the bias
 *           (the model's plus input_offset * the channel's weight sum) of the four channels,
 *           their multipliers, and the proved tail's (k, right_shift) per channel
 *           (kernels/depthwise3x3.py fast_tail_table; 0 where not proved), or for the
 *           _single kernels the single-rounding tail's (offset, 0) (kernels/single_tail.py,
 *           which proved it for every channel);
 *   requant [channels][2] requant_tail.h's packed constants (the guarded tail's and the
 *           portable path's shift), then the proved tail's shared double shift, or 0
 *           (the _single kernels: the single tail's, never 0);
 *   pad     [channels]: the input zero point: a tap outside the image reads it, so that
 *           (x + input_offset) * w is 0 there and every window sums x * w over all its taps
 *           plus the folded bias, the same number as the reference's clipped sum.
 *
 * Order (kernels/access.py depthwise_inplace, as tinyc_depthwise_conv_inplace_s8): per image,
 * per pixel s in raster order: copy input pixel s into ring slot s % R; then per group of four
 * channels: read the group's taps (those at or before s from the ring, the later ones from
 * the input, which no write has reached yet), then write its four outputs (the model's
 * per-channel blocks merged: the reads come earlier, the writes in the same order).
 *
 * SIMD path: the window's T tap addresses are listed once per pixel; per group, a pair of
 * taps is two input words, PKHBT / PKHTB pairing their channels, four SXTB16 and four SMLAD
 * (eight MACs; int8 weights four SXTB16 more); then the proved tail (SMMULR, two adds, a
 * shift, SSAT per output). Portable path: the same layouts in plain loops. Not part of the
 * public API.
 */
#ifndef TINYC_DW_INPLACE4_H
#define TINYC_DW_INPLACE4_H

#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/depthwise.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

#define TINYC_DWI4_MAX_TAPS 25 /* the records' limit: kernel_h * kernel_w <= 25 */

#if defined(__GNUC__)
#define TINYC_DWI4_INLINE static inline __attribute__((always_inline))
#else
#define TINYC_DWI4_INLINE static inline
#endif

static inline int32_t tinyc_dwi4_ring_pixels(const tinyc_conv_params *params)
{
    const int32_t pixels = params->in_h * params->in_w;
    const int32_t ring = params->pad_top * params->in_w + params->pad_left + 1;
    return ring < pixels ? ring : pixels;
}

/* Weight of tap t, channel c (portable path). */
static inline int32_t tinyc_dwi4_weight(const void *weights, int wide, int32_t taps, int32_t t, int32_t c)
{
    const int32_t group = (c >> 2) * taps * 4;
    const int32_t lane = c & 3;
    if (wide) {
        const int16_t *w = (const int16_t *)weights;
        if (t < (taps & ~1)) {
            return w[group + (t >> 1) * 8 + lane * 2 + (t & 1)];
        }
        return w[group + t * 4 + ((lane & 1) << 1) + (lane >> 1)];
    } else {
        const int8_t *w = (const int8_t *)weights;
        if (t < (taps & ~1)) {
            return w[group + (t >> 1) * 8 + (lane >> 1) * 4 + (t & 1) * 2 + (lane & 1)];
        }
        return w[group + t * 4 + lane];
    }
}

/* The address tap (in_y, in_x) of output pixel s reads, channel 0: the pad row outside the
 * image, the ring at or before s (the output may cover the input there), the input after s. */
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

/* The channels of two taps' input words paired: lo = {a0, a1, b0, b1}, hi = {a2, a3, b2, b3}. */
typedef struct {
    int32_t lo, hi;
} tinyc_dwi4_x2;

TINYC_DWI4_INLINE tinyc_dwi4_x2 tinyc_dwi4_pair_inputs(const int8_t *xa, const int8_t *xb)
{
    const int32_t a = tinyc_read_s8x4(xa);
    const int32_t b = tinyc_read_s8x4(xb);
    tinyc_dwi4_x2 x;
    x.lo = tinyc_pkhbt_lsl16(a, b);
    x.hi = tinyc_pkhtb_asr16(b, a);
    return x;
}

/* Two taps of four channels: acc[k] += xa[k] * wa[k] + xb[k] * wb[k]. */
TINYC_DWI4_INLINE void tinyc_dwi4_pair(const int8_t *xa, const int8_t *xb, const void *w, int wide, tinyc_acc4 *acc)
{
    const tinyc_dwi4_x2 x = tinyc_dwi4_pair_inputs(xa, xb);
    int32_t w0, w1, w2, w3;
    if (wide) {
        const int32_t *w32 = (const int32_t *)w;
        w0 = w32[0];
        w1 = w32[1];
        w2 = w32[2];
        w3 = w32[3];
    } else {
        const int32_t w01 = tinyc_read_s8x4((const int8_t *)w);
        const int32_t w23 = tinyc_read_s8x4((const int8_t *)w + 4);
        w0 = tinyc_sxtb16(w01);
        w1 = tinyc_sxtb16_ror8(w01);
        w2 = tinyc_sxtb16(w23);
        w3 = tinyc_sxtb16_ror8(w23);
    }
    acc->a0 = tinyc_smlad(tinyc_sxtb16(x.lo), w0, acc->a0);
    acc->a1 = tinyc_smlad(tinyc_sxtb16_ror8(x.lo), w1, acc->a1);
    acc->a2 = tinyc_smlad(tinyc_sxtb16(x.hi), w2, acc->a2);
    acc->a3 = tinyc_smlad(tinyc_sxtb16_ror8(x.hi), w3, acc->a3);
}

/* One tap of four channels: acc[k] += x[k] * w[k]. */
TINYC_DWI4_INLINE void tinyc_dwi4_single(const int8_t *x, const void *w, int wide, tinyc_acc4 *acc)
{
    const int32_t xs = tinyc_read_s8x4(x);
    const int32_t x02 = tinyc_sxtb16(xs);
    const int32_t x13 = tinyc_sxtb16_ror8(xs);
    int32_t w02, w13;
    if (wide) {
        w02 = ((const int32_t *)w)[0];
        w13 = ((const int32_t *)w)[1];
    } else {
        const int32_t ws = tinyc_read_s8x4((const int8_t *)w);
        w02 = tinyc_sxtb16(ws);
        w13 = tinyc_sxtb16_ror8(ws);
    }
    acc->a0 = tinyc_smlabb(x02, w02, acc->a0);
    acc->a1 = tinyc_smlabb(x13, w13, acc->a1);
    acc->a2 = tinyc_smlatt(x02, w02, acc->a2);
    acc->a3 = tinyc_smlatt(x13, w13, acc->a3);
}

/* The proved tail (kernels/depthwise3x3.py fast_tail_table: the compiler has shown that
 * 2 * (acc << double_shift) fits int32 for every accumulator the window can produce, that
 * right_shift >= 1 and that v + k + (v >> 31) cannot overflow, so requant_tail.h's guard,
 * sign mask and offset add are not needed), with SMMLAR adding k + (acc >> 31) to the
 * product's rounded high word v in the same instruction. acc >> 31
 * stands for v >> 31: the multiplier is >= 0, so v < 0 only if acc < 0, and where acc < 0 but
 * v == 0, (k + 0) >> rs == (k - 1) >> rs == output_offset (k = round + (output_offset << rs),
 * rs >= 1, round = 2^(rs - 1)); the compiler's bounds on v + k + (v >> 31) cover the sum. */
TINYC_DWI4_INLINE int32_t tinyc_dwi4_fast_tail(int32_t acc, int32_t m, const int32_t *fast, int32_t double_shift)
{
    return tinyc_smmlar((int32_t)((uint32_t)acc << double_shift), m, fast[0] + (acc >> 31)) >> fast[1];
}

/* What every pixel of a layer shares. */
typedef struct {
    const int32_t *consts, *requant;
    int32_t channels, taps, double_shift;
    int32_t output_offset, act_min, act_max;
} tinyc_dwi4_layer;

/* The tail a pixel loop ends with (its `proved` argument): the guarded one, the proved
 * TFLite-form one (fast_tail_table), or the single-rounding one (kernels/single_tail.py: the
 * _single kernels, whose consts carry (offset, 0) where the others carry (k, right_shift)). */
enum { TINYC_DWI4_GUARDED, TINYC_DWI4_PROVED, TINYC_DWI4_SINGLE };

/* One output pixel: its taps' addresses listed in tap[], w the weights (bytes), wide: int16
 * weights, nine: a 3x3 window (unrolled), proved: the tail (above), full_range: the
 * activation range is all of int8. */
TINYC_DWI4_INLINE void tinyc_dwi4_pixel(const tinyc_dwi4_layer *layer, const int8_t *const *tap, const int8_t *w,
                                       int wide, int nine, int proved, int full_range, int8_t *out)
{
    const int32_t channels = layer->channels;
    const int32_t taps = nine ? 9 : layer->taps;
    const int32_t *requant = layer->requant;
    /* int16 weights and their biases come pre-shifted by the proved tail's double shift
     * (kernels/depthwise_inplace4.py): the accumulator is acc << double_shift already */
    const int32_t double_shift = wide ? 0 : layer->double_shift;
    const int32_t output_offset = layer->output_offset, act_min = layer->act_min, act_max = layer->act_max;
    const int32_t pair_bytes = wide ? 16 : 8;
    const int32_t single_bytes = wide ? 8 : 4;
    int32_t c, t;
    for (c = 0; c < channels; c += 4) {
        const int32_t *g = layer->consts + 4 * c; /* bias[4], multiplier[4], (k, right_shift)[4] */
        tinyc_acc4 acc;
        acc.a0 = g[0];
        acc.a1 = g[1];
        acc.a2 = g[2];
        acc.a3 = g[3];
        if (nine) {
            tinyc_dwi4_pair(tap[0] + c, tap[1] + c, w, wide, &acc);
            tinyc_dwi4_pair(tap[2] + c, tap[3] + c, w + pair_bytes, wide, &acc);
            tinyc_dwi4_pair(tap[4] + c, tap[5] + c, w + 2 * pair_bytes, wide, &acc);
            tinyc_dwi4_pair(tap[6] + c, tap[7] + c, w + 3 * pair_bytes, wide, &acc);
            tinyc_dwi4_single(tap[8] + c, w + 4 * pair_bytes, wide, &acc);
            w += 4 * pair_bytes + single_bytes;
        } else {
            for (t = 0; t + 2 <= taps; t += 2) {
                tinyc_dwi4_pair(tap[t] + c, tap[t + 1] + c, w, wide, &acc);
                w += pair_bytes;
            }
            if (t < taps) {
                tinyc_dwi4_single(tap[t] + c, w, wide, &acc);
                w += single_bytes;
            }
        }
        if (proved == TINYC_DWI4_SINGLE) { /* requant_tail.h's single-rounding tail: SMMLAR, clamp */
            out[c] = tinyc_tail_clamp_s8(tinyc_tail_single(acc.a0, g[4], g[8], double_shift), act_min, act_max,
                                         full_range);
            out[c + 1] = tinyc_tail_clamp_s8(tinyc_tail_single(acc.a1, g[5], g[10], double_shift), act_min,
                                             act_max, full_range);
            out[c + 2] = tinyc_tail_clamp_s8(tinyc_tail_single(acc.a2, g[6], g[12], double_shift), act_min,
                                             act_max, full_range);
            out[c + 3] = tinyc_tail_clamp_s8(tinyc_tail_single(acc.a3, g[7], g[14], double_shift), act_min,
                                             act_max, full_range);
        } else if (proved) { /* the proved tail, its constants from the group's words */
            out[c] = tinyc_tail_clamp_s8(tinyc_dwi4_fast_tail(acc.a0, g[4], g + 8, double_shift), act_min, act_max, full_range);
            out[c + 1] = tinyc_tail_clamp_s8(tinyc_dwi4_fast_tail(acc.a1, g[5], g + 10, double_shift), act_min, act_max, full_range);
            out[c + 2] = tinyc_tail_clamp_s8(tinyc_dwi4_fast_tail(acc.a2, g[6], g + 12, double_shift), act_min, act_max, full_range);
            out[c + 3] = tinyc_tail_clamp_s8(tinyc_dwi4_fast_tail(acc.a3, g[7], g + 14, double_shift), act_min, act_max, full_range);
        } else { /* requant_tail.h's guarded tail */
            const int32_t *r = requant + 2 * c;
            out[c] = tinyc_tail_s8(acc.a0, tinyc_tail_channel_packed(g + 4, r, 0), output_offset, act_min,
                                   act_max, full_range);
            out[c + 1] = tinyc_tail_s8(acc.a1, tinyc_tail_channel_packed(g + 5, r + 2, 0), output_offset,
                                       act_min, act_max, full_range);
            out[c + 2] = tinyc_tail_s8(acc.a2, tinyc_tail_channel_packed(g + 6, r + 4, 0), output_offset,
                                       act_min, act_max, full_range);
            out[c + 3] = tinyc_tail_s8(acc.a3, tinyc_tail_channel_packed(g + 7, r + 6, 0), output_offset,
                                       act_min, act_max, full_range);
        }
    }
}

typedef void (*tinyc_dwi4_pixel_fn)(const tinyc_dwi4_layer *layer, const int8_t *const *tap, const int8_t *w,
                                    int8_t *out);

/* The pixel loops a kernel picks from once per call: int8 or int16 weights (wide), a 3x3
 * window unrolled (9) or any (n), the proved tail (or the guarded one for a layer whose tail is
 * not proved), the full int8 range or a clamp. */
#define TINYC_DWI4_PIXEL(name, wide, nine, proved, full_range)                                                       \
    TINYC_DWI4_NOINLINE void name(const tinyc_dwi4_layer *layer, const int8_t *const *tap, const int8_t *w,        \
                                  int8_t *out)                                                                      \
    {                                                                                                               \
        tinyc_dwi4_pixel(layer, tap, w, wide, nine, proved, full_range, out);                                      \
    }

/* The kernel's pixel loop for weights of the given width: one tinyc_dwi4_pixel_fn chosen per
 * call (the shape and tail cases it may meet), then per pixel: the ring copy, the tap list,
 * the pixel. */
TINYC_DWI4_INLINE tinyc_dwi4_pixel_fn tinyc_dwi4_choose(const tinyc_dwi4_pixel_fn fns[6], int32_t taps,
                                                       int32_t double_shift, int full_range)
{
    if (double_shift == 0) {
        return fns[full_range ? 5 : 4];
    }
    return fns[(taps == 9 ? 0 : 2) + (full_range ? 0 : 1)];
}

/* Input pixel s into its ring slot, a word at a time (channels % 4 == 0). */
TINYC_DWI4_INLINE void tinyc_dwi4_save(int8_t *slot, const int8_t *pixel, int32_t channels)
{
    int32_t k;
    for (k = 0; k < channels; k += 4) {
        const int32_t v = tinyc_read_s8x4(pixel + k);
        memcpy(slot + k, &v, sizeof v);
    }
}

TINYC_DWI4_INLINE void tinyc_dwi4_run_simd(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                          const int32_t *consts, const int32_t *requant, const int8_t *pad,
                                          int8_t *output, int8_t *scratch, const tinyc_dwi4_pixel_fn fns[6])
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t channels = params->in_c;
    const int32_t pixels = in_h * in_w;
    const int32_t ring_bytes = tinyc_dwi4_ring_pixels(params) * channels;
    const int8_t *tap[TINYC_DWI4_MAX_TAPS];
    /* For windows inside the image: the taps at or before s (ring) first, then those after it
     * (input): tap index and its distance in bytes from pixel s. */
    int32_t order_delta[TINYC_DWI4_MAX_TAPS];
    int16_t order_dy[TINYC_DWI4_MAX_TAPS], order_dx[TINYC_DWI4_MAX_TAPS]; /* its offset in rows, columns */
    uint8_t order_tap[TINYC_DWI4_MAX_TAPS];
    int32_t ring_taps = 0, input_taps = 0;
    int32_t y_lo = 0, y_hi = 0, x_lo = 0, x_hi = 0; /* the window's reach around the pixel */
    tinyc_dwi4_layer layer;
    tinyc_dwi4_pixel_fn pixel;
    int32_t b, s, t, ky, kx;
    layer.consts = consts;
    layer.requant = requant;
    layer.channels = channels;
    layer.taps = kernel_h * kernel_w;
    layer.double_shift = requant[2 * channels];
    layer.output_offset = params->output_offset;
    layer.act_min = params->act_min;
    layer.act_max = params->act_max;
    pixel = tinyc_dwi4_choose(fns, layer.taps, layer.double_shift, params->act_min == -128 && params->act_max == 127);
    /* Tap (ky, kx) of pixel (oy, ox) is input pixel (oy + dy, ox + dx), delta bytes from pixel
     * s: at or before s (delta <= 0) it is in the ring, delta bytes from s's slot (mod the
     * ring), after s in the input. */
    for (t = 0; t < 2; ++t) {
        for (ky = 0; ky < kernel_h; ++ky) {
            const int32_t dy = ky * params->dilation_h - params->pad_top;
            for (kx = 0; kx < kernel_w; ++kx) {
                const int32_t dx = kx * params->dilation_w - params->pad_left;
                const int32_t delta = (dy * in_w + dx) * channels;
                if ((delta <= 0) == (t == 0)) {
                    order_tap[ring_taps + input_taps] = (uint8_t)(ky * kernel_w + kx);
                    order_delta[ring_taps + input_taps] = delta;
                    order_dy[ring_taps + input_taps] = (int16_t)dy;
                    order_dx[ring_taps + input_taps] = (int16_t)dx;
                    ring_taps += t == 0;
                    input_taps += t == 1;
                }
                y_lo = dy < y_lo ? dy : y_lo;
                y_hi = dy > y_hi ? dy : y_hi;
                x_lo = dx < x_lo ? dx : x_lo;
                x_hi = dx > x_hi ? dx : x_hi;
            }
        }
    }
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * pixels * channels;
        int8_t *out = output + b * pixels * channels;
        int32_t oy = 0, ox = 0, slot = 0; /* s = oy * in_w + ox; slot = (s % ring) * channels */
        for (s = 0; s < pixels; ++s) {
            const int8_t *here = image + s * channels;
            tinyc_dwi4_save(scratch + slot, here, channels);
            if (oy + y_lo >= 0 && oy + y_hi < in_h && ox + x_lo >= 0 && ox + x_hi < in_w) {
                for (t = 0; t < ring_taps; ++t) {
                    const int32_t k = slot + order_delta[t];
                    tap[order_tap[t]] = scratch + (k < 0 ? k + ring_bytes : k);
                }
                for (; t < ring_taps + input_taps; ++t) {
                    tap[order_tap[t]] = here + order_delta[t];
                }
            } else { /* a window reaching past the image: its taps there read the pad row */
                for (t = 0; t < ring_taps; ++t) {
                    const int32_t k = slot + order_delta[t];
                    const int outside = (uint32_t)(oy + order_dy[t]) >= (uint32_t)in_h ||
                                        (uint32_t)(ox + order_dx[t]) >= (uint32_t)in_w;
                    tap[order_tap[t]] = outside ? pad : scratch + (k < 0 ? k + ring_bytes : k);
                }
                for (; t < ring_taps + input_taps; ++t) {
                    const int outside = (uint32_t)(oy + order_dy[t]) >= (uint32_t)in_h ||
                                        (uint32_t)(ox + order_dx[t]) >= (uint32_t)in_w;
                    tap[order_tap[t]] = outside ? pad : here + order_delta[t];
                }
            }
            pixel(&layer, tap, weights, out + s * channels);
            slot += channels;
            slot = slot == ring_bytes ? 0 : slot;
            if (++ox == in_w) {
                ox = 0;
                ++oy;
            }
        }
    }
}
#endif /* TINYC_USE_SIMD */

/* The portable path: the same layouts, one channel at a time, requant.h's reference tail. */
static inline void tinyc_dwi4_run_portable(const tinyc_conv_params *params, const int8_t *input, const void *weights,
                                           int wide, const int32_t *consts, const int32_t *requant,
                                           const int8_t *pad, int8_t *output, int8_t *scratch)
{
    const int32_t in_w = params->in_w;
    const int32_t channels = params->in_c;
    const int32_t pixels = params->in_h * in_w;
    const int32_t taps = params->kernel_h * params->kernel_w;
    const int32_t ring = tinyc_dwi4_ring_pixels(params);
    int32_t b, s, c, ky, kx;
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * pixels * channels;
        int8_t *out = output + b * pixels * channels;
        for (s = 0; s < pixels; ++s) {
            const int32_t oy = s / in_w;
            const int32_t in_y0 = oy - params->pad_top;
            const int32_t in_x0 = s - oy * in_w - params->pad_left;
            memcpy(scratch + (s % ring) * channels, image + s * channels, (size_t)channels);
            for (c = 0; c < channels; ++c) {
                const int32_t *g = consts + 4 * (c & ~3) + (c & 3); /* bias, then multiplier 4 on */
                int32_t acc = g[0];
                for (ky = 0; ky < params->kernel_h; ++ky) {
                    for (kx = 0; kx < params->kernel_w; ++kx) {
                        const int8_t *x = tinyc_dwi4_tap(params, image, scratch, ring, pad, s,
                                                         in_y0 + ky * params->dilation_h,
                                                         in_x0 + kx * params->dilation_w);
                        acc += (int32_t)x[c] * tinyc_dwi4_weight(weights, wide, taps, ky * params->kernel_w + kx, c);
                    }
                }
                if (wide && requant[2 * channels] != 0) {
                    acc /= (int32_t)1 << requant[2 * channels]; /* pre-shifted: exact */
                }
                out[s * channels + c] = tinyc_requantize_s8(acc, g[4], tinyc_tail_packed_shift(requant, c),
                                                            params->output_offset, params->act_min, params->act_max);
            }
        }
    }
}

#endif /* TINYC_DW_INPLACE4_H */
