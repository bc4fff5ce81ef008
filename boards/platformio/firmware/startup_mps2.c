/*
 * tinyc: reset and vector table for bare-metal firmware on QEMU's MPS2 machines
 * (mps2-an385 Cortex-M3, mps2-an386 Cortex-M4, mps2-an500 Cortex-M7, mps2-an505 Cortex-M33).
 * Part of tinyc's PlatformIO platform; `tinyc run --target qemu-*` links the same file.
 *
 * Reset: enable the FPU (CPACR; on the Cortex-M33, which boots Secure, NSACR too, so that
 * Non-secure code could use it as well) before any C code may touch it, copy .data from its load
 * address in code SSRAM, zero .bss, open the semihosting console, run the C++/C
 * constructors (__libc_init_array), then exit(main()). newlib's rdimon (semihosting) turns
 * exit(status) into SYS_EXIT_EXTENDED, so qemu-system-arm exits with main's status.
 * A fault prints its exception number through semihosting and exits with status 70
 * instead of hanging until the caller's timeout.
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __StackTop;
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);

void Reset_Handler(void);
void Default_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*tinyc_vector)(void);

/* 16 system exceptions + 32 external interrupts (the an505 wires up more; tinyc's firmware
 * enables none, and every external interrupt goes to Default_Handler). On the Cortex-M33 the
 * Secure fault (exception 7) lands in Default_Handler too. */
__attribute__((section(".isr_vector"), used)) const tinyc_vector tinyc_vectors[16 + 32] = {
    (tinyc_vector)(uintptr_t)&__StackTop,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    Default_Handler, /* SecureFault on Armv8-M mainline, reserved before */
    0, 0, 0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
};

/* One semihosting call (ARM semihosting v2: BKPT 0xAB on M-profile). */
static int32_t semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

void Default_Handler(void)
{
    static const char digits[] = "0123456789";
    char text[] = "tinyc: fault in exception 000\n";
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    ipsr &= 0x1FFu;
    text[26] = digits[ipsr / 100u];
    text[27] = digits[(ipsr / 10u) % 10u];
    text[28] = digits[ipsr % 10u];
    semihost(SYS_WRITE0, text);
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, 70};
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    volatile uint32_t *const cpacr = (volatile uint32_t *)0xE000ED88u;
#if defined(__ARM_ARCH_8M_MAIN__)
    volatile uint32_t *const nsacr = (volatile uint32_t *)0xE000ED8Cu;
    *nsacr |= 3u << 10; /* CP10 and CP11 usable from the Non-secure state too */
#endif
    *cpacr |= 0xFu << 20; /* CP10 and CP11 full access: the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif /* no FPU (Cortex-M3): floats are soft, CPACR stays as it is */

    const uint32_t *src = &__data_load__;
    uint32_t *dst = &__data_start__;
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0;
    }
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}
