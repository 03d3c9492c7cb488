/* A guest's virtio driver for unit tests: 32-bit register access to a virtio-mmio device
 * at BASE, and descriptors and available entries written into guest RAM. */
#ifndef HF_TEST_VIRTIO_DRIVER_H
#define HF_TEST_VIRTIO_DRIVER_H

#include <stdint.h>
#include <string.h>

#include "core/bus.h"
#include "core/mem.h"

#define BASE 0xd0000000ull /* the device's MMIO window: the first the test board lends */

static inline uint32_t drv_rd(struct device *dev, uint32_t off)
{
	uint32_t v;
	dev->ops->mmio(dev, NULL, BASE + off, false, (uint8_t *)&v, 4);
	return v;
}

static inline void drv_wr(struct device *dev, uint32_t off, uint32_t value)
{
	dev->ops->mmio(dev, NULL, BASE + off, true, (uint8_t *)&value, 4);
}

/* Descriptor i of the table at guest-physical address table. */
static inline void drv_desc(struct guest_mem *m, uint64_t table, unsigned i, uint64_t addr,
			    uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = mem_ptr(m, table + 16ull * i, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Offer chain head as the next entry of the available ring at avail (qsize entries). */
static inline void drv_offer(struct guest_mem *m, uint64_t avail, unsigned qsize, uint16_t head)
{
	uint16_t *a = mem_ptr(m, avail, 4 + 2ull * qsize);
	a[2 + a[1] % qsize] = head;
	a[1]++;
}

#endif
