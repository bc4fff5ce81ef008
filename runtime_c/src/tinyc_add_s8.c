/*
 * Elementwise addition with broadcasting, int8 (TFLite Micro's int8 Add).
 *
 * Both inputs are offset, shifted left by left_shift (20) and rescaled to a common scale,
 * summed, then rescaled to the output: the constants come from tinycc_ml/quant/params.py
 * (add_params). The output is written through its strides over params->shape.dims (dense
 * for a whole tensor; a region of a larger image has a row stride); the inputs are read
 * through theirs (0 = broadcast). The output may alias an input exactly (in-place): every
 * element is read before it is written and never read again.
 *
 * Fast path (TINYC_USE_SIMD, 9 <= left_shift <= 22 and both input shifts in [-31, 0], which
 * TFLite's constants always give): each input's rescale in int32 arithmetic with its
 * constants prepared once per call (tinyc/add_rescale.h), no 64-bit product. Same bits as the
 * portable path; the sum goes through the shared requantize tail.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/add_rescale.h"
#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"

static int8_t tinyc_add_one_s8(const tinyc_add_params *p, int8_t a, int8_t b)
{
    const int32_t a_shifted = ((int32_t)a + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t b_shifted = ((int32_t)b + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t a_scaled = tinyc_multiply_by_quantized_multiplier(a_shifted, p->input1_multiplier, p->input1_shift);
    const int32_t b_scaled = tinyc_multiply_by_quantized_multiplier(b_shifted, p->input2_multiplier, p->input2_shift);
    return tinyc_requantize_s8(a_scaled + b_scaled, p->output_multiplier, p->output_shift, p->output_offset,
                               p->act_min, p->act_max);
}

void tinyc_add_s8(const tinyc_add_params *params, const int8_t *a, const int8_t *b, int8_t *output)
{
    const tinyc_broadcast *s = &params->shape;
    int32_t i0, i1, i2, i3;

#if TINYC_USE_SIMD
    if (params->left_shift >= 9 && params->left_shift <= 22 && params->input1_shift <= 0 &&
        params->input2_shift <= 0 && params->input1_shift >= -31 && params->input2_shift >= -31 &&
        params->input1_multiplier >= 0 && params->input2_multiplier >= 0) {
        const tinyc_add_rescale ra = tinyc_add_rescale_of(params->input1_offset, params->input1_multiplier,
                                                          params->input1_shift, params->left_shift);
        const tinyc_add_rescale rb = tinyc_add_rescale_of(params->input2_offset, params->input2_multiplier,
                                                          params->input2_shift, params->left_shift);
        const int32_t output_multiplier = params->output_multiplier;
        const int32_t output_shift = params->output_shift;
        const int32_t output_offset = params->output_offset;
        const int32_t act_min = params->act_min;
        const int32_t act_max = params->act_max;
        const int32_t a_step = s->a_strides[3];
        const int32_t b_step = s->b_strides[3];
        const int32_t y_step = s->y_strides[3];
        const int32_t inner = s->dims[3];
        for (i0 = 0; i0 < s->dims[0]; ++i0) {
            for (i1 = 0; i1 < s->dims[1]; ++i1) {
                for (i2 = 0; i2 < s->dims[2]; ++i2) {
                    const int8_t *a_row = a + i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2];
                    const int8_t *b_row = b + i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2];
                    int8_t *y_row = output + i0 * s->y_strides[0] + i1 * s->y_strides[1] + i2 * s->y_strides[2];
                    for (i3 = 0; i3 < inner; ++i3) {
                        const int32_t sum = tinyc_add_rescale_one(&ra, a_row[i3 * a_step]) +
                                            tinyc_add_rescale_one(&rb, b_row[i3 * b_step]);
                        y_row[i3 * y_step] =
                            tinyc_requantize_s8(sum, output_multiplier, output_shift, output_offset, act_min, act_max);
                    }
                }
            }
        }
        return;
    }
#endif
    for (i0 = 0; i0 < s->dims[0]; ++i0) {
        for (i1 = 0; i1 < s->dims[1]; ++i1) {
            for (i2 = 0; i2 < s->dims[2]; ++i2) {
                const int8_t *a_row = a + i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2];
                const int8_t *b_row = b + i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2];
                int8_t *y_row = output + i0 * s->y_strides[0] + i1 * s->y_strides[1] + i2 * s->y_strides[2];
                for (i3 = 0; i3 < s->dims[3]; ++i3) {
                    y_row[i3 * s->y_strides[3]] =
                        tinyc_add_one_s8(params, a_row[i3 * s->a_strides[3]], b_row[i3 * s->b_strides[3]]);
                }
            }
        }
    }
}
