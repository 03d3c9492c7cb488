/* Device registry: port I/O dispatch and per-device clone hooks. Every device registers
 * here, so a device cannot be forgotten when a VM is cloned. */
#ifndef HF_BUS_H
#define HF_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;
struct device;
struct loop;

struct device_ops {
	const char *name;
	/* Port access of size 1, 2 or 4 at port (inside the device's range). data holds the
	 * value written, or receives the value read. Returns 0, or -1 if the guest did
	 * something invalid (the VM then stops with a crash status; the handler has
	 * logged why). */
	int (*pio)(struct device *d, struct vcpu *c, uint16_t port, bool write, uint8_t *data,
		   unsigned size);
	/* MMIO access of len bytes at guest-physical addr (inside the device's window); as
	 * pio. */
	int (*mmio)(struct device *d, struct vcpu *c, uint64_t addr, bool write, uint8_t *data,
		    unsigned len);
	/* The VM's main loop is (re)made, in a clone once its guest runs: take the clone's
	 * own host resources (e.g. its network tap) and watch the device's fds on l.
	 * Optional. Returns 0 or -1 (logged; a clone then fails to start). */
	int (*attach)(struct device *d, struct loop *l);
	/* Why this device keeps its VM from being cloned (e.g. a disk whose writes go to a
	 * shared file), or NULL. Optional. */
	const char *(*cannot_clone)(struct device *d);
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
	uint64_t mmio_base, mmio_size;  /* mmio_size 0: no MMIO window */
	char cmdline[80];               /* announces it on a Linux kernel command line */
	void *priv;
	struct device *next;
};

#define BUS_MAX_DEVICES 16

struct bus {
	unsigned ndevices;
	struct device *devices[BUS_MAX_DEVICES];
};

/* Add a device; fails if its ports or MMIO window overlap another device's or the bus is
 * full. */
int bus_add(struct bus *b, struct device *d);
/* The device owning port, or NULL. */
struct device *bus_find_port(const struct bus *b, uint16_t port);
/* The device whose MMIO window holds [addr, addr + len), or NULL. */
struct device *bus_find_mmio(const struct bus *b, uint64_t addr, unsigned len);

#endif
