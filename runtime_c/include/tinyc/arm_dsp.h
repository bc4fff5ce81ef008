/*
 * Armv7E-M DSP instructions as inline functions, with bit-identical portable C twins.
 *
 * On a core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33 with DSP) each
 * function is one instruction through <arm_acle.h> (or inline assembly where ACLE has no
 * intrinsic). Elsewhere (the host, Cortex-M0+/M3) the C twin computes exactly the same
 * bits, so a kernel's SIMD algorithm runs and is tested on the host under the sanitizers
 * too, and the portable build of a kernel shares its structure and its requantize tail.
 * The C twins use unsigned arithmetic where the instruction wraps, so they have no UB.
 *
 * Lane notation: an int32_t holding int8x4 has bytes b0 (bits 0-7) .. b3; one holding
 * int16x2 has halves lo (bits 0-15) and hi (bits 16-31).
 */
#ifndef TINYC_ARM_DSP_H
#define TINYC_ARM_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TINYC_HAVE_DSP 1
#else
#define TINYC_HAVE_DSP 0
#endif

/* Kernels take their SIMD path where the core has the DSP extension, or on any machine
 * when the build defines TINYC_SIMD_EMULATE: then the host tests run the SIMD algorithm,
 * through the C twins below, under the sanitizers, next to the portable loops. */
#if TINYC_HAVE_DSP || defined(TINYC_SIMD_EMULATE)
#define TINYC_USE_SIMD 1
#else
#define TINYC_USE_SIMD 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Four int8 from any address as one word (LDR; Cortex-M4/M7 load unaligned words). */
static inline int32_t tinyc_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Two int16 from any address as one word. */
static inline int32_t tinyc_read_s16x2(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void tinyc_write_s16x2(int16_t *p, int32_t v)
{
    memcpy(p, &v, sizeof v);
}

static inline int32_t tinyc_pack_s16x2(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

static inline int32_t tinyc_lo16(int32_t x)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu);
}

static inline int32_t tinyc_hi16(int32_t x)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16);
}

static inline int32_t tinyc_byte_s8(int32_t x, int32_t index)
{
    return (int32_t)(int8_t)(uint8_t)((uint32_t)x >> (8 * index));
}

/* SXTB16: int16x2 { b0, b2 } sign-extended. */
static inline int32_t tinyc_sxtb16(int32_t x)
{
#if TINYC_HAVE_DSP
    return (int32_t)__sxtb16((int8x4_t)x);
#else
    return tinyc_pack_s16x2(tinyc_byte_s8(x, 0), tinyc_byte_s8(x, 2));
#endif
}

/* SXTB16 x, ROR #8: int16x2 { b1, b3 } sign-extended. */
static inline int32_t tinyc_sxtb16_ror8(int32_t x)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return tinyc_pack_s16x2(tinyc_byte_s8(x, 1), tinyc_byte_s8(x, 3));
#endif
}

/* SXTAB16: int16x2 { a.lo + b0, a.hi + b2 } (each half wraps at 16 bits). */
static inline int32_t tinyc_sxtab16(int32_t a, int32_t x)
{
#if TINYC_HAVE_DSP
    return (int32_t)__sxtab16((int16x2_t)a, (int8x4_t)x);
#else
    return tinyc_pack_s16x2(tinyc_lo16(a) + tinyc_byte_s8(x, 0), tinyc_hi16(a) + tinyc_byte_s8(x, 2));
#endif
}

/* SXTAB16 a, x, ROR #8: int16x2 { a.lo + b1, a.hi + b3 }. */
static inline int32_t tinyc_sxtab16_ror8(int32_t a, int32_t x)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
#else
    return tinyc_pack_s16x2(tinyc_lo16(a) + tinyc_byte_s8(x, 1), tinyc_hi16(a) + tinyc_byte_s8(x, 3));
#endif
}

/* SMLAD: acc + a.lo * b.lo + a.hi * b.hi (wrapping, as the instruction). */
static inline int32_t tinyc_smlad(int32_t a, int32_t b, int32_t acc)
{
#if TINYC_HAVE_DSP
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyc_lo16(a) * tinyc_lo16(b)) +
                     (uint32_t)(tinyc_hi16(a) * tinyc_hi16(b)));
#endif
}

/* SMLADX: acc + a.lo * b.hi + a.hi * b.lo. */
static inline int32_t tinyc_smladx(int32_t a, int32_t b, int32_t acc)
{
#if TINYC_HAVE_DSP
    return __smladx((int16x2_t)a, (int16x2_t)b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyc_lo16(a) * tinyc_hi16(b)) +
                     (uint32_t)(tinyc_hi16(a) * tinyc_lo16(b)));
