/*
 * tinyc runtime: int8 kernels (portable C99; SIMD paths come later behind the same API).
 *
 * Conventions (as CMSIS-NN):
 *   - one public kernel per file in runtime_c/src, named tinyc_<op>[_<variant>]_s8;
 *   - every kernel takes a const parameter struct (all fields int32_t, decided at compile
 *     time and emitted as static const data) followed by its data pointers;
 *   - a kernel that needs scratch has a tinyc_<op>_s8_get_buffer_size() twin and takes
 *     the scratch pointer as its last argument;
 *   - images are NHWC in memory, batch first; weights are in the layout named per kernel
 *     (the compiler reorders them at compile time);
 *   - offsets are the negated input zero points and the output zero point, as in TFLite;
 *   - elementwise kernels (add, mul, lut) allow the output to alias an input exactly.
 *   - variant choice happens in the compiler (tinycc_ml/kernels/registry.py), never here.
 */
#ifndef TINYC_NN_H
#define TINYC_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINYC_MAX_DIMS 6

/* Convolution (regular, grouped and depthwise share the parameter struct). */
typedef struct {
    int32_t batch;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left; /* padding rows/columns before the input */
    int32_t pad_bottom, pad_right; /* after it: a kernel may skip taps past in_h/in_w as well, but a
                                    * region of a larger image (a patch) states them explicitly */
    int32_t groups;            /* conv: in_c % groups == 0; depthwise: groups == in_c */
    int32_t input_offset;      /* -input zero point */
    int32_t output_offset;     /* +output zero point */
    int32_t act_min, act_max;
} tinyc_conv_params;

/* Regular and grouped convolution. weights: [out_c][kernel_h][kernel_w][in_c / groups] (OHWI).
 * bias may be NULL. multiplier/shift: one per output channel. */
void tinyc_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                   const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output);
int32_t tinyc_conv_s8_get_buffer_size(const tinyc_conv_params *params);

/* Depthwise convolution (groups == in_c, out_c = in_c * depth multiplier).
 * weights: [kernel_h][kernel_w][out_c] (TFLite's 1HWC). */
void tinyc_depthwise_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *output);
int32_t tinyc_depthwise_conv_s8_get_buffer_size(const tinyc_conv_params *params);

/* In-place variants (the compiler chooses them where the memory plan gets smaller; the
 * overlap each allows is derived in tinycc_ml/kernels/access.py):
 *
 * Depthwise, multiplier 1, stride 1, output as large as the input, NHWC: the output may
 * start at or before the input (exactly in place included); scratch is a ring of
 * (pad_top * in_w + pad_left + 1) input pixels. weights as tinyc_depthwise_conv_s8. */
void tinyc_depthwise_conv_inplace_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                     int8_t *output, int8_t *scratch);
int32_t tinyc_depthwise_conv_inplace_s8_get_buffer_size(const tinyc_conv_params *params);

/* Pointwise (1x1, stride 1, no padding, groups 1), NHWC: each input pixel is copied into a
 * one-pixel scratch (in_c bytes) before any of its output is written, so with out_c <= in_c
 * the output may start at or before the input. weights [out_c][in_c]. */
void tinyc_pointwise_conv_inplace_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                     int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_s8_get_buffer_size(const tinyc_conv_params *params);

/* Depthwise, multiplier 1, channel-major (input and output [batch][c][h][w]), one channel
 * at a time through a one-channel scratch (out_h * out_w bytes), so the output may sit over
 * the input. weights [c][kernel_h][kernel_w]. */
void tinyc_depthwise_conv_chw_inplace_s8(const tinyc_conv_params *params, const int8_t *input,
                                         const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                                         const int32_t *shift, int8_t *output, int8_t *scratch);
int32_t tinyc_depthwise_conv_chw_inplace_s8_get_buffer_size(const tinyc_conv_params *params);

/* Pointwise (1x1, stride 1, no padding, groups 1) with a channel-major side, so the
 * channel-major depthwise above needs no transpose copies: CHW -> CHW, CHW -> NHWC,
 * NHWC -> CHW. weights [out_c][in_c]. */
void tinyc_pointwise_conv_chw_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                 const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output);
void tinyc_pointwise_conv_chw_hwc_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                     int8_t *output);
void tinyc_pointwise_conv_hwc_chw_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                     int8_t *output);

/* Fully connected: input [batch][in_features], weights [out_features][in_features].
 * per_channel != 0: multiplier/shift have out_features entries, else one. */
typedef struct {
    int32_t batch;
    int32_t in_features, out_features;
    int32_t input_offset;
    int32_t filter_offset; /* -weights zero point (0 for symmetric weights) */
    int32_t output_offset;
    int32_t per_channel;
    int32_t act_min, act_max;
} tinyc_fully_connected_params;

void tinyc_fully_connected_s8(const tinyc_fully_connected_params *params, const int8_t *input,
                              const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *output);

