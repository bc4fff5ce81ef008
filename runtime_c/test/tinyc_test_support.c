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

void tinyc_test_srdhm(const int32_t *a, const int32_t *b, int32_t *out, int32_t n);
void tinyc_test_rounding_divide_by_pot(const int32_t *x, const int32_t *exponent, int32_t *out, int32_t n);
void tinyc_test_mbqm(const int32_t *x, const int32_t *multiplier, const int32_t *shift, int32_t *out, int32_t n);
void tinyc_test_exp_on_negative_values(const int32_t *a, int32_t *out, int32_t n);
void tinyc_test_one_over_one_plus_x_for_x_in_0_1(const int32_t *a, int32_t *out, int32_t n);
void tinyc_test_get_reciprocal(const int32_t *x, int32_t *out, int32_t *num_bits_over_unit, int32_t n);
void tinyc_test_add_rescale(const int32_t *x, const int32_t *multiplier, const int32_t *shift, const int32_t *left_shift,
                            int32_t *out, int32_t n);

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
