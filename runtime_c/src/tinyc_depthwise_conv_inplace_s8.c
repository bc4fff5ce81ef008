/*
 * Depthwise 2-D convolution that may write its output over its own input, NHWC, int8.
 *
 * For depthwise multiplier 1, stride 1 and an output as large as the input ("same"
 * padding): the output may start anywhere at or before the input (offset(input) -
 * offset(output) >= 0, exactly in place included), so a chain of such layers needs no
 * second buffer. The arithmetic is tinyc_depthwise_conv_s8's, bit for bit.
 *
 * Output pixels are produced in raster order s = 0, 1, ...; writing pixel s can only land
 * on input pixels <= s. So, before computing pixel s, input pixel s is saved into a ring
 * of R = pad_top * in_w + pad_left + 1 pixels (the scratch): every window tap at or before
 * s is read from the ring (the oldest pixel any later window still reads is s - R + 1), and
 * every tap after s from the input itself, which no write has reached yet.
 *
 * Order (kernels/access.py models it): per image, per pixel s: copy input pixel s to the
 * ring; then per channel c: read the taps, write output (s, c).
 *
 * SIMD path (TINYC_USE_SIMD, windows of up to TINYC_DW_MAX_TAPS taps; tinyc/depthwise.h):
 * per pixel s, after the copy into the ring, the window's taps inside the input are listed
 * once (each from the ring or from the input, as above, with its weights), then four
 * channels at a time run over the list (tinyc_dw_mac4) and write their four outputs after
 * their reads: the model's consecutive blocks merged, so the overlap it allows stays safe.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/depthwise.h"
#include "tinyc/requant.h"

static int32_t tinyc_dw_inplace_ring_pixels(const tinyc_conv_params *params)
{
    const int32_t pixels = params->in_h * params->in_w;
    const int32_t ring = params->pad_top * params->in_w + params->pad_left + 1;
    return ring < pixels ? ring : pixels;
}

int32_t tinyc_depthwise_conv_inplace_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return tinyc_dw_inplace_ring_pixels(params) * params->in_c;
}

void tinyc_depthwise_conv_inplace_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                     int8_t *output, int8_t *scratch)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->in_c;
    const int32_t pixels = in_h * in_w;
    const int32_t ring = tinyc_dw_inplace_ring_pixels(params);
    int32_t b, s, c, k, ky, kx;

#if TINYC_USE_SIMD
    if (params->kernel_h * params->kernel_w <= TINYC_DW_MAX_TAPS) {
        tinyc_dw_tap taps[TINYC_DW_MAX_TAPS];
        for (b = 0; b < params->batch; ++b) {
            const int8_t *image = input + b * pixels * channels;
            int8_t *out = output + b * pixels * channels;
            for (s = 0; s < pixels; ++s) {
                const int32_t oy = s / in_w;
                const int32_t ox = s - oy * in_w;
                const int32_t in_y0 = oy - params->pad_top;
                const int32_t in_x0 = ox - params->pad_left;
                const int32_t ky_lo = tinyc_dw_first_tap(in_y0, params->dilation_h);
                const int32_t ky_hi = tinyc_dw_end_tap(in_y0, params->dilation_h, in_h, params->kernel_h);
                const int32_t kx_lo = tinyc_dw_first_tap(in_x0, params->dilation_w);
                const int32_t kx_hi = tinyc_dw_end_tap(in_x0, params->dilation_w, in_w, params->kernel_w);
                int32_t count = 0;
                memcpy(scratch + (s % ring) * channels, image + s * channels, (size_t)channels);
                for (ky = ky_lo; ky < ky_hi; ++ky) {
                    const int32_t in_y = in_y0 + ky * params->dilation_h;
                    for (kx = kx_lo; kx < kx_hi; ++kx) {
                        const int32_t r = in_y * in_w + in_x0 + kx * params->dilation_w;
                        /* at or before s: saved in the ring (the output may cover it now) */
                        taps[count].x = r <= s ? scratch + (r % ring) * channels : image + r * channels;
                        taps[count].w = weights + (ky * params->kernel_w + kx) * channels;
                        ++count;
                    }
                }
                tinyc_dw_taps_pixel(params, taps, count, 0, bias, multiplier, shift, out + s * channels);
            }
        }
        return;
    }
#endif
    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * pixels * channels;
        int8_t *out = output + b * pixels * channels;
        for (s = 0; s < pixels; ++s) {
            const int32_t oy = s / in_w;
            const int32_t ox = s - oy * in_w;
            int8_t *slot = scratch + (s % ring) * channels;
            for (k = 0; k < channels; ++k) {
                slot[k] = image[s * channels + k];
            }
            for (c = 0; c < channels; ++c) {
                int32_t acc = 0;
                for (ky = 0; ky < params->kernel_h; ++ky) {
                    const int32_t in_y = oy - params->pad_top + ky * params->dilation_h;
                    if (in_y < 0 || in_y >= in_h) {
                        continue;
                    }
                    for (kx = 0; kx < params->kernel_w; ++kx) {
                        const int32_t in_x = ox - params->pad_left + kx * params->dilation_w;
                        int32_t r, x;
                        if (in_x < 0 || in_x >= in_w) {
                            continue;
                        }
                        r = in_y * in_w + in_x;
                        /* at or before s: saved in the ring (the output may cover it now) */
                        x = r <= s ? scratch[(r % ring) * channels + c] : image[r * channels + c];
                        acc += (x + params->input_offset) * (int32_t)weights[(ky * params->kernel_w + kx) * channels + c];
                    }
                }
                if (bias != 0) {
                    acc += bias[c];
                }
                out[s * channels + c] = tinyc_requantize_s8(acc, multiplier[c], shift[c], params->output_offset,
                                                            params->act_min, params->act_max);
            }
        }
    }
}
