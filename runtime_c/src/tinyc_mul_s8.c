/*
 * Elementwise multiplication with broadcasting, int8 (TFLite Micro's int8 Mul).
 *
 * out = clamp(output_offset + MultiplyByQuantizedMultiplier((a + offset1) * (b + offset2))),
 * constants from tinycc_ml/quant/params.py (mul_params). Broadcasting and in-place as in
 * tinyc_add_s8.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

void tinyc_mul_s8(const tinyc_mul_params *params, const int8_t *a, const int8_t *b, int8_t *output)
{
    const tinyc_broadcast *s = &params->shape;
    int32_t i0, i1, i2, i3;

    for (i0 = 0; i0 < s->dims[0]; ++i0) {
        for (i1 = 0; i1 < s->dims[1]; ++i1) {
            for (i2 = 0; i2 < s->dims[2]; ++i2) {
                const int8_t *a_row = a + i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2];
                const int8_t *b_row = b + i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2];
                int8_t *y_row = output + i0 * s->y_strides[0] + i1 * s->y_strides[1] + i2 * s->y_strides[2];
                for (i3 = 0; i3 < s->dims[3]; ++i3) {
                    const int32_t product = ((int32_t)a_row[i3 * s->a_strides[3]] + params->input1_offset) *
                                            ((int32_t)b_row[i3 * s->b_strides[3]] + params->input2_offset);
                    y_row[i3 * s->y_strides[3]] =
                        tinyc_requantize_s8(product, params->output_multiplier, params->output_shift,
                                            params->output_offset, params->act_min, params->act_max);
                }
            }
        }
    }
}
