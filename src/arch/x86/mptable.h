/* Intel MultiProcessor Specification 1.4 table: how a Linux guest without ACPI finds its
 * CPUs, the IOAPIC and the ISA interrupt wiring. */
#ifndef HF_X86_MPTABLE_H
#define HF_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/vm.h"

#define MPTABLE_IOAPIC_ADDR 0xfec00000u
#define MPTABLE_LAPIC_ADDR 0xfee00000u
#define MPTABLE_IRQS 24u /* IOAPIC pins, each wired to the IRQ of its number */

/* Build the floating pointer and configuration table for ncpus CPUs into buf (len bytes).
 * Returns the bytes used, or -1 if buf is too small. Pure. */
int mptable_build(uint8_t *buf, size_t len, uint32_t base_addr, unsigned ncpus);
/* Write the table at guest address addr. Returns 0 or -1 (logged). */
int mptable_write(struct vm *vm, uint64_t addr);

#endif
