/*
 * Test support (not part of the runtime), linked into the tests' shared library and the
 * kernel driver (the sizeof list and the variant dispatch are generated from the kernel
 * records, see templates/test/tinyc_test_variants.c.j2):
 *   - array wrappers of the static inline fixed-point primitives (requant.h, fixedpoint.h),
 *     so they can be compared with their Python twins on many values at once (and
 *     tinyc_add_s8's int32 input rescale, add_rescale.h, with MBQM).
 */
#include "tinyc/add_rescale.h"
#include "tinyc/fixedpoint.h"
#include "tinyc/requant.h"
#include "tinyc/tinyc_nn.h"
#include "tinyc_test_support.h"

void tinyc_test_srdhm(const int32_t *a, const int32_t *b, int32_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_saturating_rounding_doubling_high_mul(a[i], b[i]);
    }
}

void tinyc_test_rounding_divide_by_pot(const int32_t *x, const int32_t *exponent, int32_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_rounding_divide_by_pot(x[i], exponent[i]);
    }
}

void tinyc_test_mbqm(const int32_t *x, const int32_t *multiplier, const int32_t *shift, int32_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_multiply_by_quantized_multiplier(x[i], multiplier[i], shift[i]);
    }
}

void tinyc_test_exp_on_negative_values(const int32_t *a, int32_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_exp_on_negative_values(a[i]);
    }
}

void tinyc_test_one_over_one_plus_x_for_x_in_0_1(const int32_t *a, int32_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_one_over_one_plus_x_for_x_in_0_1(a[i]);
    }
}

void tinyc_test_get_reciprocal(const int32_t *x, int32_t *out, int32_t *num_bits_over_unit, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_get_reciprocal(x[i], TINYC_ACCUMULATION_INTEGER_BITS, &num_bits_over_unit[i]);
    }
}

/* tinyc_add_s8's fast input rescale of x (offset 0), to compare with MBQM(x << left_shift). */
void tinyc_test_add_rescale(const int32_t *x, const int32_t *multiplier, const int32_t *shift, const int32_t *left_shift,
                            int32_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const tinyc_add_rescale r = tinyc_add_rescale_of(0, multiplier[i], shift[i], left_shift[i]);
        out[i] = tinyc_add_rescale_one(&r, x[i]);
    }
}

/* The requantize tails on arrays: acc, multiplier, shift per element; output = { output
 * offset, act_min, act_max } for all. _reference and _fast name the two tails, plain
 * tinyc_test_requantize is the one this build's kernels use (tinyc_requantize_s8). */
void tinyc_test_requantize(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                           const int32_t *output, int8_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_requantize_s8(acc[i], multiplier[i], shift[i], output[0], output[1], output[2]);
    }
}

void tinyc_test_requantize_reference(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                     const int32_t *output, int8_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_requantize_s8_reference(acc[i], multiplier[i], shift[i], output[0], output[1], output[2]);
    }
}

void tinyc_test_requantize_fast(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                const int32_t *output, int8_t *out, int32_t n)
{
    const tinyc_requant_output o = tinyc_requant_output_of(output[0], output[1], output[2]);
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_requant_fast_s8(acc[i], tinyc_requant_channel_of(multiplier[i], shift[i]), o);
    }
}

/* The fast MultiplyByQuantizedMultiplier and its precondition flag (1 = the fast value is used). */
void tinyc_test_mbqm_fast(const int32_t *x, const int32_t *multiplier, const int32_t *shift, int32_t *out,
                          int32_t *exact, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = tinyc_requant_fast_mbqm(x[i], tinyc_requant_channel_of(multiplier[i], shift[i]), &exact[i]);
    }
}
