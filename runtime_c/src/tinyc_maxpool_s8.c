/*
 * Max pooling on NHWC, int8 (TFLite's reference MaxPool): the maximum of the window clipped to
 * the input (padding never wins), then clamped to the activation range. Rows of the input
 * and of the output are input_row_stride / output_row_stride elements apart (a region of a
 * larger image).
 *
 * SIMD path (TINYC_USE_SIMD): four channels at a time, the window's words folded by a
 * bytewise maximum (SSUB8 sets a GE flag per byte where a >= b, SEL picks those bytes: two
 * instructions for four channels per cell), the clamp the same way against the packed
 * activation bounds. Per output pixel its four channels' windows are read, then the four
 * bytes written: consecutive blocks of the loop order kernels/access.py models, merged.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/arm_dsp.h"

#if TINYC_USE_SIMD
/* Bytewise signed maximum (take_max) or minimum of int8x4 words: SSUB8 sets a GE flag per byte
 * where a >= b and SEL picks a's or b's bytes by those flags (a C twin elsewhere). Local to this
 * kernel: the GE flags SSUB8 leaves for SEL cannot be split into two arm_dsp.h calls. take_max
 * is a constant at every call, so the branch folds away. */
static inline int32_t tinyc_select_s8x4(int32_t a, int32_t b, int take_max)
{
#if TINYC_HAVE_DSP
    int32_t r;
    if (take_max) {
        __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    } else {
        __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    }
    return r;
#else
    uint32_t r = 0;
    int32_t k;
    for (k = 0; k < 4; ++k) {
        const int32_t x = tinyc_byte_s8(a, k), y = tinyc_byte_s8(b, k);
        r |= (uint32_t)(uint8_t)((x >= y) == (take_max != 0) ? x : y) << (8 * k);
    }
    return (int32_t)r;
#endif
}

static int32_t tinyc_splat_s8x4(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xFFu) * 0x01010101u);
}
#endif

void tinyc_maxpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    int32_t b, oy, ox, c, y, x;
#if TINYC_USE_SIMD
    const int32_t floor4 = tinyc_splat_s8x4(act_min);
    const int32_t ceiling4 = tinyc_splat_s8x4(act_max);
#endif

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t y_begin = y0 < 0 ? 0 : y0;
            const int32_t y_end = y0 + params->kernel_h < in_h ? y0 + params->kernel_h : in_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t x_begin = x0 < 0 ? 0 : x0;
                const int32_t x_end = x0 + params->kernel_w < in_w ? x0 + params->kernel_w : in_w;
                int8_t *out_pixel = out_image + oy * out_row_pitch + ox * channels;
                c = 0;
#if TINYC_USE_SIMD
                for (; c + 4 <= channels; c += 4) {
                    int32_t max4 = (int32_t)0x80808080u; /* -128 in every byte */
                    for (y = y_begin; y < y_end; ++y) {
                        const int8_t *cell = image + y * in_row_pitch + x_begin * channels + c;
                        for (x = x_begin; x < x_end; ++x) {
                            max4 = tinyc_select_s8x4(max4, tinyc_read_s8x4(cell), 1);
                            cell += channels;
                        }
                    }
                    max4 = tinyc_select_s8x4(tinyc_select_s8x4(max4, floor4, 1), ceiling4, 0);
                    memcpy(out_pixel + c, &max4, sizeof max4);
                }
#endif
                for (; c < channels; ++c) {
                    int32_t max = -128;
                    for (y = y_begin; y < y_end; ++y) {
                        for (x = x_begin; x < x_end; ++x) {
                            const int32_t v = image[y * in_row_pitch + x * channels + c];
                            max = v > max ? v : max;
                        }
                    }
                    max = max < act_min ? act_min : max;
                    max = max > act_max ? act_max : max;
                    out_pixel[c] = (int8_t)max;
                }
            }
        }
    }
}
