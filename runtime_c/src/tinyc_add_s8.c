/*
 * Elementwise addition with broadcasting, int8 (TFLite Micro's int8 Add).
 *
 * Both inputs are offset, shifted left by left_shift (20) and rescaled to a common scale,
 * summed, then rescaled to the output: the constants come from tinycc_ml/quant/params.py
 * (add_params). The output is dense over params->shape.dims; the inputs are read through
 * their strides (0 = broadcast). The output may alias an input exactly (in-place): every
 * element is read before it is written and never read again.
 */
#include "tinyc/tinyc_nn.h"
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

    for (i0 = 0; i0 < s->dims[0]; ++i0) {
        for (i1 = 0; i1 < s->dims[1]; ++i1) {
            for (i2 = 0; i2 < s->dims[2]; ++i2) {
                const int8_t *a_row = a + i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2];
                const int8_t *b_row = b + i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2];
                for (i3 = 0; i3 < s->dims[3]; ++i3) {
                    *output++ = tinyc_add_one_s8(params, a_row[i3 * s->a_strides[3]], b_row[i3 * s->b_strides[3]]);
                }
            }
        }
    }
}
