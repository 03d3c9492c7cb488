/* The x86 board a VM runs on: which devices it has and where (interrupt lines, MMIO
 * windows), with the guest loaded onto it. The CLI parses a vm_config; everything from
 * there to the VM's end happens here. */
#ifndef HF_X86_BOARD_H
#define HF_X86_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/vm.h"

/* Interrupt lines the board lends to devices placed at run time (virtio-mmio): ISA lines
 * no emulated device uses, then IOAPIC pins 16-23 (the MP table wires all 24). */
extern const unsigned board_irqs[];
extern const unsigned board_nirqs;

/* Put vm's devices on its board and load the guest (image, len bytes): for a Linux guest
 * the devices of the command line in order (each takes the next interrupt line and MMIO
 * window), the serial port, the hypercall and legacy ports, then the kernel with a
 * command line that announces them (arch/x86/linux.h); for a bare guest the image and
 * the hypercall ports. A VM that is to be frozen into a template is refused here if a
 * device cannot be cloned. Returns 0 or -1 (logged). */
int board_build(struct vm *vm, const uint8_t *image, size_t len);

/* Boot the VM cfg describes and run it until it ends, in the foreground. Returns the
 * exit status of `hyperfork run` (guest code or HF_STATUS_*). */
int board_run(const struct vm_config *cfg);

#endif