#endif
}

/* SMLABB / SMLATT / SMLABT / SMLATB: acc + (one half of a) * (one half of b). */
static inline int32_t tinyc_smlabb(int32_t a, int32_t b, int32_t acc)
{
#if TINYC_HAVE_DSP
    return __smlabb(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyc_lo16(a) * tinyc_lo16(b)));
#endif
}

static inline int32_t tinyc_smlatt(int32_t a, int32_t b, int32_t acc)
{
#if TINYC_HAVE_DSP
    return __smlatt(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyc_hi16(a) * tinyc_hi16(b)));
#endif
}

static inline int32_t tinyc_smlabt(int32_t a, int32_t b, int32_t acc)
{
#if TINYC_HAVE_DSP
    return __smlabt(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyc_lo16(a) * tinyc_hi16(b)));
#endif
}

static inline int32_t tinyc_smlatb(int32_t a, int32_t b, int32_t acc)
{
#if TINYC_HAVE_DSP
    return __smlatb(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyc_hi16(a) * tinyc_lo16(b)));
#endif
}

/* SMMULR: the high word of a * b, rounded: (a * b + 2^31) >> 32. */
static inline int32_t tinyc_smmulr(int32_t a, int32_t b)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    /* Arithmetic right shift of a negative int64: gcc and clang define it as arithmetic. */
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* SMMLAR: acc + the high word of a * b, rounded: acc + ((a * b + 2^31) >> 32), wrapping. */
static inline int32_t tinyc_smmlar(int32_t a, int32_t b, int32_t acc)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)tinyc_smmulr(a, b));
#endif
}

/* PKHBT a, b, LSL #16: the low half of a, the low half of b on top. */
static inline int32_t tinyc_pkhbt_lsl16(int32_t a, int32_t b)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
#endif
}

/* PKHTB a, b, ASR #16: the high half of b below the high half of a. */
static inline int32_t tinyc_pkhtb_asr16(int32_t a, int32_t b)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((uint32_t)a & 0xFFFF0000u) | ((uint32_t)b >> 16));
#endif
}

/* BFI x, v, #(8 * index), #8: byte `index` (1, 2 or 3, a constant at every call) of x
 * replaced by the low byte of v. */
static inline int32_t tinyc_insert_byte(int32_t x, int32_t v, int32_t index)
{
#if TINYC_HAVE_DSP
    if (index == 1) {
        __asm__("bfi %0, %1, #8, #8" : "+r"(x) : "r"(v));
    } else if (index == 2) {
        __asm__("bfi %0, %1, #16, #8" : "+r"(x) : "r"(v));
    } else {
        __asm__("bfi %0, %1, #24, #8" : "+r"(x) : "r"(v));
    }
    return x;
#else
    const uint32_t shift = 8u * (uint32_t)index;
    return (int32_t)(((uint32_t)x & ~(0xFFu << shift)) | ((uint32_t)v & 0xFFu) << shift);
#endif
}

#if TINYC_HAVE_DSP
/* What TINYC_LDMIA4_SMLAD_PAIRS reads (for the compiler's view of memory). */
typedef struct {
    int32_t words[4];
} tinyc_words4;

/* Two rows' (or channels') int16 weight words {a0, a1, b0, b1} at w in one LDMIA with
 * write-back (w += 4 words) against two input words x0, x1: acc_a += SMLAD(a0, x0) +
 * SMLAD(a1, x1), acc_b likewise with b0, b1. The LDM's register list must ascend, so its four
 * destinations are pinned to r4-r7 (one instruction where two LDRD would be two). */
#define TINYC_LDMIA4_SMLAD_PAIRS(w, x0, x1, acc_a, acc_b)                                             \
    do {                                                                                              \
        register int32_t w0_ __asm__("r4");                                                           \
        register int32_t w1_ __asm__("r5");                                                           \
        register int32_t w2_ __asm__("r6");                                                           \
        register int32_t w3_ __asm__("r7");                                                           \
        __asm__("ldmia %4!, {%0, %1, %2, %3}"                                                         \
                : "=r"(w0_), "=r"(w1_), "=r"(w2_), "=r"(w3_), "+r"(w)                                 \
                : "m"(*(const tinyc_words4 *)(const void *)(w)));                                     \
        (acc_a) = tinyc_smlad(w0_, (x0), (acc_a));                                                    \
        (acc_a) = tinyc_smlad(w1_, (x1), (acc_a));                                                    \
        (acc_b) = tinyc_smlad(w2_, (x0), (acc_b));                                                    \
        (acc_b) = tinyc_smlad(w3_, (x1), (acc_b));                                                    \
    } while (0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* TINYC_ARM_DSP_H */
