/*
 * tinyc: instruction counting on QEMU's MPS2 machines.
 *
 * CMSDK APB timer 0 (0x40000000) is a 32-bit down-counter clocked by the 25 MHz FPGA
 * system clock. Under `qemu-system-arm -icount shift=0` every executed instruction
 * advances virtual time by exactly 1 ns, so one timer tick is exactly 40 instructions
 * (tests/test_qemu_timer.py measures a loop of known length to check the factor).
 * 32 bits of ticks cover 171 billion instructions: no wrap handling needed.
 */
#ifndef TINYC_MPS2_H
#define TINYC_MPS2_H

#include <stdint.h>

#define TINYC_MPS2_TIMER0 ((volatile uint32_t *)0x40000000u)
#define TINYC_MPS2_INSTRUCTIONS_PER_TICK 40u

/* Start the timer counting down from 0xFFFFFFFF (no interrupt). */
static inline void tinyc_mps2_timer_start(void)
{
    TINYC_MPS2_TIMER0[0] = 0;           /* CTRL: stop */
    TINYC_MPS2_TIMER0[2] = 0xFFFFFFFFu; /* RELOAD */
    TINYC_MPS2_TIMER0[1] = 0xFFFFFFFFu; /* VALUE */
    TINYC_MPS2_TIMER0[0] = 1;           /* CTRL: enable */
}

static inline uint32_t tinyc_mps2_timer_now(void)
{
    return TINYC_MPS2_TIMER0[1];
}

/* Instructions executed between two readings (the counter runs down). */
static inline uint64_t tinyc_mps2_instructions(uint32_t start, uint32_t end)
{
    return (uint64_t)(uint32_t)(start - end) * TINYC_MPS2_INSTRUCTIONS_PER_TICK;
}

#endif
