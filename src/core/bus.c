/* Device registry: port I/O and MMIO dispatch and per-device clone hooks. */
#include "core/bus.h"

#include <stddef.h>

#include "util/log.h"

int bus_add(struct bus *b, struct device *d)
{
	if (b->ndevices == BUS_MAX_DEVICES) {
		pr_err("device %s: too many devices", d->ops->name);
		return -1;
	}
	for (unsigned i = 0; i < b->ndevices && d->port_count; i++) {
		struct device *o = b->devices[i];
		if (!o->port_count)
			continue;
		unsigned a0 = d->port_base, a1 = a0 + d->port_count;
		unsigned b0 = o->port_base, b1 = b0 + o->port_count;
		if (a0 < b1 && b0 < a1) {
			pr_err("device %s: ports 0x%x-0x%x overlap device %s", d->ops->name, a0,
			       a1 - 1, o->ops->name);
			return -1;
		}
	}
	for (unsigned i = 0; i < b->ndevices && d->mmio_size; i++) {
		struct device *o = b->devices[i];
		if (o->mmio_size && d->mmio_base < o->mmio_base + o->mmio_size &&
		    o->mmio_base < d->mmio_base + d->mmio_size) {
			pr_err("device %s: MMIO window at 0x%llx overlaps device %s", d->ops->name,
			       (unsigned long long)d->mmio_base, o->ops->name);
			return -1;
		}
	}
	b->devices[b->ndevices++] = d;
	return 0;
}

struct device *bus_find_port(const struct bus *b, uint16_t port)
{
	for (unsigned i = 0; i < b->ndevices; i++) {
		struct device *d = b->devices[i];
		if (port >= d->port_base && port - d->port_base < d->port_count)
			return d;
	}
	return NULL;
}

struct device *bus_find_mmio(const struct bus *b, uint64_t addr, unsigned len)
{
	for (unsigned i = 0; i < b->ndevices; i++) {
		struct device *d = b->devices[i];
		if (d->mmio_size && addr >= d->mmio_base && addr - d->mmio_base < d->mmio_size &&
		    len <= d->mmio_size - (addr - d->mmio_base))
			return d;
	}
	return NULL;
}
