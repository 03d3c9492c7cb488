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

void bus_board(struct bus *b, const unsigned *irqs, unsigned nirqs, uint64_t mmio_base,
	       uint64_t mmio_end)
{
	b->nirqs = nirqs < BUS_MAX_IRQS ? nirqs : BUS_MAX_IRQS;
	for (unsigned i = 0; i < b->nirqs; i++)
		b->irqs[i] = irqs[i];
	b->irqs_used = 0;
	b->mmio_next = mmio_base;
	b->mmio_end = mmio_end;
}

int bus_alloc(struct bus *b, const char *name, uint64_t mmio_size, unsigned *irq,
	      uint64_t *mmio_base)
{
	if (b->irqs_used == b->nirqs) {
		pr_err("%s: no interrupt line left: the board has %u for devices, all taken", name,
		       b->nirqs);
		return -1;
	}
	uint64_t base = mmio_size ? (b->mmio_next + mmio_size - 1) & ~(mmio_size - 1) : 0;
	if (mmio_size && (base < b->mmio_next || base > b->mmio_end ||
			  b->mmio_end - base < mmio_size)) {
		pr_err("%s: no room left for an MMIO window of %llu bytes", name,
		       (unsigned long long)mmio_size);
		return -1;
	}
	*irq = b->irqs[b->irqs_used++];
	if (mmio_size) {
		*mmio_base = base;
		b->mmio_next = base + mmio_size;
	}
	return 0;
}

/* The first device's reason, asked through its cannot_clone (reset false) or cannot_reset
 * hook; NULL if none gives one. */
static const char *refusal(const struct bus *b, bool reset)
{
	for (unsigned i = 0; i < b->ndevices; i++) {
		struct device *d = b->devices[i];
		const char *(*ask)(struct device *) = reset ? d->ops->cannot_reset
							    : d->ops->cannot_clone;
		const char *why = ask ? ask(d) : NULL;
		if (why)
			return why;
	}
	return NULL;
}

const char *bus_refusal(const struct bus *b) { return refusal(b, false); }
const char *bus_reset_refusal(const struct bus *b) { return refusal(b, true); }

enum hook { HOOK_PRE_FORK, HOOK_POST_FORK, HOOK_ATTACH, HOOK_RESET };

/* Call one hook on every device that has it, stopping at the first failure. */
static int walk(const struct bus *b, enum hook h, struct loop *l)
{
	for (unsigned i = 0; i < b->ndevices; i++) {
		struct device *d = b->devices[i];
		const struct device_ops *o = d->ops;
		int r = 0;
		if (h == HOOK_PRE_FORK && o->pre_fork)
			r = o->pre_fork(d);
		else if (h == HOOK_POST_FORK && o->post_fork)
			r = o->post_fork(d);
		else if (h == HOOK_ATTACH && o->attach)
			r = o->attach(d, l);
		else if (h == HOOK_RESET && o->reset)
			r = o->reset(d);
		if (r < 0)
			return -1;
	}
	return 0;
}

int bus_pre_fork(const struct bus *b) { return walk(b, HOOK_PRE_FORK, NULL); }
int bus_post_fork(const struct bus *b) { return walk(b, HOOK_POST_FORK, NULL); }
int bus_attach(const struct bus *b, struct loop *l) { return walk(b, HOOK_ATTACH, l); }
int bus_reset(const struct bus *b) { return walk(b, HOOK_RESET, NULL); }

void bus_status(const struct bus *b, struct hf_vm_status *st)
{
	for (unsigned i = 0; i < b->ndevices; i++)
		if (b->devices[i]->ops->status)
			b->devices[i]->ops->status(b->devices[i], st);
}

void bus_destroy(struct bus *b)
{
	for (unsigned i = 0; i < b->ndevices; i++) {
		struct device *d = b->devices[i];
		if (d->ops->destroy)
			d->ops->destroy(d);
	}
	b->ndevices = 0;
}
