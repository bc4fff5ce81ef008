/*
 * Depthwise 2-D convolution on channel-major (CHW) images, one channel at a time, int8
 * (TinyEngine's in-place depthwise): output channel c is computed into a one-channel
 * scratch (out_h * out_w bytes), then copied over output plane c. Input plane c is read
 * only while channel c is computed, so when the planes keep their size the output may sit
 * exactly over the input, or anywhere before it (offset(input) - offset(output) >= 0;
 * kernels/access.py derives the distance for every shape).
 *
 * Depthwise multiplier 1 (out_c == in_c == groups); any kernel size, stride, dilation and
 * padding. input and output are [batch][channels][h][w]; weights [channels][kernel_h]
 * [kernel_w]. The arithmetic is tinyc_depthwise_conv_s8's, bit for bit.
 *
 * SIMD path (TINYC_USE_SIMD; kernel_w 3, stride_w 1, dilation_w 1, up to
 * TINYC_DW_CHW_MAX_ROWS kernel rows): the taps along a row are contiguous, so two adjacent
 * outputs come from one word of four inputs (a0..a3) per kernel row: with the weights packed
 * once per channel as (w0, w2) and w1, out(ox) += SMLAD((a0, a2), (w0, w2)) + a1 * w1 and
 * out(ox + 1) += SMLAD((a1, a3), (w0, w2)) + a2 * w1: seven instructions for six MACs.
 * Outputs whose window is clipped on the left or right run the portable arithmetic. The
 * order of reads and writes (whole plane into the scratch, then the copy) is unchanged.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/depthwise.h"
#include "tinyc/requant.h"

int32_t tinyc_depthwise_conv_chw_inplace_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return params->out_h * params->out_w;
}

#if TINYC_USE_SIMD
/* One output value of channel plane `plane` (portable arithmetic; the window clipped). */
static int32_t tinyc_dw_chw_dot(const tinyc_conv_params *params, const int8_t *plane, const int8_t *filter,
                                int32_t in_y0, int32_t in_x0, int32_t acc)
{
    int32_t ky, kx;
    for (ky = 0; ky < params->kernel_h; ++ky) {
        const int32_t in_y = in_y0 + ky * params->dilation_h;
        if (in_y < 0 || in_y >= params->in_h) {
            continue;
        }
        for (kx = 0; kx < params->kernel_w; ++kx) {
            const int32_t in_x = in_x0 + kx * params->dilation_w;
            if (in_x < 0 || in_x >= params->in_w) {
                continue;
            }
            acc += ((int32_t)plane[in_y * params->in_w + in_x] + params->input_offset) *
                   (int32_t)filter[ky * params->kernel_w + kx];
        }
    }
    return acc;
}

#define TINYC_DW_CHW_MAX_ROWS 8

/* One output plane of a kernel_w 3, stride_w 1, dilation_w 1 channel into tmp. */
TINYC_DW_NOINLINE static void tinyc_dw_chw_plane_3wide(const tinyc_conv_params *params, const int8_t *plane,
                                                       const int8_t *filter, int32_t bias, int32_t multiplier,
                                                       int32_t shift, int8_t *tmp)
{
    const int32_t in_w = params->in_w;
    const int32_t out_w = params->out_w;
    const int32_t pad_left = params->pad_left;
    const int32_t offset_pair = tinyc_dw_offset_pair(params->input_offset);
    const int32_t output_offset = params->output_offset;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    /* outputs whose three taps are all inside the row: pad_left <= ox <= in_w + pad_left - 3 */
    const int32_t ox_lo = pad_left < out_w ? pad_left : out_w;
    const int32_t ox_end = in_w + pad_left - 2 < out_w ? in_w + pad_left - 2 : out_w;
    int32_t w02[TINYC_DW_CHW_MAX_ROWS], w1[TINYC_DW_CHW_MAX_ROWS];
    int32_t ky, oy, ox;
    for (ky = 0; ky < params->kernel_h; ++ky) {
        w02[ky] = tinyc_pack_s16x2(filter[3 * ky], filter[3 * ky + 2]);
        w1[ky] = filter[3 * ky + 1];
    }
    for (oy = 0; oy < params->out_h; ++oy) {
        const int32_t in_y0 = oy * params->stride_h - params->pad_top;
        const int32_t ky_lo = tinyc_dw_first_tap(in_y0, params->dilation_h);
        const int32_t ky_hi = tinyc_dw_end_tap(in_y0, params->dilation_h, params->in_h, params->kernel_h);
        const int32_t row_step = params->dilation_h * in_w;
        int8_t *out = tmp + oy * out_w;
        for (ox = 0; ox < ox_lo; ++ox) {
            out[ox] = tinyc_requantize_s8(tinyc_dw_chw_dot(params, plane, filter, in_y0, ox - pad_left, bias),
                                          multiplier, shift, output_offset, act_min, act_max);
        }
        for (; ox + 1 < ox_end; ox += 2) {
            /* rows ky_lo..ky_hi - 1, their taps from column ox - pad_left on */
            const int8_t *x = ky_lo < ky_hi ? plane + (in_y0 + ky_lo * params->dilation_h) * in_w + ox - pad_left
                                            : plane;
            int32_t acc0 = bias, acc1 = bias;
            for (ky = ky_lo; ky < ky_hi; ++ky) {
                const int32_t xs = tinyc_read_s8x4(x);
                const int32_t x02 = tinyc_sxtab16(offset_pair, xs);
                const int32_t x13 = tinyc_sxtab16_ror8(offset_pair, xs);
                acc0 = tinyc_smlad(x02, w02[ky], acc0);
                acc0 = tinyc_smlabb(x13, w1[ky], acc0);
                acc1 = tinyc_smlad(x13, w02[ky], acc1);
                acc1 = tinyc_smlatb(x02, w1[ky], acc1);
                x += row_step;
            }
            out[ox] = tinyc_requantize_s8(acc0, multiplier, shift, output_offset, act_min, act_max);
            out[ox + 1] = tinyc_requantize_s8(acc1, multiplier, shift, output_offset, act_min, act_max);
        }
        for (; ox < out_w; ++ox) {
            out[ox] = tinyc_requantize_s8(tinyc_dw_chw_dot(params, plane, filter, in_y0, ox - pad_left, bias),
                                          multiplier, shift, output_offset, act_min, act_max);
        }
    }
}
#endif

