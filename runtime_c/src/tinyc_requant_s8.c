/*
 * The guarded requantize tails' fallback (requant.h tinyc_requant_slow_s8): the reference
 * arithmetic for an accumulator the fast tail cannot take. Not a kernel: every firmware whose
 * kernels include requant.h links this source (targets/runtime_build.py LIBRARY_SOURCES), and
 * --gc-sections drops it where no guarded tail remains.
 */
#include "tinyc/requant.h"

int8_t tinyc_requant_slow_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset, int32_t act_min,
                             int32_t act_max)
{
    return tinyc_requantize_s8_reference(acc, multiplier, shift, output_offset, act_min, act_max);
}
