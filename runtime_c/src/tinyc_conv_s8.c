/*
 * Regular and grouped 2-D convolution, int8 (TFLite's ConvPerChannel reference kernel).
 *
 * input NHWC, weights OHWI ([out_c][kernel_h][kernel_w][in_c / groups]), output NHWC.
 * For every output value: acc = sum over the window of (x + input_offset) * w, padding taps
 * skipped (they read the input zero point, so they add 0), then + bias, then the shared
 * requantize tail. The portable path walks one output pixel at a time and keeps the inner
 * dot product over input channels in its own function.
 *
 * The SIMD path (TINYC_USE_SIMD) keeps the same pixel order but computes four output channels
 * of a pixel at once (tinyc/dot_s8.h: SXTAB16 + SMLAD), reading the pixel's window once for
 * the four and writing their four bytes after it: consecutive blocks of the access model
 * (kernels/access.py _conv) merged, which never changes what the model allows. The window
 * is walked in contiguous runs: with one group and no horizontal dilation, the in-bounds
 * taps of a kernel row are (kx_hi - kx_lo) * in_c consecutive bytes of the input and of
 * the OHWI filter alike, so a 1x1 or KxK conv is one dot product per kernel row; otherwise
 * one run per tap (its group's channels). Params and per-channel constants are copied to
 * locals (an int8 store may alias them).
 */
#include "tinyc/dot_s8.h"
#include "tinyc/requant.h"
#include "tinyc/tinyc_nn.h"

#if !TINYC_USE_SIMD
/* sum_k (x[k] + input_offset) * w[k]: the inner loop over the channels of one tap. */
static int32_t tinyc_conv_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t input_offset)
{
    int32_t acc = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += ((int32_t)x[k] + input_offset) * (int32_t)w[k];
    }
    return acc;
}
#endif

int32_t tinyc_conv_s8_get_buffer_size(const tinyc_conv_params *params)
{
    (void)params;
    return 0; /* the portable path needs no scratch */
}