/* Broadcasting over up to 4 physical dims: out[i0][i1][i2][i3] reads
 * a[sum(i_k * a_strides[k])] and b[sum(i_k * b_strides[k])]; a stride of 0 broadcasts. */
typedef struct {
    int32_t dims[4];
    int32_t a_strides[4];
    int32_t b_strides[4];
} tinyc_broadcast;

typedef struct {
    tinyc_broadcast shape;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t left_shift;
    int32_t act_min, act_max;
} tinyc_add_params;

void tinyc_add_s8(const tinyc_add_params *params, const int8_t *a, const int8_t *b, int8_t *output);

typedef struct {
    tinyc_broadcast shape;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tinyc_mul_params;

void tinyc_mul_s8(const tinyc_mul_params *params, const int8_t *a, const int8_t *b, int8_t *output);

/* Pooling on NHWC. Average: the window is clipped to the input; the divisor is the clipped
 * count, or (count_include_pad) the window clipped to the padded input only.
 * requantize == 0: TFLite's raw average (input and output share quantization; a counted
 *                 explicit pad cell adds the input zero point, -input_offset);
 * requantize != 0: MBQM(sum of (x - input zp), multiplier, shift), rounded division by the
 *                 count, + output zp (tinycc_ml/quant/params.py avgpool_params).
 * Max pooling reads only the window, the activation clamp and the geometry. */
typedef struct {
    int32_t batch;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t count_include_pad;
    int32_t requantize;
    int32_t input_offset, output_offset;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} tinyc_pool_params;

void tinyc_avgpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output);
void tinyc_maxpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output);
/* Average pooling as ONNX defines it (ONNX semantics): round_half_even(sum(x - zp_in) * multiplier *
 * 2^-shift / n) + output_offset; requantize is unused (tinycc_ml/quant/params.py onnx_avgpool_params). */
void tinyc_avgpool_onnx_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output);

/* Softmax over the innermost dimension (TFLite's int8 kernel, output (1/256, -128)). */
typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier, input_left_shift;
    int32_t diff_min;
} tinyc_softmax_params;

void tinyc_softmax_s8(const tinyc_softmax_params *params, const int8_t *input, int8_t *output);

/* Softmax over the innermost dimension as ONNX defines it (ONNX semantics): the exact softmax
 * of the dequantized row through a compile-time exp table, quantized once into any output
 * quantization (tinycc_ml/quant/softmax_table.py). */
typedef struct {
    int32_t outer, depth;
    int32_t output_multiplier, output_shift, output_offset;
} tinyc_softmax_table_params;

void tinyc_softmax_table_s8(const tinyc_softmax_table_params *params, const int32_t *exp_table, const int8_t *input,
                            int8_t *output);

/* output[i] = table[input[i] + 128] */
typedef struct {
    int32_t size;
} tinyc_lut_params;

void tinyc_lut_s8(const tinyc_lut_params *params, const int8_t *table, const int8_t *input, int8_t *output);

/* Generic strided copy: output is dense over out_dims (row-major); element at output index
 * (i0..i5) is read from input[sum(i_k * in_strides[k])]. Transposes, layout changes. */
typedef struct {
    int32_t out_dims[TINYC_MAX_DIMS];
    int32_t in_strides[TINYC_MAX_DIMS];
} tinyc_transpose_params;

void tinyc_transpose_s8(const tinyc_transpose_params *params, const int8_t *input, int8_t *output);

/* One input of a concatenation in physical memory: for o in [0, outer): copy inner bytes
 * from input + o * inner to output + o * out_inner + offset. */
typedef struct {
    int32_t outer, inner, out_inner, offset;
} tinyc_concat_params;

void tinyc_concat_s8(const tinyc_concat_params *params, const int8_t *input, int8_t *output);

/* Constant padding over up to 4 physical dims: output dims are pad_before + in_dims + pad_after,
 * every output element outside the input is `value`; a negative pad crops (ONNX Pad). */
typedef struct {
    int32_t in_dims[4];
    int32_t pad_before[4];
    int32_t pad_after[4];
    int32_t value;
} tinyc_pad_params;

void tinyc_pad_s8(const tinyc_pad_params *params, const int8_t *input, int8_t *output);

/* Float boundary of onnxruntime's QDQ models: q = saturate(round_half_even(x / scale) + zp),
 * x = (q - zp) * scale, both in float32 exactly as ONNX QuantizeLinear/DequantizeLinear.
 * Rounding uses integer arithmetic only (no libm, any FPU rounding mode); NaN -> zp. */
void tinyc_quantize_f32(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output);
void tinyc_dequantize_f32(const int8_t *input, int32_t size, float scale, int32_t zero_point, float *output);

#ifdef __cplusplus
}
#endif

#endif /* TINYC_NN_H */
