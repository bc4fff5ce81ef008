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
    int32_t input_row_stride;  /* elements from one input row (y) to the next: in_w * in_c for a */
    int32_t output_row_stride; /* whole tensor, more for a region of a larger image (a patch); the
                                * in-place and channel-major variants take whole tensors only */
} tinyc_conv_params;

/* Regular and grouped convolution. weights: [out_c][kernel_h][kernel_w][in_c / groups] (OHWI).
 * bias may be NULL. multiplier/shift: one per output channel. */
void tinyc_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                   const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output);
int32_t tinyc_conv_s8_get_buffer_size(const tinyc_conv_params *params);

/* The same for DSP cores with weights pre-expanded to int16 (the compiler picks it where the
 * flash has room): groups 1, dilation 1, in_c and out_c multiples of 4, no scratch. weights:
 * int32 words of two int16, [out_c / 4][kernel_h][kernel_w * in_c / 4][4 channels]{w0, w2}{w1, w3}.
 * requant: the packed shifts [C][2], the proved tail's double shift (0: guarded tail), then per
 * block of four channels their bias[4] and (multiplier, k, right_shift)[4] (kernels/conv_w16.py). */
void tinyc_conv_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                       const int32_t *multiplier, const int32_t *requant, int8_t *output);

/* tinyc_conv_w16_s8 with the single-rounding tail (ONNX semantics, right shift 0 everywhere,
 * proved at compile time: kernels/single_tail.py). tail: the double shift, then per block of
 * four channels their bias[4] and (multiplier, offset)[4]. */
void tinyc_conv_w16_single_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                              const int32_t *tail, int8_t *output);

/* Regular convolution (groups 1, any kernel, stride, dilation, padding) for DSP cores, for
 * short windows (first layers with 1-4 input channels, strided 1x1 convs): each output pixel's
 * window (K = kernel_h * kernel_w * in_c values, x + input_offset, 0 for padding taps) gathered
 * once into an int16 column (scratch: K4 int16, K rounded up to 4), then four output channels
 * at a time by SMLAD. weights: int32 words of two int16, [out_c4 / 4][K4 / 4][4 channels]
 * {w0, w1}{w2, w3} (OHWI rows, zero-padded; out_c4 = out_c rounded up to 4). bias: out_c4
 * entries (never NULL). table: [out_c4][4] {multiplier, shift, k, right_shift} and one word,
 * the double shift of the compile-time-proved tail, or 0 (kernels/conv_gather.py). Takes
 * row strides. */
void tinyc_conv_gather_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                              const int32_t *bias, const int32_t *table, int8_t *output, int8_t *scratch);
int32_t tinyc_conv_gather_w16_s8_get_buffer_size(const tinyc_conv_params *params);

/* tinyc_conv_gather_w16_s8 with the single-rounding tail, for layers whose every channel has
 * right shift 0 (ONNX semantics), proved by the compiler (kernels/conv_gather.py
 * single_table): table [out_c4][2] {multiplier, offset} and one word, the double shift; out =
 * clamp(SMMLAR(acc << double_shift, multiplier, offset)). Takes row strides. */
void tinyc_conv_gather_single_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                     const int32_t *bias, const int32_t *table, int8_t *output, int8_t *scratch);
int32_t tinyc_conv_gather_single_w16_s8_get_buffer_size(const tinyc_conv_params *params);

/* Regular convolution (groups 1) by partial im2col, for DSP cores: two output pixels' windows
 * expanded to int16 in a scratch of 2 * K4 int16 (K4 = kernel_h * (kernel_w * in_c rounded up
 * to a multiple of 4)), then two pixels x two output channels per inner iteration. Pixels in
 * pairs: both windows are read before either pixel is written. weights: OHWI, each kernel row
 * zero-padded to a multiple of 4, channel pairs interleaved by groups of four bytes (an odd
 * last channel alone), as kernels/conv.py writes them. */
void tinyc_conv_im2col_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                          const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output,
                          int8_t *scratch);
int32_t tinyc_conv_im2col_s8_get_buffer_size(const tinyc_conv_params *params);

