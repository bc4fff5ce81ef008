/*
 * Elementwise addition with broadcasting, int8, through a compile-time table: the same bits
 * as tinyc_add_s8 (TFLite Micro's int8 Add) in about a quarter of its instructions.
 *
 * TFLite's Add rescales each input on its own before the sum: sa(x) = MBQM((x + offset1)
 * << left_shift, multiplier1, shift1), likewise sb. Each is a function of one int8 value, so
 * the compiler tabulates both (256 int32 each, tinycc_ml/kernels/elementwise.py, with the
 * interpreter's own fixed-point functions) and the kernel only adds two table entries and
 * requantizes the sum. The entries are stored shifted left by output_shift + 1, which turns
 * the output's MultiplyByQuantizedMultiplier into SMMULR + RoundingDivideByPOT (the fast
 * requantize of tinyc/requant.h): exact because the compiler emits this variant only where
 * every |ta + tb| < 2^30 (then 2y fits int32 and |SMMULR| < 2^29). No division, no 64-bit
 * product, no per-element shift of the inputs.
 *
 * The output is dense over params->shape.dims, written by position; the inputs are read
 * through their strides (0 = broadcast), with a contiguous inner loop when neither input
 * broadcasts there. The output may alias an input exactly (in-place): every element is read
 * before it is written and never read again, in the order of tinyc_add_s8.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/arm_dsp.h"

static inline int8_t tinyc_add_table_out(int32_t shifted_sum, int32_t multiplier, int32_t round, int32_t sign_mask,
                                         int32_t right_shift, int32_t offset, int32_t act_min, int32_t act_max)
{
    const int32_t v = tinyc_smmulr(shifted_sum, multiplier);
    /* RoundingDivideByPOT: half away from zero (requant.h); |v| < 2^29, no overflow. */
    const int32_t out = ((v + round + ((v >> 31) & sign_mask)) >> right_shift) + offset;
    return (int8_t)(out < act_min ? act_min : (out > act_max ? act_max : out));
}

void tinyc_add_table_s8(const tinyc_add_table_params *params, const int32_t *table, const int8_t *a,
                        const int8_t *b, int8_t *output)
{
    const tinyc_broadcast *s = &params->shape;
    /* Indexed by the int8 value itself. */
    const int32_t *table_a = table + 128;
    const int32_t *table_b = table + 256 + 128;
    /* Locals: an int8 store may alias the params struct, so fields read through it after
     * a store would be reloaded for every element. */
    const int32_t multiplier = params->output_multiplier;
    const int32_t right_shift = params->output_right_shift;
    const int32_t round = (int32_t)((1u << right_shift) >> 1);
    const int32_t sign_mask = right_shift != 0 ? -1 : 0;
    const int32_t offset = params->output_offset;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    const int32_t inner = s->dims[3];
    const int32_t a_step = s->a_strides[3];
    const int32_t b_step = s->b_strides[3];
    int32_t i0, i1, i2, i3;

    for (i0 = 0; i0 < s->dims[0]; ++i0) {
        for (i1 = 0; i1 < s->dims[1]; ++i1) {
            for (i2 = 0; i2 < s->dims[2]; ++i2) {
                const int8_t *a_row = a + i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2];
                const int8_t *b_row = b + i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2];
                int8_t *out_row = output + ((i0 * s->dims[1] + i1) * s->dims[2] + i2) * inner;
                if (a_step == 1 && b_step == 1) {
                    for (i3 = 0; i3 < inner; ++i3) {
                        out_row[i3] = tinyc_add_table_out(table_a[a_row[i3]] + table_b[b_row[i3]], multiplier, round,
                                                          sign_mask, right_shift, offset, act_min, act_max);
                    }
                } else {
                    for (i3 = 0; i3 < inner; ++i3) {
                        out_row[i3] =
                            tinyc_add_table_out(table_a[a_row[i3 * a_step]] + table_b[b_row[i3 * b_step]], multiplier,
                                                round, sign_mask, right_shift, offset, act_min, act_max);
                    }
                }
            }
        }
    }
}
