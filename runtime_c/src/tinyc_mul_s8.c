/*
 * Elementwise multiplication with broadcasting, int8 (TFLite Micro's int8 Mul).
 *
 * out = clamp(output_offset + MultiplyByQuantizedMultiplier((a + offset1) * (b + offset2))),
 * constants from tinycc_ml/quant/params.py (mul_params). Broadcasting and in-place as in
 * tinyc_add_s8: the output is dense over shape.dims, written by position; the output may
 * alias an input exactly.
 *
 * SIMD path (TINYC_USE_SIMD), where neither input broadcasts along the innermost dim: four
 * elements per step, each input one word whose offsets SXTAB16 adds to two lanes at once
 * ((x + offset) in [-255, 255] fits a 16-bit lane), the four products by SMULBB / SMULTT
 * (|product| <= 65,025), each requantized by the shared fast tail with its constants in
 * registers. The four inputs are read before the four outputs are written, which is safe
 * wherever the element order is (a write never lands on an input element not yet read).
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"

#if TINYC_USE_SIMD
/* One contiguous row of `count` elements; the constants by value, so in registers. */
TINYC_OUTLINE_FUNCTION void tinyc_mul_row_s8(const int8_t *a, const int8_t *b, int8_t *out, int32_t count,
                                            int32_t offset1, int32_t offset2, tinyc_requant_channel q,
                                            tinyc_requant_output o)
{
    const int32_t offsets1 = tinyc_pack_s16x2(offset1, offset1);
    const int32_t offsets2 = tinyc_pack_s16x2(offset2, offset2);
    int32_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const int32_t a_word = tinyc_read_s8x4(a + i);
        const int32_t b_word = tinyc_read_s8x4(b + i);
        const int32_t a02 = tinyc_sxtab16(offsets1, a_word);
        const int32_t a13 = tinyc_sxtab16_ror8(offsets1, a_word);
        const int32_t b02 = tinyc_sxtab16(offsets2, b_word);
        const int32_t b13 = tinyc_sxtab16_ror8(offsets2, b_word);
        int8_t bytes[4];
        bytes[0] = tinyc_requantize_channel_s8(tinyc_smlabb(a02, b02, 0), q, o);
        bytes[1] = tinyc_requantize_channel_s8(tinyc_smlabb(a13, b13, 0), q, o);
        bytes[2] = tinyc_requantize_channel_s8(tinyc_smlatt(a02, b02, 0), q, o);
        bytes[3] = tinyc_requantize_channel_s8(tinyc_smlatt(a13, b13, 0), q, o);
        memcpy(out + i, bytes, sizeof bytes);
    }
    for (; i < count; ++i) {
        out[i] = tinyc_requantize_channel_s8(((int32_t)a[i] + offset1) * ((int32_t)b[i] + offset2), q, o);
    }
}
#endif

void tinyc_mul_s8(const tinyc_mul_params *params, const int8_t *a, const int8_t *b, int8_t *output)
{
    const tinyc_broadcast *s = &params->shape;
    const int32_t offset1 = params->input1_offset;
    const int32_t offset2 = params->input2_offset;
    const tinyc_requant_channel q = tinyc_requant_channel_of(params->output_multiplier, params->output_shift);
    const tinyc_requant_output o = tinyc_requant_output_of(params->output_offset, params->act_min, params->act_max);
    const int32_t inner = s->dims[3];
    const int32_t a_step = s->a_strides[3];
    const int32_t b_step = s->b_strides[3];
    const int32_t y_step = s->y_strides[3];
    int32_t i0, i1, i2, i3;

    for (i0 = 0; i0 < s->dims[0]; ++i0) {
        for (i1 = 0; i1 < s->dims[1]; ++i1) {
            for (i2 = 0; i2 < s->dims[2]; ++i2) {
                const int8_t *a_row = a + i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2];
                const int8_t *b_row = b + i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2];
                int8_t *out_row = output + i0 * s->y_strides[0] + i1 * s->y_strides[1] + i2 * s->y_strides[2];
#if TINYC_USE_SIMD
                if (a_step == 1 && b_step == 1 && y_step == 1) {
                    tinyc_mul_row_s8(a_row, b_row, out_row, inner, offset1, offset2, q, o);
                    continue;
                }
#endif
                for (i3 = 0; i3 < inner; ++i3) {
                    const int32_t product =
                        ((int32_t)a_row[i3 * a_step] + offset1) * ((int32_t)b_row[i3 * b_step] + offset2);
                    out_row[i3 * y_step] = tinyc_requantize_channel_s8(product, q, o);
                }
            }
        }
    }
}