/* The same with int8 columns: scratch 2 * K4 bytes (K4 = kernel_h * kernel_w * in_c rounded up
 * to 4), for convs where the int16 scratch would grow the arena. bias must have the input
 * offset folded in (bias + input_offset * sum of the channel's weights, for every pixel:
 * padding taps hold the zero point); params->input_offset is only the padding value. weights:
 * OHWI rows padded to K4, channel pairs interleaved by groups of four bytes. */
void tinyc_conv_im2col8_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output,
                           int8_t *scratch);
int32_t tinyc_conv_im2col8_s8_get_buffer_size(const tinyc_conv_params *params);

/* Depthwise convolution (groups == in_c, out_c = in_c * depth multiplier).
 * weights: [kernel_h][kernel_w][out_c] (TFLite's 1HWC). */
void tinyc_depthwise_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *output);
int32_t tinyc_depthwise_conv_s8_get_buffer_size(const tinyc_conv_params *params);

/* Depthwise 3x3, multiplier 1, dilation 1, channels % 4 == 0, NHWC (DSP cores), with the
 * compiler's layouts (kernels/depthwise3x3.py, the kernel's source): weights [channels / 4][3][3][2]
 * int16 lane pairs, pre-shifted by the proved tail's double shift; bias the lane table (per
 * four channels their biases, multipliers and tail constants); requant: two packed words per
 * channel as for tinyc_pointwise_conv_s8, then the proved tail's double shift (or 0). */
void tinyc_depthwise_conv_3x3_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                 const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                 int8_t *output);
/* The same for layers whose every channel rounds once (right shift 0: onnxruntime's constants;
 * kernels/single_tail.py proved the one-SMMLAR tail): the lane table carries per channel its
 * multiplier and output offset in place of the proved tail's; same order, same stack buffer. */
void tinyc_depthwise_conv_3x3_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                        const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                        const int32_t *requant, int8_t *output);

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

/* The same on DSP cores for channels % 4 == 0 and windows of up to 25 taps, with the
 * compiler's layouts (kernels/depthwise_inplace4.py, tinyc/dw_inplace4.h): weights
 * [channels / 4][taps] in SMLAD tap pairs; consts per four channels their folded biases,
 * multipliers and proved-tail constants; requant the packed shifts and the proved double
 * shift; pad: channels bytes of the input zero point. */
void tinyc_depthwise_conv_inplace_c4_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                        const int32_t *consts, const int32_t *requant, const int8_t *pad,
                                        int8_t *output, int8_t *scratch);
int32_t tinyc_depthwise_conv_inplace_c4_s8_get_buffer_size(const tinyc_conv_params *params);
/* The same with int16 weights, two per int32 word (where the flash has room: wide_weights.py). */
void tinyc_depthwise_conv_inplace_c4_w16_s8(const tinyc_conv_params *params, const int8_t *input,
                                            const int32_t *weights, const int32_t *consts, const int32_t *requant,
                                            const int8_t *pad, int8_t *output, int8_t *scratch);
int32_t tinyc_depthwise_conv_inplace_c4_w16_s8_get_buffer_size(const tinyc_conv_params *params);
/* The two above for layers whose requantize tail the compiler proved (every channel): the
 * same arguments, loop and ring, consts and requant carrying the proved tail (and, int16
 * weights, the weights and biases pre-shifted by its double shift); the two above then run
 * only the other layers, through the guarded tail. */
void tinyc_depthwise_conv_inplace_c4_proved_s8(const tinyc_conv_params *params, const int8_t *input,
                                               const int8_t *weights, const int32_t *consts, const int32_t *requant,
                                               const int8_t *pad, int8_t *output, int8_t *scratch);
int32_t tinyc_depthwise_conv_inplace_c4_proved_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_depthwise_conv_inplace_c4_proved_w16_s8(const tinyc_conv_params *params, const int8_t *input,
                                                   const int32_t *weights, const int32_t *consts,
                                                   const int32_t *requant, const int8_t *pad, int8_t *output,
                                                   int8_t *scratch);
int32_t tinyc_depthwise_conv_inplace_c4_proved_w16_s8_get_buffer_size(const tinyc_conv_params *params);
/* The two above for layers whose every channel rounds once (right shift 0: onnxruntime's
 * constants; kernels/single_tail.py proved the one-SMMLAR tail): consts carry (output offset, 0)
 * in place of the proved tail's (k, right_shift); the same loop, ring and access order. */
