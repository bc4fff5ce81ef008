/*
 * Test support (not part of the runtime): the array wrappers of tinyc_test_support.c and the
 * variant table generated from the kernel records, as the kernel driver calls them.
 */
#ifndef TINYC_TEST_SUPPORT_H
#define TINYC_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* the variant table generated from the kernel records (tinycc_ml/targets/kernel_test_sources.py) */
int tinyc_test_run_variant(const char *symbol, const void *params, size_t params_size, void **a, uint32_t nargs);

/* tinyc_test_support.c */
void tinyc_test_srdhm(const int32_t *a, const int32_t *b, int32_t *out, int32_t n);
void tinyc_test_rounding_divide_by_pot(const int32_t *x, const int32_t *exponent, int32_t *out, int32_t n);
void tinyc_test_mbqm(const int32_t *x, const int32_t *multiplier, const int32_t *shift, int32_t *out, int32_t n);
void tinyc_test_exp_on_negative_values(const int32_t *a, int32_t *out, int32_t n);
void tinyc_test_one_over_one_plus_x_for_x_in_0_1(const int32_t *a, int32_t *out, int32_t n);
void tinyc_test_get_reciprocal(const int32_t *x, int32_t *out, int32_t *num_bits_over_unit, int32_t n);
void tinyc_test_add_rescale(const int32_t *x, const int32_t *multiplier, const int32_t *shift, const int32_t *left_shift,
                            int32_t *out, int32_t n);
void tinyc_test_requantize(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                           const int32_t *output, int8_t *out, int32_t n);
void tinyc_test_requantize_reference(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                     const int32_t *output, int8_t *out, int32_t n);
void tinyc_test_requantize_fast(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                const int32_t *output, int8_t *out, int32_t n);
void tinyc_test_mbqm_fast(const int32_t *x, const int32_t *multiplier, const int32_t *shift, int32_t *out,
                          int32_t *exact, int32_t n);

#endif /* TINYC_TEST_SUPPORT_H */
