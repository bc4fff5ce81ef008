/*
 * The float32 boundary of onnxruntime's QDQ ops (ONNX semantics): DequantizeLinear and
 * QuantizeLinear as onnxruntime computes them, shared by the kernels that replay an op's float
 * arithmetic (tinyc_avgpool_onnx_s8, tinyc_reduce_mean_onnx_s8). Each is one IEEE float32
 * operation per step; a kernel including this header keeps contraction off (see
 * tinyc_avgpool_onnx_s8.c) so no a * b + c becomes an FMA. Twin of tinycc_ml/quant/ort_pool.py's
 * dequantize / quantize lines.
 */
#ifndef TINYC_ONNX_FLOAT_H
#define TINYC_ONNX_FLOAT_H

#include <stdint.h>
#include <string.h>

#include "tinyc/requant.h"

/* A float32 the compiler passed as its int32 bit pattern (the params structs are all int32). */
static inline float tinyc_onnx_float_of_bits(int32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* DequantizeLinear: (q - zp) * scale in float32 (input_offset = -zp). */
static inline float tinyc_onnx_dequantize(int8_t q, int32_t input_offset, float scale)
{
    return (float)((int32_t)q + input_offset) * scale;
}

/* QuantizeLinear of value / scale_out (the op's last float division): nearbyint half to even,
 * + zp, clamped to the activation range. The clamp before the rounding keeps |x| small (clamping
 * integers before or after rounding gives the same); the half-even rounding is the 1.5 * 2^23
 * addition (|x| < 2^22 after the clamp), so no libm is needed. */
static inline int8_t tinyc_onnx_quantize(float value, float scale_out, int32_t output_offset, int32_t act_min,
                                         int32_t act_max)
{
    const float rounder = 12582912.0f; /* 1.5 * 2^23: the sum's ulp is 1, so the addition rounds half to even */
    const float low = (float)(act_min - output_offset);
    const float high = (float)(act_max - output_offset);
    float x = value / scale_out;
    volatile float shifted; /* stops the compiler folding (x + r) - r under any flags */
    x = x < low ? low : x;
    x = x > high ? high : x;
    shifted = x + rounder;
    return (int8_t)tinyc_clamp_i32((int32_t)(shifted - rounder) + output_offset, act_min, act_max);
}

#endif /* TINYC_ONNX_FLOAT_H */
