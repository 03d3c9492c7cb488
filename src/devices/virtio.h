/* virtio over MMIO (virtio 1.x, "virtio-mmio" version 2 registers) with split virtqueues:
 * the transport shared by the virtio devices. Everything the guest hands over (ring
 * addresses, descriptor chains, buffer addresses and lengths) is checked against guest RAM;
 * a guest that breaks the rules gets its device marked DEVICE_NEEDS_RESET, never a crash
 * of the VMM. */
#ifndef HF_VIRTIO_H
#define HF_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/bus.h"
#include "core/mem.h"

struct loop;

#define VIRTIO_MMIO_SIZE 0x1000u  /* one page per device */
#define VIRTIO_MMIO_CONFIG 0x100u /* device-specific configuration space */
#define VIRTIO_MAX_QUEUES 3u
#define VIRTQ_MAX_SIZE 256u       /* largest queue the driver may choose */
#define VIRTQ_MAX_SEGS 64u        /* longest descriptor chain taken */

/* Device status bits (virtio 1.x 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

#define VIRTIO_F_VERSION_1 (1ull << 32)

struct virtq {
	uint16_t num;        /* entries, chosen by the driver (power of two) */
	bool ready;
	uint64_t desc, avail, used; /* guest-physical addresses of the three parts */
	uint16_t last_avail; /* next available-ring entry the device takes */
	uint16_t used_idx;   /* the device's copy of used->idx */
};

/* One descriptor chain taken from a queue: the buffers the driver wrote (out) and those
 * the device may write (in), as host addresses inside guest RAM. */
struct virtq_elem {
	uint16_t head;
	unsigned nout, nin;
	size_t out_len, in_len;
	struct iovec out[VIRTQ_MAX_SEGS], in[VIRTQ_MAX_SEGS];
};

struct virtio_dev;

struct virtio_ops {
	const char *name;
	uint32_t device_id; /* virtio 1.x 5: 1 network, 2 block, 19 socket */
	uint64_t features;  /* offered to every such device (VIRTIO_F_VERSION_1 is added) */
	unsigned nqueues;
	/* The driver notified queue q (vCPU thread, lock held). */
	void (*notify)(struct virtio_dev *v, unsigned q);
	/* Read len bytes of the configuration space at off (lock held; bounds checked). */
	void (*config)(struct virtio_dev *v, uint32_t off, uint8_t *data, unsigned len);
	/* The driver reset the device (lock held): drop device-side state. Optional. */
	void (*reset)(struct virtio_dev *v);
	/* The device's own part of the clone hooks and of freeing it, as in struct
	 * device_ops (core/bus.h), all optional: the transport owns the bus device and does
	 * its own part first (after a fork: a fresh lock). destroy frees the device's state
	 * (owner). */
	const char *(*cannot_clone)(struct virtio_dev *v);
	int (*pre_fork)(struct virtio_dev *v);
	int (*post_fork)(struct virtio_dev *v);
	int (*attach)(struct virtio_dev *v, struct loop *l);
	void (*status)(struct virtio_dev *v, struct hf_vm_status *st);
	void (*destroy)(struct virtio_dev *v);
	/* The VM went back to its start (a reset of a clone: its RAM, the driver's rings
	 * included, is the template's again): the device's own state as when the clone
	 * started, its host-side traffic of since dropped; the transport's registers and
	 * queues are put back first (lock held). A device without rewind cannot be reset. */
	int (*rewind)(struct virtio_dev *v);
};

struct virtio_dev {
	struct device dev; /* on the VM's bus; dev.priv points back here */
	const struct virtio_ops *ops;
	void *owner;       /* the device's own state */
	pthread_mutex_t lock;
	uint64_t mmio_base;
	unsigned irq;
	uint64_t features; /* offered: ops->features, plus what the device added after
	                      virtio_mmio_add (before the guest runs) */
	uint32_t status, isr;
	uint32_t dev_features_sel, drv_features_sel, queue_sel;
	uint64_t driver_features;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	bool needs_reset_logged;
	struct { /* the transport as the clone started (post_fork), for a reset */
		uint32_t status, isr, dev_features_sel, drv_features_sel, queue_sel;
		uint64_t driver_features;
		struct virtq vq[VIRTIO_MAX_QUEUES];
	} start;
	char why_not_reset[96];
};

/* Set up v on the next interrupt line and MMIO window of vm's board (bus_alloc) and put it
 * on vm's bus; it announces itself to a Linux guest on the kernel command line
 * (virtio_mmio.device=...). Returns 0 or -1 (logged); on failure ops->destroy is not
 * called (the caller still owns owner). */
int virtio_mmio_add(struct vm *vm, struct virtio_dev *v, const struct virtio_ops *ops,
		    void *owner);

/* Whether queue q has a chain available (lock held). */
bool virtq_has_avail(struct virtio_dev *v, unsigned q);
/* Take the next chain of queue q into e. Returns 1, 0 if there is none, or -1 if the
 * driver broke the rules (the device is then marked DEVICE_NEEDS_RESET). Lock held. */
int virtq_pop(struct virtio_dev *v, unsigned q, struct virtq_elem *e);
/* Give back the chain the last virtq_pop of queue q took, untouched (nothing pushed since):
 * the device found it had nothing to put in it after all. Lock held. */
void virtq_unpop(struct virtio_dev *v, unsigned q);
/* Return chain head to the driver, len bytes written into its in-buffers. Lock held. */
void virtq_push(struct virtio_dev *v, unsigned q, uint16_t head, uint32_t len);
/* Tell the driver its queues have used buffers (unless it asked for no interrupt). Lock
 * held. */
void virtio_notify_used(struct virtio_dev *v, unsigned q);
/* Mark the device broken (DEVICE_NEEDS_RESET) and tell the driver; logs why once. */
void virtio_needs_reset(struct virtio_dev *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The part of buffers iov[0..n) from skip bytes on, at most len bytes (SIZE_MAX: to the
 * end), as segments in out (room for n). Returns the number of segments. For reading or
 * writing a device's payload in place, past its header. */
unsigned virtq_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
		     struct iovec *out);
/* Copy len bytes from data into the in-buffers of e, starting skip bytes into them;
 * returns the bytes copied (fewer if the buffers end first). */
size_t virtq_copy_in(struct virtq_elem *e, size_t skip, const void *data, size_t len);
/* Copy len bytes out of the out-buffers of e, starting skip bytes into them, into dst;
 * returns the bytes copied. */
size_t virtq_copy_out(const struct virtq_elem *e, size_t skip, void *dst, size_t len);

#endif