void tinyc_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                   const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
#if TINYC_USE_SIMD
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
    const int32_t dilation_h = params->dilation_h;
    const int32_t dilation_w = params->dilation_w;
    const int32_t pad_top = params->pad_top;
    const int32_t pad_left = params->pad_left;
    const int32_t groups = params->groups;
    const int32_t input_offset = params->input_offset;
    const int32_t group_in_c = in_c / groups;
    const int32_t group_out_c = out_c / groups;
    const int32_t filter_size = kernel_h * kernel_w * group_in_c;
    /* One run per kernel row (contiguous taps and channels), or one per tap. */
    const int32_t row_runs = groups == 1 && dilation_w == 1;
    const int32_t output_offset = params->output_offset;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t b, oy, ox, g, oc, ky, kx;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * stride_h - pad_top;
            int8_t *out = output + (b * out_h + oy) * out_row_pitch;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * stride_w - pad_left;
                /* The in-bounds taps of a kernel row: kx_lo <= kx < kx_hi (dilation 1). */
                const int32_t kx_lo = in_x0 < 0 ? -in_x0 : 0;
                const int32_t kx_hi = in_w - in_x0 < kernel_w ? in_w - in_x0 : kernel_w;
                int32_t ky_lo = 0, ky_hi = kernel_h;
                while (ky_lo < kernel_h && in_y0 + ky_lo * dilation_h < 0) {
                    ++ky_lo;
                }
                while (ky_hi > ky_lo && in_y0 + (ky_hi - 1) * dilation_h >= in_h) {
                    --ky_hi;
                }
                for (g = 0; g < groups; ++g) {
                    const int32_t channel0 = g * group_in_c;
                    const int32_t oc_end = (g + 1) * group_out_c;
                    for (oc = g * group_out_c; oc < oc_end; oc += 4) {
                        const int32_t count = oc_end - oc < 4 ? oc_end - oc : 4;
                        const int8_t *filter = weights + oc * filter_size;
                        int32_t acc[4] = {0, 0, 0, 0};
                        int32_t j;
                        if (row_runs && kx_hi > kx_lo && ky_hi > ky_lo) {
                            /* The in-bounds window: rows ky_lo..ky_hi-1, each one run. */
                            const int8_t *x0 = image + (in_y0 + ky_lo * dilation_h) * in_row_pitch + (in_x0 + kx_lo) * in_c;
                            const int8_t *w0 = filter + (ky_lo * kernel_w + kx_lo) * in_c;
                            const int32_t x_stride = dilation_h * in_row_pitch;
                            const int32_t w_stride = kernel_w * in_c;
                            const int32_t run = (kx_hi - kx_lo) * in_c;
                            if (count == 4) {
                                tinyc_dot4_window_s8(x0, x_stride, w0, w_stride, filter_size, ky_hi - ky_lo, run,
                                                     input_offset, acc);
                            } else {
                                for (ky = 0; ky < ky_hi - ky_lo; ++ky) {
                                    for (j = 0; j < count; ++j) {
                                        acc[j] = tinyc_dot1_s8(x0 + ky * x_stride, w0 + j * filter_size + ky * w_stride,
                                                               run, input_offset, 0, acc[j]);
                                    }
                                }
                            }
                        } else if (!row_runs) {
                            for (ky = ky_lo; ky < ky_hi; ++ky) {
                                const int32_t in_y = in_y0 + ky * dilation_h;
                                const int8_t *row = image + in_y * in_row_pitch;
                                const int8_t *filter_row = filter + ky * kernel_w * group_in_c;
                                for (kx = 0; kx < kernel_w; ++kx) {
                                    const int32_t in_x = in_x0 + kx * dilation_w;
                                    const int8_t *tap = row + in_x * in_c + channel0;
                                    const int8_t *filter_tap = filter_row + kx * group_in_c;
                                    if (in_x < 0 || in_x >= in_w) {
                                        continue;
                                    }
                                    if (count == 4) {
                                        tinyc_dot4_s8(tap, filter_tap, filter_size, group_in_c, input_offset, 0, acc);
                                    } else {
                                        for (j = 0; j < count; ++j) {
                                            acc[j] = tinyc_dot1_s8(tap, filter_tap + j * filter_size, group_in_c,
                                                                   input_offset, 0, acc[j]);
                                        }
                                    }
                                }
                            }
                        }
                        tinyc_requantize_channels_s8(acc, count, bias != 0 ? bias + oc : 0, multiplier + oc,
                                                     shift + oc, output_offset, act_min, act_max, out);
                        out += count;
                    }
                }
            }
        }
    }
#else
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t out_c = params->out_c;
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t group_in_c = in_c / params->groups;
    const int32_t group_out_c = out_c / params->groups;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t b, oy, ox, oc, ky, kx;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t in_y0 = oy * params->stride_h - params->pad_top;
            int8_t *out = output + (b * params->out_h + oy) * out_row_pitch;
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t channel0 = (oc / group_out_c) * group_in_c;
                    const int8_t *filter = weights + oc * kernel_h * kernel_w * group_in_c;
                    int32_t acc = 0;
                    for (ky = 0; ky < kernel_h; ++ky) {
                        const int32_t in_y = in_y0 + ky * params->dilation_h;
                        if (in_y < 0 || in_y >= in_h) {
                            continue;
                        }
                        for (kx = 0; kx < kernel_w; ++kx) {
                            const int32_t in_x = in_x0 + kx * params->dilation_w;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            acc += tinyc_conv_dot_s8(image + in_y * in_row_pitch + in_x * in_c + channel0,
                                                     filter + (ky * kernel_w + kx) * group_in_c, group_in_c,
                                                     params->input_offset);
                        }
                    }
                    if (bias != 0) {
                        acc += bias[oc];
                    }
                    *out++ = tinyc_requantize_s8(acc, multiplier[oc], shift[oc], params->output_offset,
                                                 params->act_min, params->act_max);
                }
            }
        }
    }
#endif
}
