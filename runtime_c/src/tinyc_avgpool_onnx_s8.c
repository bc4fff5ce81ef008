/*
 * Average pooling on NHWC, int8, as onnxruntime computes a QDQ AveragePool (ONNX semantics):
 * DequantizeLinear, MLAS's float32 AveragePool, QuantizeLinear, each float32 operation in
 * onnxruntime's order, so the result equals onnxruntime's bit for bit, ties included. The twin
 * of tinycc_ml/quant/ort_pool.py (which cites the MLAS kernels followed).
 *
 * Parameters: input_offset = -zp_in, output_offset = zp_out; multiplier and shift carry the
 * float32 bit patterns of the input and output scales; requantize names the summation order:
 *   0 rows:    the window's cells row-major, from 0.0f (MlasPool2DKernel);
 *   1 columns: per window column its rows top to bottom, then the column sums left to right
 *              (MlasPool2DVectorKernel);
 *   2 global:  four lane sums over the flattened plane, (l0 + l2) + (l1 + l3), then the tail
 *              (MlasPoolGlobalKernel; the window is the whole input);
 *   3 eigen:   a ReduceMean over an NCHW tensor's H and W (the window is the whole padded
 *              plane): Eigen's vector sum of row d = b * channels + c, whose order depends on
 *              where the row starts in onnxruntime's 16-byte-aligned buffer (tinyc_pool_onnx_eigen_sum);
 *   4 sequential: a ReduceMean over an NHWC tensor's H and W: the plane's cells one after the
 *              other from 0.0f (MLAS's single-row SGEMM with a row of ones).
 * Orders 3 and 4 are tinycc_ml/quant/ort_reduce.py's; their pad cells (a folded Pad) add 0.0f
 * but keep their place in the row.
 * The divisor is the cells inside the input, or with count_include_pad the whole kernel. Pad
 * cells add 0.0f, which changes no sum, so they are skipped. Then x / scale_out rounded half to
 * even, + zp_out, clamped to the activation range.
 *
 * Each operation is one IEEE float32 operation: the single-precision FPU of the M4/M7 or the
 * soft-float library of the M3 rounds as SSE does on the host, provided no a * b + c becomes an
 * FMA (the M4/M7 have VFMA; onnxruntime's x86 kernels do not fuse). ISO C modes (-std=c99) keep
 * contraction off in GCC; the pragma below keeps it off in GNU modes too (STM32CubeIDE builds
 * with -std=gnu11). The half-even rounding is the 1.5 * 2^23 addition (|x| < 2^22 after the
 * clamp), so no libm is needed.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <string.h>

#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

static int32_t tinyc_pool_onnx_min(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static int32_t tinyc_pool_onnx_max(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static float tinyc_pool_onnx_float(int32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* (q - zp) * scale in float32: DequantizeLinear. */
static float tinyc_pool_onnx_dequantize(int8_t q, int32_t input_offset, float scale)
{
    return (float)((int32_t)q + input_offset) * scale;
}

/* QuantizeLinear: nearbyint(x / scale) half to even, + zp, clamped (the clamp before the
 * rounding keeps |x| small; clamping integers before or after rounding gives the same). */
static int8_t tinyc_pool_onnx_quantize(const tinyc_pool_params *params, float average, float scale_out)
{
    const float rounder = 12582912.0f; /* 1.5 * 2^23: the sum's ulp is 1, so the addition rounds half to even */
    const float low = (float)(params->act_min - params->output_offset);
    const float high = (float)(params->act_max - params->output_offset);
    float x = average / scale_out;
    volatile float shifted; /* stops the compiler folding (x + r) - r under any flags */
    x = x < low ? low : x;
    x = x > high ? high : x;
    shifted = x + rounder;
    return (int8_t)tinyc_clamp_i32((int32_t)(shifted - rounder) + params->output_offset, params->act_min,
                                   params->act_max);
}

static float tinyc_pool_onnx_global_sum(const tinyc_pool_params *params, const int8_t *plane, float scale_in)
{
    const int32_t channels = params->channels;
    const int32_t size = params->in_h * params->in_w;
    const int32_t body = size / 4 * 4;
    float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float total;
    int32_t i, j;
    for (i = 0; i < body; i += 4) {
        for (j = 0; j < 4; ++j) {
            lane[j] += tinyc_pool_onnx_dequantize(plane[(i + j) * channels], params->input_offset, scale_in);
        }
    }
    total = (lane[0] + lane[2]) + (lane[1] + lane[3]);
    for (i = body; i < size; ++i) {
        total += tinyc_pool_onnx_dequantize(plane[i * channels], params->input_offset, scale_in);
    }
    return total;
}

/* Cell i (row-major) of the padded plane of one channel: 0.0f on a pad cell. */
static float tinyc_pool_onnx_cell(const tinyc_pool_params *params, const int8_t *plane, int32_t i, float scale_in)
{
    const int32_t y = i / params->kernel_w - params->pad_top;
    const int32_t x = i % params->kernel_w - params->pad_left;
    if (y < 0 || y >= params->in_h || x < 0 || x >= params->in_w) {
        return 0.0f;
    }
    return tinyc_pool_onnx_dequantize(plane[(y * params->in_w + x) * params->channels], params->input_offset, scale_in);
}