void tinyc_depthwise_conv_chw_inplace_s8(const tinyc_conv_params *params, const int8_t *input,
                                         const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                                         const int32_t *shift, int8_t *output, int8_t *scratch)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_plane = in_h * in_w;
    const int32_t out_plane = params->out_h * params->out_w;
    const int32_t taps = params->kernel_h * params->kernel_w;
    int32_t b, c, oy, ox, ky, kx, i;

#if TINYC_USE_SIMD
    if (params->kernel_w == 3 && params->stride_w == 1 && params->dilation_w == 1 &&
        params->kernel_h <= TINYC_DW_CHW_MAX_ROWS) {
        for (b = 0; b < params->batch; ++b) {
            for (c = 0; c < params->in_c; ++c) {
                const int8_t *plane = input + (b * params->in_c + c) * in_plane;
                int8_t *dst = output + (b * params->in_c + c) * out_plane;
                tinyc_dw_chw_plane_3wide(params, plane, weights + c * taps, bias != 0 ? bias[c] : 0, multiplier[c],
                                         shift[c], scratch);
                /* channel c is done with its input plane: copy it into place */
                for (i = 0; i < out_plane; ++i) {
                    dst[i] = scratch[i];
                }
            }
        }
        return;
    }
#endif
    for (b = 0; b < params->batch; ++b) {
        for (c = 0; c < params->in_c; ++c) {
            const int8_t *plane = input + (b * params->in_c + c) * in_plane;
            const int8_t *filter = weights + c * taps;
            int8_t *tmp = scratch;
            int8_t *dst = output + (b * params->in_c + c) * out_plane;
            for (oy = 0; oy < params->out_h; ++oy) {
                const int32_t in_y0 = oy * params->stride_h - params->pad_top;
                for (ox = 0; ox < params->out_w; ++ox) {
                    const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                    int32_t acc = 0;
                    for (ky = 0; ky < params->kernel_h; ++ky) {
                        const int32_t in_y = in_y0 + ky * params->dilation_h;
                        if (in_y < 0 || in_y >= in_h) {
                            continue;
                        }
                        for (kx = 0; kx < params->kernel_w; ++kx) {
                            const int32_t in_x = in_x0 + kx * params->dilation_w;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            acc += ((int32_t)plane[in_y * in_w + in_x] + params->input_offset) *
                                   (int32_t)filter[ky * params->kernel_w + kx];
                        }
                    }
                    if (bias != 0) {
                        acc += bias[c];
                    }
                    *tmp++ = tinyc_requantize_s8(acc, multiplier[c], shift[c], params->output_offset, params->act_min,
                                                 params->act_max);
                }
            }
            /* channel c is done with its input plane: copy it into place */
            for (i = 0; i < out_plane; ++i) {
                dst[i] = scratch[i];
            }
        }
    }
}
