/* Device registry: port I/O dispatch and per-device clone hooks. Every device registers
 * here, so a device cannot be forgotten when a VM is cloned. */
#ifndef HF_BUS_H
#define HF_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;
struct device;

struct device_ops {
	const char *name;
	/* Port access of size 1, 2 or 4 at port (inside the device's range). data holds the
	 * value written, or receives the value read. Returns 0, or -1 if the guest did
	 * something invalid (the VM then stops with a crash status; the handler has
	 * logged why). */
	int (*pio)(struct device *d, struct vcpu *c, uint16_t port, bool write, uint8_t *data,
		   unsigned size);
	/* Parent, vCPUs paused, before fork(): capture state held outside this process's
	 * memory (kernel objects). Optional. Returns 0 or -1. */
	int (*pre_fork)(struct device *d);
	/* Child, after fork(): rebuild kernel objects (fds, threads, irq lines) for the clone.
	 * Optional. Returns 0 or -1. */
	int (*post_fork)(struct device *d);
	/* Free the device. Optional. */
	void (*destroy)(struct device *d);
};

struct device {
	const struct device_ops *ops;
	struct vm *vm;
	uint16_t port_base, port_count; /* port_count 0: no ports */
	void *priv;
	struct device *next;
};

#define BUS_MAX_DEVICES 16

struct bus {
	unsigned ndevices;
	struct device *devices[BUS_MAX_DEVICES];
};

/* Add a device; fails if its ports overlap another device's or the bus is full. */
int bus_add(struct bus *b, struct device *d);
/* The device owning port, or NULL. */
struct device *bus_find_port(const struct bus *b, uint16_t port);

#endif
