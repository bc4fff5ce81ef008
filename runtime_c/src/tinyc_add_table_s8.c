/*
 * Elementwise addition with broadcasting, int8, through a compile-time table: the same bits
 * as tinyc_add_s8 (TFLite Micro's int8 Add) in about a third of its instructions.
 *
 * TFLite's Add rescales each input on its own before the sum: sa(x) = MBQM((x + offset1)
 * << left_shift, multiplier1, shift1), likewise sb. Each is a function of one int8 value, so
 * the compiler tabulates both (256 int32 each, tinycc_ml/kernels/elementwise.py, with the
 * interpreter's own fixed-point functions) and the kernel only adds two table entries and
 * requantizes the sum. The entries are stored shifted left by max(output_shift, 0) + 1, which
 * turns the output's MultiplyByQuantizedMultiplier into SMMULR plus RoundingDivideByPOT (the
 * fast requantize of tinyc/requant.h), and the rounding constant and the output zero point
 * are one compile-time bias: (v + 2^(e-1) + (v >> 31)) >> e, plus zp, equals
 * (v + 2^(e-1) + (zp << e) + (v >> 31)) >> e exactly (floor division by 2^e commutes with
 * adding a multiple of 2^e). Exact where the compiler emits it: every |ta + tb| < 2^29 (so
 * 2y fits int32 and |v| <= 2^28), e >= 1, and |v| + bias cannot overflow. No division, no
 * 64-bit product, no per-element shift.
 *
 * tinyc_add_table_single_s8 is the same kernel for Adds whose output stage has no right shift
 * (ONNX semantics: each input rescaled straight to the output scale, a power-of-two output
 * multiplier with shift 0, so the sum is rounded once), which the table above cannot run
 * (it needs e >= 1): with the entries shifted left by output_shift + 1 and every |ta + tb|
 * proved below 2^31 (kernels/elementwise.py add_table_single), MBQM(sum, m, shift) + zp is
 * SMMULR(ta + tb, m) + zp, one SMMLAR with the output offset (params->output_bias), exactly
 * (kernels/single_tail.py, requant_tail.h tinyc_tail_single).
 *
 * The output is dense over params->shape.dims, written by position; the inputs are read
 * through their strides (0 = broadcast), with a contiguous inner loop when neither input
 * broadcasts there. The output may alias an input exactly (in-place): every element is read
 * before it is written and never read again, in the order of tinyc_add_s8.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"

typedef struct {
    int32_t multiplier, bias, right_shift, act_min, act_max;
} tinyc_add_table_tail;

/* x saturated to int8 (SSAT #8: one instruction; a C twin elsewhere). */
static inline int32_t tinyc_add_ssat8(int32_t x)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x));
    return r;
#else
    return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}

/* The requantized sum before the activation clamp. */
static inline int32_t tinyc_add_table_sum(int32_t shifted_sum, int32_t multiplier, int32_t bias, int32_t right_shift)
{
    const int32_t v = tinyc_smmulr(shifted_sum, multiplier);
    return (v + bias + (v >> 31)) >> right_shift;
}

/* One innermost row. Out of line, its constants in a by-value struct: in registers for the
 * whole row (an int8 store may alias any memory the compiler would otherwise reload). With
 * no upper clamp below 127 (no Relu6-like bound: every Add of the MLPerf models) the clamp is
 * SSAT plus the lower bound; otherwise both bounds. */
TINYC_OUTLINE_FUNCTION void tinyc_add_table_row(const int32_t *table_a, const int32_t *table_b, const int8_t *a,
                                                int32_t a_step, const int8_t *b, int32_t b_step, int8_t *out,
                                                int32_t count, tinyc_add_table_tail t)
{
    const int32_t multiplier = t.multiplier, bias = t.bias, right_shift = t.right_shift;
    const int32_t act_min = t.act_min, act_max = t.act_max;
    int32_t i;
    if (a_step == 1 && b_step == 1 && act_max == 127) {
        for (i = 0; i < count; ++i) {
            const int32_t sum = tinyc_add_table_sum(table_a[a[i]] + table_b[b[i]], multiplier, bias, right_shift);
            const int32_t saturated = tinyc_add_ssat8(sum);
            out[i] = (int8_t)(saturated > act_min ? saturated : act_min);
        }
        return;
    }
    for (i = 0; i < count; ++i) {
        int32_t sum = tinyc_add_table_sum(table_a[a[i * a_step]] + table_b[b[i * b_step]], multiplier, bias,
                                          right_shift);
        sum = sum > act_min ? sum : act_min;
        out[i] = (int8_t)(sum < act_max ? sum : act_max);
    }
}

