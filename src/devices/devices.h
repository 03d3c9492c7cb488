/* Constructors of the VMM's devices; each device lives in its own file. */
#ifndef HF_DEVICES_H
#define HF_DEVICES_H

#include "core/vm.h"
#include "hyperfork/abi.h"

/* Hypercall ports of include/hyperfork/abi.h (all guests). */
int hfport_add(struct vm *vm);
/* 8250 UART at 0x3f8, IRQ 4 (Linux guests). */
int serial_add(struct vm *vm);
/* Legacy PC ports a Linux guest touches: POST/delay port 0x80, the i8042 reset line. */
int legacy_add(struct vm *vm);

/* virtio-net (virtio-mmio at mmio_base, ISA irq) over host tap ifname, created if it does
 * not exist; the guest's MAC address is mac. Clones get taps of their own. */
int virtio_net_add(struct vm *vm, const char *ifname, const uint8_t mac[6], uint64_t mmio_base,
		   unsigned irq);

/* virtio-blk on disk image path: DISK_COW mapped copy-on-write (the file is never
 * written; a clone inherits the disk as it was at the fork), DISK_RO read-only, or
 * DISK_PERSIST shared (writes reach the file; the VM cannot be cloned). */
int virtio_blk_add(struct vm *vm, const char *path, enum disk_mode mode, uint64_t mmio_base,
		   unsigned irq);

/* Feed console input to the serial port (main loop). */
void serial_input(struct vm *vm, const uint8_t *data, size_t len);

/* Host timestamp log written on HF_PORT_MARK. Opened by `run --marks FILE`. */
int marks_open(struct vm *vm, const char *path);
void marks_record(struct vm *vm, uint32_t tag);
/* A mark with its own time (CLOCK_MONOTONIC ns) and VM name. */
void marks_record_at(struct vm *vm, uint32_t tag, uint64_t ns, const char *name);
void marks_close(struct vm *vm);
/* The guest wrote to its console: record HF_MARK_FIRST_OUTPUT the first time. */
static inline void marks_output(struct vm *vm)
{
	if (vm->marks && !__atomic_exchange_n(&vm->output_marked, 1, __ATOMIC_RELAXED))
		marks_record(vm, HF_MARK_FIRST_OUTPUT);
}

#endif
