/*
 * tinyc: instruction counting and the console UART on QEMU's MPS2 machines.
 *
 * CMSDK APB timer 0 is a 32-bit down-counter clocked by the FPGA system clock: 25 MHz on
 * mps2-an385 / an386 / an500, 20 MHz on mps2-an505. Under `qemu-system-arm -icount shift=0`
 * every executed instruction advances virtual time by exactly 1 ns, so one timer tick is
 * exactly 40 (50 on the an505) instructions (tests/test_qemu_timer.py measures a loop of known
 * length to check the factor). 32 bits of ticks cover 171 billion instructions: no wrap
 * handling needed.
 *
 * Where the devices are depends on the FPGA image, which the core tells apart at compile
 * time: the an505 is the only Armv8-M mainline (Cortex-M33) machine tinyc runs, an Arm IoT Kit
 * whose timer 0 is at 0x40000000 and UART0 at 0x40200000; its firmware runs in the Secure
 * state and uses their Secure aliases (address bit 28 set). The Armv7-M machines (an385 M3,
 * an386 M4, an500 M7) have timer 0 at 0x40000000 and UART0 at 0x40004000.
 */
#ifndef TINYC_MPS2_H
#define TINYC_MPS2_H

#include <stdint.h>

#if defined(__ARM_ARCH_8M_MAIN__)
#define TINYC_MPS2_TIMER0_BASE 0x50000000u /* mps2-an505, Secure alias of 0x40000000 */
#define TINYC_MPS2_UART0_BASE 0x50200000u  /* mps2-an505, Secure alias of 0x40200000 */
#define TINYC_MPS2_CLOCK_HZ 20000000u
#else
#define TINYC_MPS2_TIMER0_BASE 0x40000000u
#define TINYC_MPS2_UART0_BASE 0x40004000u
#define TINYC_MPS2_CLOCK_HZ 25000000u
#endif

#define TINYC_MPS2_TIMER0 ((volatile uint32_t *)TINYC_MPS2_TIMER0_BASE)
#define TINYC_MPS2_UART0 ((volatile uint32_t *)TINYC_MPS2_UART0_BASE)
#define TINYC_MPS2_INSTRUCTIONS_PER_TICK (1000000000u / TINYC_MPS2_CLOCK_HZ)

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