/* The single-rounding row: SMMLAR(ta + tb, multiplier, offset), then the clamp (t.bias: the
 * output offset; t.right_shift unused). */
TINYC_OUTLINE_FUNCTION void tinyc_add_table_single_row(const int32_t *table_a, const int32_t *table_b,
                                                       const int8_t *a, int32_t a_step, const int8_t *b,
                                                       int32_t b_step, int8_t *out, int32_t count,
                                                       tinyc_add_table_tail t)
{
    const int32_t multiplier = t.multiplier, offset = t.bias;
    const int32_t act_min = t.act_min, act_max = t.act_max;
    int32_t i;
    if (a_step == 1 && b_step == 1 && act_max == 127) {
        for (i = 0; i < count; ++i) {
            const int32_t saturated = tinyc_add_ssat8(tinyc_smmlar(table_a[a[i]] + table_b[b[i]], multiplier, offset));
            out[i] = (int8_t)(saturated > act_min ? saturated : act_min);
        }
        return;
    }
    for (i = 0; i < count; ++i) {
        int32_t sum = tinyc_smmlar(table_a[a[i * a_step]] + table_b[b[i * b_step]], multiplier, offset);
        sum = sum > act_min ? sum : act_min;
        out[i] = (int8_t)(sum < act_max ? sum : act_max);
    }
}

/* One row of the broadcast image: tinyc_add_table_row or tinyc_add_table_single_row. */
typedef void tinyc_add_table_row_fn(const int32_t *table_a, const int32_t *table_b, const int8_t *a, int32_t a_step,
                                    const int8_t *b, int32_t b_step, int8_t *out, int32_t count,
                                    tinyc_add_table_tail t);

/* The broadcast loop of both symbols, row by row through `row` (one call per row). */
static void tinyc_add_table_image(const tinyc_add_table_params *params, const int32_t *table, const int8_t *a,
                                  const int8_t *b, int8_t *output, tinyc_add_table_row_fn *row)
{
    const tinyc_broadcast *s = &params->shape;
    /* Indexed by the int8 value itself. */
    const int32_t *table_a = table + 128;
    const int32_t *table_b = table + 256 + 128;
    tinyc_add_table_tail t;
    int32_t i0, i1, i2;
    t.multiplier = params->output_multiplier;
    t.bias = params->output_bias;
    t.right_shift = params->output_right_shift;
    t.act_min = params->act_min;
    t.act_max = params->act_max;

    for (i0 = 0; i0 < s->dims[0]; ++i0) {
        for (i1 = 0; i1 < s->dims[1]; ++i1) {
            for (i2 = 0; i2 < s->dims[2]; ++i2) {
                const int8_t *a_row = a + i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2];
                const int8_t *b_row = b + i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2];
                int8_t *out_row = output + ((i0 * s->dims[1] + i1) * s->dims[2] + i2) * s->dims[3];
                row(table_a, table_b, a_row, s->a_strides[3], b_row, s->b_strides[3], out_row, s->dims[3], t);
            }
        }
    }
}

void tinyc_add_table_s8(const tinyc_add_table_params *params, const int32_t *table, const int8_t *a,
                        const int8_t *b, int8_t *output)
{
    tinyc_add_table_image(params, table, a, b, output, tinyc_add_table_row);
}

void tinyc_add_table_single_s8(const tinyc_add_table_params *params, const int32_t *table, const int8_t *a,
                               const int8_t *b, int8_t *output)
{
    tinyc_add_table_image(params, table, a, b, output, tinyc_add_table_single_row);
}
