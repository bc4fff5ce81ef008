/*
 * Depthwise KxK convolution in place, NHWC, int8, channels a multiple of 4, int16 weights in
 * SMLAD tap pairs, packed two per int32 word (DSP cores whose flash has room for them;
 * kernels/depthwise_inplace4.py, wide_weights.py). The loop, the layouts and the access order
 * are tinyc/dw_inplace4.h's, shared with the int8-weight tinyc_depthwise_conv_inplace_c4_s8.
 *
 * This kernel runs the layers whose tail the compiler could not prove, through the guarded
 * tail (its build gives it double shift 0); the proved ones run its _proved twin, the same
 * loop with the proved tail (tinyc_depthwise_conv_inplace_c4_proved_w16_s8.c).
 */
#include "tinyc/dw_inplace4.h"

int32_t tinyc_depthwise_conv_inplace_c4_w16_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return tinyc_dwi4_ring_pixels(params) * params->in_c;
}

#if TINYC_USE_SIMD
TINYC_DWI4_PIXEL(tinyc_dwi4_pixeln_guarded, 1, 0, TINYC_DWI4_GUARDED, 0)
TINYC_DWI4_PIXEL(tinyc_dwi4_pixeln_guarded_full, 1, 0, TINYC_DWI4_GUARDED, 1)
#endif

void tinyc_depthwise_conv_inplace_c4_w16_s8(const tinyc_conv_params *params, const int8_t *input,
                                            const int32_t *weights, const int32_t *consts, const int32_t *requant,
                                            const int8_t *pad, int8_t *output, int8_t *scratch)
{
#if TINYC_USE_SIMD
    /* the general kernel: the guarded tail only (build gives it double shift 0, so only the
     * last two slots are chosen; the others hold the same loops) */
    static const tinyc_dwi4_pixel_fn fns[6] = {tinyc_dwi4_pixeln_guarded_full, tinyc_dwi4_pixeln_guarded,
                                               tinyc_dwi4_pixeln_guarded_full, tinyc_dwi4_pixeln_guarded,
                                               tinyc_dwi4_pixeln_guarded, tinyc_dwi4_pixeln_guarded_full};
    tinyc_dwi4_run_simd(params, input, (const int8_t *)weights, consts, requant, pad, output, scratch, fns);
#else
    tinyc_dwi4_run_portable(params, input, weights, 1, consts, requant, pad, output, scratch);
#endif
}
