/*
 * ReduceMean over H and W on NHWC, int8, as onnxruntime computes a QDQ ReduceMean (ONNX
 * semantics): DequantizeLinear, onnxruntime's float32 reduction, QuantizeLinear, each float32
 * operation in onnxruntime's order, so the result equals onnxruntime's bit for bit, ties included.
 * The twin of tinycc_ml/quant/ort_reduce.py (which cites the onnxruntime and Eigen code followed).
 *
 * Parameters (tinyc_pool_params of a whole-plane pool): kernel = the padded plane, pads a folded
 * Pad's (its cells add 0.0f but keep their place in the row), input_offset = -zp_in,
 * output_offset = zp_out; multiplier and shift carry the float32 bit patterns of the input and
 * output scales; requantize names the ONNX form, hence the order:
 *   3 NCHW (axes [2, 3]): Eigen's vector sum of row d = b * channels + c, whose order depends on
 *     where the row starts in onnxruntime's 16-byte-aligned buffer (tinyc_mean_onnx_eigen_sum);
 *   4 NHWC (axes [1, 2], batch 1): the plane's cells one after the other from 0.0f (MLAS's
 *     single-row SGEMM with a row of ones).
 * Then the sum / (float)count (the cells inside the input, or with count_include_pad the whole
 * plane) and QuantizeLinear (include/tinyc/onnx_float.h). Contraction stays off as in
 * tinyc_avgpool_onnx_s8.c: no a * b + c may become an FMA.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "tinyc/tinyc_nn.h"
#include "tinyc/onnx_float.h"

static int32_t tinyc_mean_onnx_min(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

/* One channel's padded plane, its constants in locals. */
typedef struct {
    const int8_t *plane; /* the channel's value at input pixel (0, 0) */
    int32_t channels, input_offset, kernel_w, pad_top, pad_left, in_h, in_w, size, padded;
    float scale;
} tinyc_mean_onnx_plane;

static tinyc_mean_onnx_plane tinyc_mean_onnx_plane_of(const tinyc_pool_params *params, const int8_t *plane,
                                                      float scale_in)
{
    tinyc_mean_onnx_plane v;
    v.plane = plane;
    v.channels = params->channels;
    v.input_offset = params->input_offset;
    v.kernel_w = params->kernel_w;
    v.pad_top = params->pad_top;
    v.pad_left = params->pad_left;
    v.in_h = params->in_h;
    v.in_w = params->in_w;
    v.size = params->kernel_h * params->kernel_w;
    v.padded = (params->pad_top | params->pad_left | params->pad_bottom | params->pad_right) != 0;
    v.scale = scale_in;
    return v;
}

/* Cell i (row-major) of the padded plane: 0.0f on a pad cell. Without pads (every ReduceMean but
 * one with a folded Pad) cell i is input pixel i. */
static inline float tinyc_mean_onnx_cell(const tinyc_mean_onnx_plane *v, int32_t i)
{
    int32_t y, x;
    if (!v->padded) {
        return tinyc_onnx_dequantize(v->plane[i * v->channels], v->input_offset, v->scale);
    }
    y = i / v->kernel_w - v->pad_top;
    x = i % v->kernel_w - v->pad_left;
    if (y < 0 || y >= v->in_h || x < 0 || x >= v->in_w) {
        return 0.0f;
    }
    return tinyc_onnx_dequantize(v->plane[(y * v->in_w + x) * v->channels], v->input_offset, v->scale);
}

static float tinyc_mean_onnx_sequential_sum(const tinyc_mean_onnx_plane *v)
{
    const int32_t size = v->size;
    float total = 0.0f;
    int32_t i;
    for (i = 0; i < size; ++i) {
        total += tinyc_mean_onnx_cell(v, i);
    }
    return total;
}

/* Eigen's sum() of row `row` in SSE packets of four: the elements before the first 16-byte
 * boundary are skipped, the aligned body goes into two packets p0, p1 eight elements at a time,
 * then p0 + p1, one more packet if four remain, (a0 + a2) + (a1 + a3), and last the skipped
 * leading and the trailing elements in order. A body shorter than a packet: element by element. */
static float tinyc_mean_onnx_eigen_sum(const tinyc_mean_onnx_plane *v, uint32_t row)
{
    const int32_t size = v->size;
    const int32_t misalign = (int32_t)((row * (uint32_t)size) % 4u);
    const int32_t start = tinyc_mean_onnx_min((4 - misalign) % 4, size);
    const int32_t body = (size - start) / 4 * 4;
    const int32_t pairs_end = start + (size - start) / 8 * 8;
    float p0[4], p1[4];
    float total;
    int32_t i, j;
    if (body == 0) {
        total = tinyc_mean_onnx_cell(v, 0);
        for (i = 1; i < size; ++i) {
            total += tinyc_mean_onnx_cell(v, i);
        }
        return total;
    }
    for (j = 0; j < 4; ++j) {
        p0[j] = tinyc_mean_onnx_cell(v, start + j);
    }
    if (body > 4) {
        for (j = 0; j < 4; ++j) {
            p1[j] = tinyc_mean_onnx_cell(v, start + 4 + j);
        }
        for (i = start + 8; i < pairs_end; i += 8) {
            for (j = 0; j < 4; ++j) {
                p0[j] += tinyc_mean_onnx_cell(v, i + j);
                p1[j] += tinyc_mean_onnx_cell(v, i + 4 + j);
            }
        }
        for (j = 0; j < 4; ++j) {
            p0[j] += p1[j];
        }
        if (start + body > pairs_end) {
            for (j = 0; j < 4; ++j) {
                p0[j] += tinyc_mean_onnx_cell(v, pairs_end + j);
            }
        }
    }
    total = (p0[0] + p0[2]) + (p0[1] + p0[3]);
    for (i = 0; i < start; ++i) {
        total += tinyc_mean_onnx_cell(v, i);
    }
    for (i = start + body; i < size; ++i) {
        total += tinyc_mean_onnx_cell(v, i);
    }
    return total;
}

void tinyc_reduce_mean_onnx_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t channels = params->channels;
    const int32_t plane_size = params->in_h * params->in_w;
    const float scale_in = tinyc_onnx_float_of_bits(params->multiplier);
    const float scale_out = tinyc_onnx_float_of_bits(params->shift);
    const int32_t count = params->count_include_pad ? params->kernel_h * params->kernel_w : plane_size;
    int32_t b, c;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * plane_size * channels;
        for (c = 0; c < channels; ++c) {
            const tinyc_mean_onnx_plane v = tinyc_mean_onnx_plane_of(params, image + c, scale_in);
            const float sum = params->requantize == 4 ? tinyc_mean_onnx_sequential_sum(&v)
                                                      : tinyc_mean_onnx_eigen_sum(&v, (uint32_t)(b * channels + c));
            *output++ = tinyc_onnx_quantize(sum / (float)count, scale_out, params->output_offset, params->act_min,
                                            params->act_max);
        }
    }
}
