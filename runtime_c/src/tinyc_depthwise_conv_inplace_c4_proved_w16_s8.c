/*
 * tinyc_depthwise_conv_inplace_c4_w16_s8 for layers whose requantize tail the compiler proved (kernels/depthwise3x3.py
 * fast_tail_table, for every channel, and a double shift the int16 weights take): the same loop, layouts,
 * ring and access order (tinyc/dw_inplace4.h), int16 weights and biases pre-shifted by the double shift,
 * then the proved tail (SMMLAR with the rounding constant, a shift, SSAT or the clamp). A
 * symbol of its own, so a model links only the tails its layers use.
 */
#include "tinyc/dw_inplace4.h"

int32_t tinyc_depthwise_conv_inplace_c4_proved_w16_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return tinyc_dwi4_ring_pixels(params) * params->in_c;
}

#if TINYC_USE_SIMD
TINYC_DWI4_PIXEL(tinyc_dwi4_pixel9_full, 1, 1, TINYC_DWI4_PROVED, 1)
TINYC_DWI4_PIXEL(tinyc_dwi4_pixel9_clamped, 1, 1, TINYC_DWI4_PROVED, 0)
TINYC_DWI4_PIXEL(tinyc_dwi4_pixeln_full, 1, 0, TINYC_DWI4_PROVED, 1)
TINYC_DWI4_PIXEL(tinyc_dwi4_pixeln_clamped, 1, 0, TINYC_DWI4_PROVED, 0)
#endif

void tinyc_depthwise_conv_inplace_c4_proved_w16_s8(const tinyc_conv_params *params, const int8_t *input,
                                                   const int32_t *weights, const int32_t *consts, const int32_t *requant,
                                                   const int8_t *pad, int8_t *output, int8_t *scratch)
{
#if TINYC_USE_SIMD
    /* the double shift is never 0 here (the guarded slots are never chosen) */
    static const tinyc_dwi4_pixel_fn fns[6] = {tinyc_dwi4_pixel9_full,  tinyc_dwi4_pixel9_clamped,
                                               tinyc_dwi4_pixeln_full,  tinyc_dwi4_pixeln_clamped,
                                               tinyc_dwi4_pixeln_clamped, tinyc_dwi4_pixeln_full};
    tinyc_dwi4_run_simd(params, input, (const int8_t *)weights, consts, requant, pad, output, scratch,
                        fns);
#else
    tinyc_dwi4_run_portable(params, input, weights, 1, consts, requant, pad, output, scratch);
#endif
}