void tinyc_depthwise_conv_inplace_c4_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                               const int8_t *weights, const int32_t *consts, const int32_t *requant,
                                               const int8_t *pad, int8_t *output, int8_t *scratch);
int32_t tinyc_depthwise_conv_inplace_c4_single_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_depthwise_conv_inplace_c4_single_w16_s8(const tinyc_conv_params *params, const int8_t *input,
                                                   const int32_t *weights, const int32_t *consts,
                                                   const int32_t *requant, const int8_t *pad, int8_t *output,
                                                   int8_t *scratch);
int32_t tinyc_depthwise_conv_inplace_c4_single_w16_s8_get_buffer_size(const tinyc_conv_params *params);

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

/* Pointwise (1x1, stride 1, no padding, groups 1), NHWC -> NHWC, in_c % 4 == 0 and
 * out_c % 2 == 0: pixels in pairs along each row, two output channels per block (register
 * blocking). weights [out_c / 2][in_c / 4][2][4] (interleaved by the compiler); requant:
 * per channel two words derived from its shift by the compiler: double_shift | right_shift
 * << 8 | (right_shift != 0) << 16, and the rounding term 2^(right_shift - 1) (or 0). */
void tinyc_pointwise_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *requant, int8_t *output);
/* The same that may write its output over its input: each pixel pair is copied into a scratch
 * of (in_w > 1 ? 2 : 1) * in_c bytes first (DSP cores' in-place pointwise). */
void tinyc_pointwise_conv_inplace_pairs_s8(const tinyc_conv_params *params, const int8_t *input,
                                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                                           const int32_t *requant, int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_s8_get_buffer_size(const tinyc_conv_params *params);
/* The two above with weights pre-expanded to int16 (the compiler picks them on DSP cores where
 * the flash has room): int32 words of two int16, [out_c / 2][in_c / 4][2][2], per pair of
 * output channels, per block of four input channels, per channel {w0, w2} then {w1, w3}. */
void tinyc_pointwise_conv_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                 const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                 int8_t *output);
void tinyc_pointwise_conv_inplace_pairs_w16_s8(const tinyc_conv_params *params, const int8_t *input,
                                               const int32_t *weights, const int32_t *bias,
                                               const int32_t *multiplier, const int32_t *requant, int8_t *output,
                                               int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_w16_s8_get_buffer_size(const tinyc_conv_params *params);
/* tinyc_pointwise_conv_inplace_pairs_w16_s8 for in_c == 64: the count a constant of the loop
 * (the compiler picks it for exactly that count). */
void tinyc_pointwise_conv_inplace_pairs_in64_w16_s8(const tinyc_conv_params *params, const int8_t *input,
                                                    const int32_t *weights, const int32_t *bias,
                                                    const int32_t *multiplier, const int32_t *requant,
                                                    int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_in64_w16_s8_get_buffer_size(const tinyc_conv_params *params);
/* tinyc_pointwise_conv_w16_s8 for in_c == 8 and in_c == 16: the count a constant of the loop
 * (its dot products unrolled). */
void tinyc_pointwise_conv_in8_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                     int8_t *output);
/* tinyc_pointwise_conv_w16_s8 that expands each pixel pair to int16 into a scratch of
 * tinyc_pointwise_conv_x16_w16_s8_get_buffer_size bytes first (in_c >= 32). */
void tinyc_pointwise_conv_x16_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                     int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_x16_w16_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_in16_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                      const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                      int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_in16_w16_s8_get_buffer_size(const tinyc_conv_params *params);
/* The eight kernels above for layers whose TFLite-form tail the compiler proved
 * (kernels/pointwise.py proved_tail_table: no guard, the output offset folded into the
 * rounding constant) with the input offset folded into the bias: the same arguments, loops
 * and scratch, and only the proved loops, where the eight above hold only the general ones
 * (any input offset, the guarded tail). */
void tinyc_pointwise_conv_proved_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                    const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                    int8_t *output);
void tinyc_pointwise_conv_w16_proved_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                        const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                        int8_t *output);
void tinyc_pointwise_conv_in8_w16_proved_s8(const tinyc_conv_params *params, const int8_t *input,
                                            const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                            const int32_t *requant, int8_t *output);
