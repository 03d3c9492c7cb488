/* The board builder: a VM's devices placed on its board (interrupt lines, MMIO windows,
 * ports) in a fixed order, and its guest loaded onto it (arch/x86: bare or Linux). The
 * twin that makes a VM again from a snapshot, in a clone, is clone/child.c. */
#ifndef HF_BOARD_H
#define HF_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/marks.h"
#include "vmm/config.h"

/* Interrupt lines the board lends to devices placed at run time (virtio-mmio): ISA lines
 * no emulated device uses, then IOAPIC pins 16-23 (the MP table wires all 24). */
extern const unsigned board_irqs[];
extern const unsigned board_nirqs;

/* Put the devices cfg names on vm's board and load the guest (image, len bytes): for a Linux
 * guest the devices of the command line in order (each takes the next interrupt line and
 * MMIO window), the serial port, the hypercall and legacy ports, then the kernel with a
 * command line that announces them (arch/x86/linux.h); for a bare guest the image, the
 * devices of the command line, then the hypercall ports. A VM that is to be frozen into a
 * template is refused here if a device cannot be cloned. The hypercall ports record
 * HF_PORT_MARK writes in marks (NULL: none). Returns 0 or -1 (logged). */
int board_build(struct vm *vm, const struct vmm_config *cfg, struct marks *marks,
		const uint8_t *image, size_t len);

#endif
