/* What the virtio fuzz targets share: a VM of 1 MiB of real guest RAM with a board of one
 * virtio-mmio window at BASE (the driver helpers of tests/unit/virtio_driver.h), and the
 * driver's bring-up of a device's queues. */
#ifndef HF_FUZZ_VIRTIO_H
#define HF_FUZZ_VIRTIO_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "../unit/virtio_driver.h"
#include "core/vm.h"
#include "devices/virtio.h"

/* Queue q's rings: descriptors at FZ_RING(q), available ring at +0x1000, used at +0x2000. */
#define FZ_RING(q) (0x10000ull + (q)*0x4000ull)
#define FZ_AVAIL(q) (FZ_RING(q) + 0x1000)
#define FZ_USED(q) (FZ_RING(q) + 0x2000)

/* vm zeroed, its RAM mapped, a board with one interrupt line and one MMIO window. */
static inline void fz_vm_init(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	mem_layout(&vm->mem, 1 * MiB, 3 * GiB);
	assert(mem_map(&vm->mem, false) == 0);
	vm->vm_fd = -1;
	bus_board(&vm->bus, (unsigned[]){5}, 1, BASE, BASE + VIRTIO_MMIO_SIZE);
}

/* The driver's bring-up (virtio 1.1, 3.1.1): features VERSION_1 plus extra (high word
 * first), nq queues of qsize entries at FZ_RING(q), DRIVER_OK. */
static inline void fz_bringup(struct device *dev, unsigned nq, unsigned qsize, uint32_t extra)
{
	drv_wr(dev, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	drv_wr(dev, 0x024, 1);
	drv_wr(dev, 0x020, 1);
	drv_wr(dev, 0x024, 0);
	drv_wr(dev, 0x020, extra);
	drv_wr(dev, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < nq; q++) {
		drv_wr(dev, 0x030, q);
		drv_wr(dev, 0x038, qsize);
		drv_wr(dev, 0x080, (uint32_t)FZ_RING(q));
		drv_wr(dev, 0x090, (uint32_t)FZ_AVAIL(q));
		drv_wr(dev, 0x0a0, (uint32_t)FZ_USED(q));
		drv_wr(dev, 0x044, 1);
	}
	drv_wr(dev, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert(!(drv_rd(dev, 0x070) & VIRTIO_STATUS_NEEDS_RESET));
}

/* Whether the device is running: DRIVER_OK and not DEVICE_NEEDS_RESET. */
static inline int fz_running(struct device *dev)
{
	uint32_t s = drv_rd(dev, 0x070);
	return (s & VIRTIO_STATUS_DRIVER_OK) && !(s & VIRTIO_STATUS_NEEDS_RESET);
}

/* The used ring's index of queue q, and its element i (head, len). */
static inline uint16_t fz_used_idx(struct vm *vm, unsigned q)
{
	uint16_t v;
	memcpy(&v, mem_ptr(&vm->mem, FZ_USED(q) + 2, 2), 2);
	return v;
}

static inline void fz_used_elem(struct vm *vm, unsigned q, unsigned qsize, uint16_t i,
				uint32_t *head, uint32_t *len)
{
	const uint8_t *e = mem_ptr(&vm->mem, FZ_USED(q) + 4 + 8ull * (i % qsize), 8);
	memcpy(head, e, 4);
	memcpy(len, e + 4, 4);
}

/* Program op 0 and 1 of every target: a register write (OFF VALUE, 5 bytes) or a scribble
 * into guest RAM at 0x10000 + AT (AT: 2 bytes modulo span, N: 1 byte up to 64, then N
 * bytes). Returns the bytes of data used, 0 if too few were left. */
static inline size_t fz_reg_write(struct device *dev, const uint8_t *d, size_t left)
{
	if (left < 5)
		return 0;
	uint32_t v;
	memcpy(&v, d + 1, 4);
	drv_wr(dev, (uint32_t)(d[0] & 0xfc), v);
	return 5;
}

static inline size_t fz_scribble(struct vm *vm, const uint8_t *d, size_t left, uint32_t span)
{
	if (left < 3)
		return 0;
	uint32_t off = ((uint32_t)d[0] | (uint32_t)d[1] << 8) % span;
	size_t n = d[2] % 65;
	if (n > left - 3)
		n = left - 3;
	memcpy(mem_ptr(&vm->mem, 0x10000 + off, n ? n : 1), d + 3, n);
	return 3 + n;
}

/* Op 0 or 1 (op): the driver breaks the rules, so no model of it holds any more (*clean). */
static inline size_t fz_hostile(uint8_t op, struct device *dev, struct vm *vm, const uint8_t *d,
				size_t left, uint32_t span, bool *clean)
{
	*clean = false;
	return op == 0 ? fz_reg_write(dev, d, left) : fz_scribble(vm, d, left, span);
}

/* A target's own op (2 and up) of a driver's program: the input bytes it used from d (left
 * there), 0 if too few: the program ends. */
typedef size_t (*fz_op)(void *ctx, uint8_t op, const uint8_t *d, size_t left);

/* Run the driver's program in data: each op a byte (modulo nops) and its operands; ops 0 and
 * 1 are fz_hostile's (scribbles within span), the others the target's. */
static inline void fz_program(const uint8_t *data, size_t size, unsigned nops,
			      struct device *dev, struct vm *vm, uint32_t span, bool *clean,
			      fz_op op, void *ctx)
{
	for (size_t at = 0, used = 1; at < size && used; at += used) {
		uint8_t o = data[at++] % nops;
		used = o < 2 ? fz_hostile(o, dev, vm, data + at, size - at, span, clean)
			     : op(ctx, o, data + at, size - at);
	}
}

#endif