void tinyc_pointwise_conv_in16_w16_proved_s8(const tinyc_conv_params *params, const int8_t *input,
                                             const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                             const int32_t *requant, int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_in16_w16_proved_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_x16_w16_proved_s8(const tinyc_conv_params *params, const int8_t *input,
                                            const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                            const int32_t *requant, int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_x16_w16_proved_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_inplace_pairs_proved_s8(const tinyc_conv_params *params, const int8_t *input,
                                                  const int8_t *weights, const int32_t *bias,
                                                  const int32_t *multiplier, const int32_t *requant, int8_t *output,
                                                  int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_proved_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_inplace_pairs_w16_proved_s8(const tinyc_conv_params *params, const int8_t *input,
                                                      const int32_t *weights, const int32_t *bias,
                                                      const int32_t *multiplier, const int32_t *requant,
                                                      int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_w16_proved_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_inplace_pairs_in64_w16_proved_s8(const tinyc_conv_params *params, const int8_t *input,
                                                           const int32_t *weights, const int32_t *bias,
                                                           const int32_t *multiplier, const int32_t *requant,
                                                           int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_in64_w16_proved_s8_get_buffer_size(const tinyc_conv_params *params);
/* The single-rounding twins of the eight kernels above: the same arguments, loops and scratch,
 * each output one SMMLAR with the output offset (requant_tail.h tinyc_tail_single), for layers
 * whose every channel has right shift 0 where the compiler proved that tail
 * (kernels/single_tail.py) and folded the input offset; requant's per-channel part holds
 * (bias, multiplier, offset, 0). */
void tinyc_pointwise_conv_single_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                    const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                    int8_t *output);
void tinyc_pointwise_conv_w16_single_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                                        const int32_t *bias, const int32_t *multiplier, const int32_t *requant,
                                        int8_t *output);
void tinyc_pointwise_conv_in8_w16_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                            const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                            const int32_t *requant, int8_t *output);
void tinyc_pointwise_conv_in16_w16_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                             const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                             const int32_t *requant, int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_in16_w16_single_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_x16_w16_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                            const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                            const int32_t *requant, int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_x16_w16_single_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_inplace_pairs_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                                  const int8_t *weights, const int32_t *bias,
                                                  const int32_t *multiplier, const int32_t *requant, int8_t *output,
                                                  int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_single_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_inplace_pairs_w16_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                                      const int32_t *weights, const int32_t *bias,
                                                      const int32_t *multiplier, const int32_t *requant,
                                                      int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_w16_single_s8_get_buffer_size(const tinyc_conv_params *params);
void tinyc_pointwise_conv_inplace_pairs_in64_w16_single_s8(const tinyc_conv_params *params, const int8_t *input,
                                                           const int32_t *weights, const int32_t *bias,
                                                           const int32_t *multiplier, const int32_t *requant,
                                                           int8_t *output, int8_t *scratch);
int32_t tinyc_pointwise_conv_inplace_pairs_in64_w16_single_s8_get_buffer_size(const tinyc_conv_params *params);

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

/* The same with weights pre-expanded to int16 (the compiler picks it on DSP cores where the
 * flash has room): in_features and out_features multiples of 4, symmetric weights, the input
 * offset folded into the bias (params->input_offset 0). weights: int32 words of two int16,
 * per block of four rows, per group of four inputs, per row {w0, w2} then {w1, w3}. */
void tinyc_fully_connected_w16_s8(const tinyc_fully_connected_params *params, const int8_t *input,
                                  const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                  const int32_t *shift, int8_t *output);

/* tinyc_fully_connected_w16_s8 with the single-rounding tail, for layers whose every channel
 * has right shift 0 (ONNX semantics), proved by the compiler (kernels/fc_single.py): bias
 * out_features entries (never NULL); table [out_features][2] {multiplier, offset} and one
 * word, the double shift: out = clamp(SMMLAR(acc << double_shift, multiplier, offset)). */
void tinyc_fully_connected_single_w16_s8(const tinyc_fully_connected_params *params, const int8_t *input,
                                         const int32_t *weights, const int32_t *bias, const int32_t *table,
                                         int8_t *output);

/* Broadcasting over up to 4 physical dims: element (i0, i1, i2, i3) of the output, stored at
 * out[sum(i_k * y_strides[k])] (dense for a whole tensor, a row stride for a region of a larger
 * image), reads a[sum(i_k * a_strides[k])] and b[sum(i_k * b_strides[k])]; a stride of 0 broadcasts. */
typedef struct {
    int32_t dims[4];
    int32_t a_strides[4];
    int32_t b_strides[4];
    int32_t y_strides[4];
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

/* Add through a compile-time table of each input's rescaled values (the same bits as
 * tinyc_add_s8): table[0..255] is input 1's value for x = -128..127, table[256..511] input
 * 2's, both already shifted left by max(output_shift, 0) + 1, so that with v = SMMULR(ta + tb,
 * output_multiplier) out = clamp((v + output_bias + (v >> 31)) >> output_right_shift), where
 * output_bias = 2^(right_shift - 1) + (output_offset << right_shift) (RoundingDivideByPOT
 * and the output zero point in one add). The compiler emits it only where that is exact:
 * |ta + tb| < 2^29, right_shift >= 1 and no sum overflows (kernels/elementwise.py). */
typedef struct {
    tinyc_broadcast shape;
    int32_t output_multiplier, output_bias, output_right_shift;
    int32_t act_min, act_max;
} tinyc_add_table_params;

void tinyc_add_table_s8(const tinyc_add_table_params *params, const int32_t *table, const int8_t *a,
                        const int8_t *b, int8_t *output);

/* The same table for Adds whose output stage has no right shift (ONNX semantics: the sum
 * rounded once): entries shifted left by output_shift + 1, out = clamp(SMMLAR(ta + tb,
 * output_multiplier, output_bias)) with output_bias the output zero point
 * (output_right_shift 0, unused); emitted only where every |ta + tb| < 2^31
 * (kernels/elementwise.py add_table_single). */
void tinyc_add_table_single_s8(const tinyc_add_table_params *params, const int32_t *table, const int8_t *a,
                               const int8_t *b, int8_t *output);

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
    int32_t input_row_stride, output_row_stride; /* as in tinyc_conv_params */
} tinyc_pool_params;

void tinyc_avgpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output);
void tinyc_maxpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output);
/* Average pooling as onnxruntime computes a QDQ AveragePool (ONNX semantics): float32 dequantize,
 * sum in MLAS's order, divide by the count, quantize half to even. multiplier / shift carry the
 * float32 bit patterns of the input / output scales, requantize the summation order
 * (tinycc_ml/quant/ort_pool.py). */
