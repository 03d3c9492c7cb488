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
struct hf_vm_status; /* api/proto.h */

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
	/* The clone hooks, all optional, are called by the bus walks below, in the order the
	 * devices were added. In order of a clone's life:
	 *
	 * cannot_clone: why this device keeps its VM from being cloned (e.g. a disk whose
	 * writes go to a shared file), or NULL. Asked before freezing a template and before
	 * every fork.
	 * pre_fork: parent, vCPUs paused, before fork() (for a template: once, when it
	 * freezes): capture state held outside this process's memory (kernel objects).
	 * Returns 0 or -1.
	 * post_fork: child, right after fork(), before its vCPUs run: drop the parent's
	 * kernel objects (fds, threads) and rebuild what the clone needs to run. The clone
	 * may not know who it is yet: a template's warm clone runs post_fork when it is made
	 * and learns its name and number (vm->clone_id) only at activation. Locks of the
	 * virtio transport are re-initialised before this runs. Returns 0 or -1.
	 * attach: the VM's main loop is (re)made: at boot, and in a clone once it knows its
	 * identity and its guest already runs (a warm clone: after activation). Take the
	 * clone's own host resources (e.g. its network tap, named after the clone) and watch
	 * the device's fds on l. Returns 0 or -1 (logged; a clone then fails to start). */
	int (*attach)(struct device *d, struct loop *l);
	const char *(*cannot_clone)(struct device *d);
	int (*pre_fork)(struct device *d);
	int (*post_fork)(struct device *d);
	/* A clone goes back to the state it started in (its template's) and runs anew
	 * (clone/reset.c), its vCPUs paused: cannot_reset says why this device keeps its VM
	 * from that (NULL: it does not), asked first; reset drops what happened since the
	 * clone started (a connection, an invocation, buffered bytes) and takes the state the
	 * device had then. Both optional (a device without state has nothing to do). Returns
	 * 0 or -1 (logged; the VM then ends). */
	const char *(*cannot_reset)(struct device *d);
	int (*reset)(struct device *d);
	/* What the device adds to the VM's status (`hyperfork status`: e.g. its host tap), main
	 * thread. Optional. */
	void (*status)(struct device *d, struct hf_vm_status *st);
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
};

#define BUS_MAX_DEVICES 32
#define BUS_MAX_IRQS 32

struct bus {
	unsigned ndevices;
	struct device *devices[BUS_MAX_DEVICES];
	/* What the board lends devices that are placed at run time (bus_board): interrupt
	 * lines, handed out in this order, and an MMIO area cut into windows. */
	unsigned nirqs, irqs_used;
	unsigned irqs[BUS_MAX_IRQS];
	uint64_t mmio_next, mmio_end;
};

/* The board's resources for devices: nirqs interrupt lines no fixed device uses (at most
 * BUS_MAX_IRQS; more are ignored) and the guest-physical MMIO area [mmio_base,
 * mmio_end). */
void bus_board(struct bus *b, const unsigned *irqs, unsigned nirqs, uint64_t mmio_base,
	       uint64_t mmio_end);
/* For the device called name: the next free interrupt line and, if mmio_size is not 0, an
 * MMIO window of mmio_size bytes (a power of two; the window is aligned to it). Returns 0,
 * or -1 when the board has none left (logged, naming the device and what the board has). */
int bus_alloc(struct bus *b, const char *name, uint64_t mmio_size, unsigned *irq,
	      uint64_t *mmio_base);

/* Add a device; fails if its ports or MMIO window overlap another device's or the bus is
 * full. */
int bus_add(struct bus *b, struct device *d);
/* The device owning port, or NULL. */
struct device *bus_find_port(const struct bus *b, uint16_t port);
/* The device whose MMIO window holds [addr, addr + len), or NULL. */
struct device *bus_find_mmio(const struct bus *b, uint64_t addr, unsigned len);

/* The clone hooks of every device (see struct device_ops for when each runs). The walks
 * returning int stop at the first device that fails and return -1. */
const char *bus_refusal(const struct bus *b);
int bus_pre_fork(const struct bus *b);
int bus_post_fork(const struct bus *b);
int bus_attach(const struct bus *b, struct loop *l);
/* The reset hooks: why the VM cannot be reset (the first device that says so), and every
 * device's reset (stopping at the first failure, -1). */
const char *bus_reset_refusal(const struct bus *b);
int bus_reset(const struct bus *b);
/* Every device's part of the VM's status. */
void bus_status(const struct bus *b, struct hf_vm_status *st);
/* Free every device (destroy) and empty the bus. */
void bus_destroy(struct bus *b);

#endif
