/* x86 vCPU setup shared by every boot path: CPUID, XCR0, LAPIC lines, boot MSRs,
 * segment descriptors. */
#ifndef HF_X86_CPU_H
#define HF_X86_CPU_H

#include <linux/kvm.h>
#include <stdint.h>

#include "core/vcpu.h"
#include "core/vm.h"

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_AM (1ull << 18)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_OSFXSR (1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)
#define X86_CR4_FSGSBASE (1ull << 16)
#define X86_CR4_OSXSAVE (1ull << 18)
#define X86_EFER_SCE (1ull << 0)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)
#define X86_EFER_NXE (1ull << 11)

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PS (1ull << 7)

/* Install the host's supported CPUID with this vCPU's APIC id. Returns 0 or -1. */
int cpu_set_cpuid(struct vm *vm, struct vcpu *c);
/* Enable every user-visible XSAVE component the host supports (x87, SSE, AVX, AVX-512) in
 * XCR0. Returns the XCR0 set (0 if the host has no XSAVE), or -1 on error. */
int64_t cpu_enable_xsave(struct vm *vm, struct vcpu *c);
/* LAPIC LINT0 = ExtINT, LINT1 = NMI, as a PC BIOS leaves them. Returns 0 or -1. */
int cpu_setup_lapic(struct vcpu *c);
/* MSRs a firmware would set before booting Linux. Returns 0 or -1. */
int cpu_setup_boot_msrs(struct vcpu *c);

/* A GDT entry from base, limit and the 12 flag bits (type..G) as in the descriptor. */
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
/* The kvm_segment that loading selector sel with descriptor desc would produce. */
struct kvm_segment segment_from_gdt(uint64_t desc, uint16_t sel);

#endif