void tinyc_avgpool_onnx_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output);
/* ReduceMean over H and W as onnxruntime computes a QDQ ReduceMean (ONNX semantics), as a
 * whole-plane pool: float32 dequantize, sum in onnxruntime's order for the ONNX form (requantize
 * 3 NCHW, 4 NHWC: tinycc_ml/quant/ort_reduce.py), divide by the count, quantize half to even. */
void tinyc_reduce_mean_onnx_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output);

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

/* output[r * output_row_stride + i] = table[input[r * input_row_stride + i] + 128] for r < rows,
 * i < size (one row for a whole tensor; one per image row for a region of a larger image) */
typedef struct {
    int32_t size;
    int32_t rows;
    int32_t input_row_stride, output_row_stride;
} tinyc_lut_params;

void tinyc_lut_s8(const tinyc_lut_params *params, const int8_t *table, const int8_t *input, int8_t *output);

/* The edge of a uint8 model: output[i] = input[i] XOR 0x80 (uint8 q <-> int8 q - 128, the same
 * real value with the zero point moved by 128). A 32-bit word at a time; the output may alias
 * the input exactly, or start before it. */
typedef struct {
    int32_t size;
} tinyc_sign_flip_params;

void tinyc_sign_flip_s8(const tinyc_sign_flip_params *params, const int8_t *input, int8_t *output);

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
    int32_t input_row_stride, output_row_stride; /* elements between dim-3 runs: in_dims[3] and the
                                                  * output's dim 3 when dense */
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
