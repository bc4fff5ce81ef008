/*
 * Max pooling on NHWC, int8 (TFLite's reference MaxPool): the maximum of the window clipped to
 * the input (padding never wins), then clamped to the activation range. Rows of the input
 * and of the output are input_row_stride / output_row_stride elements apart (a region of a
 * larger image).
 */
#include "tinyc/tinyc_nn.h"

void tinyc_maxpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t b, oy, ox, c, y, x;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            int8_t *out = output + (b * params->out_h + oy) * out_row_pitch;
            const int32_t y_begin = y0 < 0 ? 0 : y0;
            const int32_t y_end = y0 + params->kernel_h < in_h ? y0 + params->kernel_h : in_h;
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t x_begin = x0 < 0 ? 0 : x0;
                const int32_t x_end = x0 + params->kernel_w < in_w ? x0 + params->kernel_w : in_w;
                for (c = 0; c < channels; ++c) {
                    int32_t max = -128;
                    for (y = y_begin; y < y_end; ++y) {
                        for (x = x_begin; x < x_end; ++x) {
                            const int32_t v = image[y * in_row_pitch + x * channels + c];
                            max = v > max ? v : max;
                        }
                    }
                    max = max < params->act_min ? params->act_min : max;
                    max = max > params->act_max ? params->act_max : max;
                    *out++ = (int8_t)max;
                }
            }
        }
    }
}