static float tinyc_pool_onnx_sequential_sum(const tinyc_pool_params *params, const int8_t *plane, float scale_in)
{
    const int32_t size = params->kernel_h * params->kernel_w;
    float total = 0.0f;
    int32_t i;
    for (i = 0; i < size; ++i) {
        total += tinyc_pool_onnx_cell(params, plane, i, scale_in);
    }
    return total;
}

/* Eigen's sum() of row `row` in SSE packets of four: the elements before the first 16-byte
 * boundary are skipped, the aligned body goes into two packets p0, p1 eight elements at a time,
 * then p0 + p1, one more packet if four remain, (a0 + a2) + (a1 + a3), and last the skipped
 * leading and the trailing elements in order. A body shorter than a packet: element by element. */
static float tinyc_pool_onnx_eigen_sum(const tinyc_pool_params *params, const int8_t *plane, uint32_t row,
                                       float scale_in)
{
    const int32_t size = params->kernel_h * params->kernel_w;
    const int32_t misalign = (int32_t)((row * (uint32_t)size) % 4u);
    const int32_t start = tinyc_pool_onnx_min((4 - misalign) % 4, size);
    const int32_t body = (size - start) / 4 * 4;
    const int32_t pairs_end = start + (size - start) / 8 * 8;
    float p0[4], p1[4];
    float total;
    int32_t i, j;
    if (body == 0) {
        total = tinyc_pool_onnx_cell(params, plane, 0, scale_in);
        for (i = 1; i < size; ++i) {
            total += tinyc_pool_onnx_cell(params, plane, i, scale_in);
        }
        return total;
    }
    for (j = 0; j < 4; ++j) {
        p0[j] = tinyc_pool_onnx_cell(params, plane, start + j, scale_in);
    }
    if (body > 4) {
        for (j = 0; j < 4; ++j) {
            p1[j] = tinyc_pool_onnx_cell(params, plane, start + 4 + j, scale_in);
        }
        for (i = start + 8; i < pairs_end; i += 8) {
            for (j = 0; j < 4; ++j) {
                p0[j] += tinyc_pool_onnx_cell(params, plane, i + j, scale_in);
                p1[j] += tinyc_pool_onnx_cell(params, plane, i + 4 + j, scale_in);
            }
        }
        for (j = 0; j < 4; ++j) {
            p0[j] += p1[j];
        }
        if (start + body > pairs_end) {
            for (j = 0; j < 4; ++j) {
                p0[j] += tinyc_pool_onnx_cell(params, plane, pairs_end + j, scale_in);
            }
        }
    }
    total = (p0[0] + p0[2]) + (p0[1] + p0[3]);
    for (i = 0; i < start; ++i) {
        total += tinyc_pool_onnx_cell(params, plane, i, scale_in);
    }
    for (i = start + body; i < size; ++i) {
        total += tinyc_pool_onnx_cell(params, plane, i, scale_in);
    }
    return total;
}

void tinyc_avgpool_onnx_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    const float scale_in = tinyc_pool_onnx_float(params->multiplier);
    const float scale_out = tinyc_pool_onnx_float(params->shift);
    int32_t b, oy, ox, c, y, x;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_w * channels;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t y_begin = tinyc_pool_onnx_max(y0, 0);
            const int32_t y_end = tinyc_pool_onnx_min(y0 + params->kernel_h, in_h);
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t x_begin = tinyc_pool_onnx_max(x0, 0);
                const int32_t x_end = tinyc_pool_onnx_min(x0 + params->kernel_w, in_w);
                const int32_t inside =
                    tinyc_pool_onnx_max(y_end - y_begin, 0) * tinyc_pool_onnx_max(x_end - x_begin, 0);
                const int32_t count = params->count_include_pad ? params->kernel_h * params->kernel_w : inside;
                for (c = 0; c < channels; ++c) {
                    float sum = 0.0f;
                    if (params->requantize == 4) {
                        sum = tinyc_pool_onnx_sequential_sum(params, image + c, scale_in);
                    } else if (params->requantize == 3) {
                        sum = tinyc_pool_onnx_eigen_sum(params, image + c, (uint32_t)(b * channels + c), scale_in);
                    } else if (params->requantize == 2) {
                        sum = tinyc_pool_onnx_global_sum(params, image + c, scale_in);
                    } else if (params->requantize == 1) {
                        for (x = x_begin; x < x_end; ++x) {
                            float column = 0.0f;
                            for (y = y_begin; y < y_end; ++y) {
                                column += tinyc_pool_onnx_dequantize(image[(y * in_w + x) * channels + c],
                                                                     params->input_offset, scale_in);
                            }
                            sum += column;
                        }
                    } else {
                        for (y = y_begin; y < y_end; ++y) {
                            for (x = x_begin; x < x_end; ++x) {
                                sum += tinyc_pool_onnx_dequantize(image[(y * in_w + x) * channels + c],
                                                                  params->input_offset, scale_in);
                            }
                        }
                    }
                    /* a window over no cell: the compiler never emits one */
                    *output++ = count > 0 ? tinyc_pool_onnx_quantize(params, sum / (float)count, scale_out)
                                          : (int8_t)0;
                }
            }
        }
    }
}
