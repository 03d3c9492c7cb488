/* virtio-mmio transport and split virtqueues (virtio 1.1, sections 2.6 and 4.2). */
#include "devices/virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/vm.h"
#include "util/log.h"

/* Register offsets (virtio 1.1, 4.2.2). */
enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_CONFIG_GENERATION = 0x0fc,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_VENDOR_ID 0x4b524648u  /* "HFRK" */

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

#define ISR_USED 1u
#define ISR_CONFIG 2u

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void raise_irq(struct virtio_dev *v)
{
	struct vm *vm = v->dev.vm;
	if (!vm->has_irqchip)
		return;
	/* An edge on an ISA line: the driver reads InterruptStatus to learn why. */
	for (int level = 1; level >= 0; level--) {
		struct kvm_irq_level irq = {.irq = v->irq, .level = (uint32_t)level};
		if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
			pr_debug("%s: KVM_IRQ_LINE %u: %s", v->ops->name, v->irq, strerror(errno));
	}
}

void virtio_needs_reset(struct virtio_dev *v, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!v->needs_reset_logged)
		pr_warn("%s: the guest driver broke the virtio rules (%s): device stopped until "
			"the driver resets it",
			v->ops->name, msg);
	v->needs_reset_logged = true;
	if (v->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	v->isr |= ISR_CONFIG;
	raise_irq(v);
}

static void reset(struct virtio_dev *v)
{
	if (v->ops->reset)
		v->ops->reset(v);
	v->status = v->isr = 0;
	v->dev_features_sel = v->drv_features_sel = v->queue_sel = 0;
	v->driver_features = 0;
	memset(v->vq, 0, sizeof(v->vq));
	v->needs_reset_logged = false;
}

static bool usable(const struct virtio_dev *v)
{
	return (v->status & VIRTIO_STATUS_DRIVER_OK) && !(v->status & VIRTIO_STATUS_NEEDS_RESET);
}

/* Queue q's rings, checked to lie in guest RAM; NULL if the queue is not usable. */
static bool rings(struct virtio_dev *v, struct virtq *q, struct virtq_desc **desc,
		  volatile uint16_t **avail, volatile uint8_t **used)
{
	struct guest_mem *m = &v->dev.vm->mem;
	*desc = mem_ptr(m, q->desc, (uint64_t)q->num * sizeof(struct virtq_desc));
	*avail = mem_ptr(m, q->avail, 6 + 2ull * q->num);
	*used = mem_ptr(m, q->used, 6 + 8ull * q->num);
	if (*desc && *avail && *used)
		return true;
	virtio_needs_reset(v, "a ring of queue %u is outside guest RAM", (unsigned)(q - v->vq));
	return false;
}

bool virtq_has_avail(struct virtio_dev *v, unsigned qi)
{
	struct virtq *q = &v->vq[qi];
	struct virtq_desc *desc;
	volatile uint16_t *avail;
	volatile uint8_t *used;

	if (qi >= v->ops->nqueues || !usable(v) || !q->ready || !rings(v, q, &desc, &avail, &used))
		return false;
	return __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE) != q->last_avail;
}

int virtq_pop(struct virtio_dev *v, unsigned qi, struct virtq_elem *e)
{
	struct virtq *q = &v->vq[qi];
	struct guest_mem *m = &v->dev.vm->mem;
	struct virtq_desc *desc;
	volatile uint16_t *avail;
	volatile uint8_t *used;

	if (qi >= v->ops->nqueues || !usable(v) || !q->ready || !rings(v, q, &desc, &avail, &used))
		return 0;
	uint16_t avail_idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->num) {
		virtio_needs_reset(v, "queue %u: available index jumped by %u (queue of %u)", qi,
				   (unsigned)(uint16_t)(avail_idx - q->last_avail), q->num);
		return -1;
	}
	uint16_t head = avail[2 + q->last_avail % q->num];
	if (head >= q->num) {
		virtio_needs_reset(v, "queue %u: chain head %u out of range", qi, head);
		return -1;
	}
	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;
	uint16_t i = head;
	for (unsigned n = 0;; n++) {
		if (n == q->num || n == VIRTQ_MAX_SEGS) {
			virtio_needs_reset(v, "queue %u: descriptor chain longer than %u", qi,
					   n == q->num ? q->num : VIRTQ_MAX_SEGS);
			return -1;
		}
		struct virtq_desc d;
		memcpy(&d, &desc[i], sizeof(d)); /* read once: the guest may change it */
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			virtio_needs_reset(v, "queue %u: indirect descriptor (not offered)", qi);
			return -1;
		}
		void *p = d.len ? mem_ptr(m, d.addr, d.len) : NULL;
		if (d.len && !p) {
			virtio_needs_reset(v, "queue %u: buffer 0x%llx+%u is outside guest RAM", qi,
					   (unsigned long long)d.addr, d.len);
			return -1;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			e->in[e->nin++] = (struct iovec){.iov_base = p, .iov_len = d.len};
			e->in_len += d.len;
			mem_note_write(m, p, d.len); /* the device may write all of it */
		} else {
			if (e->nin) {
				virtio_needs_reset(v, "queue %u: readable buffer after a writable one",
						   qi);
				return -1;
			}
			e->out[e->nout++] = (struct iovec){.iov_base = p, .iov_len = d.len};
			e->out_len += d.len;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->num) {
			virtio_needs_reset(v, "queue %u: next descriptor %u out of range", qi, d.next);
			return -1;
		}
		i = d.next;
	}
	q->last_avail++;
	return 1;
}

void virtq_unpop(struct virtio_dev *v, unsigned qi)
{
	v->vq[qi].last_avail--;
}

void virtq_push(struct virtio_dev *v, unsigned qi, uint16_t head, uint32_t len)
{
	struct virtq *q = &v->vq[qi];
	struct virtq_desc *desc;
	volatile uint16_t *avail;
	volatile uint8_t *used;

	if (!rings(v, q, &desc, &avail, &used))
		return;
	volatile uint8_t *slot = used + 4 + 8 * (q->used_idx % q->num);
	uint32_t elem[2] = {head, len};
	memcpy((void *)slot, elem, sizeof(elem));
	q->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(used + 2), q->used_idx, __ATOMIC_RELEASE);
	mem_note_write(&v->dev.vm->mem, (const void *)used, 4);
	mem_note_write(&v->dev.vm->mem, (const void *)slot, sizeof(elem));
}

void virtio_notify_used(struct virtio_dev *v, unsigned qi)
{
	struct virtq *q = &v->vq[qi];
	struct virtq_desc *desc;
	volatile uint16_t *avail;
	volatile uint8_t *used;

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* used->idx before reading the flags */
	if (!rings(v, q, &desc, &avail, &used) || (avail[0] & VIRTQ_AVAIL_F_NO_INTERRUPT))
		return;
	v->isr |= ISR_USED;
	raise_irq(v);
}

unsigned virtq_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
		     struct iovec *out)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t seg = iov[i].iov_len - skip < len ? iov[i].iov_len - skip : len;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k++].iov_len = seg;
		len -= seg;
		skip = 0;
	}
	return k;
}

/* Copy len bytes between buf and the buffers iov[0..n), starting skip bytes into them;
 * into the buffers if to_iov. Returns the bytes copied. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len,
		       bool to_iov)
{
	struct iovec part[VIRTQ_MAX_SEGS];
	unsigned k = virtq_slice(iov, n, skip, len, part);
	uint8_t *p = buf;
	size_t done = 0;
	for (unsigned i = 0; i < k; i++) {
		memcpy(to_iov ? part[i].iov_base : p + done, to_iov ? p + done : part[i].iov_base,
		       part[i].iov_len);
		done += part[i].iov_len;
	}
	return done;
}
size_t virtq_copy_in(struct virtq_elem *e, size_t skip, const void *data, size_t len)
{
	return iov_copy(e->in, e->nin, skip, (void *)data, len, true);
}

size_t virtq_copy_out(const struct virtq_elem *e, size_t skip, void *dst, size_t len)
{
	return iov_copy(e->out, e->nout, skip, dst, len, false);
}

/* ---- the register file ---------------------------------------------------------------- */

static uint32_t read_reg(struct virtio_dev *v, uint32_t off)
{
	struct virtq *q = v->queue_sel < v->ops->nqueues ? &v->vq[v->queue_sel] : NULL;
	uint64_t features = v->features | VIRTIO_F_VERSION_1;

	switch (off) {
	case REG_MAGIC: return VIRTIO_MMIO_MAGIC;
	case REG_VERSION: return 2;
	case REG_DEVICE_ID: return v->ops->device_id;
	case REG_VENDOR_ID: return VIRTIO_VENDOR_ID;
	case REG_DEVICE_FEATURES:
		return v->dev_features_sel == 0   ? (uint32_t)features
		       : v->dev_features_sel == 1 ? (uint32_t)(features >> 32)
						  : 0;
	case REG_QUEUE_NUM_MAX: return q ? VIRTQ_MAX_SIZE : 0;
	case REG_QUEUE_READY: return q ? q->ready : 0;
	case REG_INTERRUPT_STATUS: return v->isr;
	case REG_STATUS: return v->status;
	case REG_CONFIG_GENERATION: return 0; /* the configuration never changes */
	}
	return 0;
}

static void set_half(uint64_t *field, bool high, uint32_t value)
{
	*field = high ? (*field & 0xffffffffull) | ((uint64_t)value << 32)
		      : (*field & ~0xffffffffull) | value;
}

static void write_reg(struct virtio_dev *v, uint32_t off, uint32_t value)
{
	struct virtq *q = v->queue_sel < v->ops->nqueues ? &v->vq[v->queue_sel] : NULL;

	switch (off) {
	case REG_DEVICE_FEATURES_SEL: v->dev_features_sel = value; return;
	case REG_DRIVER_FEATURES_SEL: v->drv_features_sel = value; return;
	case REG_DRIVER_FEATURES:
		if (v->drv_features_sel < 2 && !(v->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&v->driver_features, v->drv_features_sel == 1, value);
		return;
	case REG_QUEUE_SEL: v->queue_sel = value; return;
	case REG_QUEUE_NOTIFY:
		if (value < v->ops->nqueues && usable(v) && v->vq[value].ready)
			v->ops->notify(v, value);
		return;
	case REG_INTERRUPT_ACK: v->isr &= ~value; return;
	case REG_STATUS:
		if (value == 0) {
			reset(v);
			return;
		}
		if ((value & VIRTIO_STATUS_FEATURES_OK) && !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
			uint64_t offered = v->features | VIRTIO_F_VERSION_1;
			/* Only what was offered, and the modern interface: otherwise refuse. */
			if ((v->driver_features & ~offered) || !(v->driver_features & VIRTIO_F_VERSION_1))
				value &= ~VIRTIO_STATUS_FEATURES_OK;
		}
		v->status = value | (v->status & VIRTIO_STATUS_NEEDS_RESET);
		return;
	}
	if (!q || (v->status & VIRTIO_STATUS_DRIVER_OK && off != REG_QUEUE_READY))
		return; /* queue set-up is only for a selected queue, before DRIVER_OK */
	switch (off) {
	case REG_QUEUE_NUM:
		if (value && value <= VIRTQ_MAX_SIZE && !(value & (value - 1)))
			q->num = (uint16_t)value;
		else
			virtio_needs_reset(v, "queue size %u is not a power of two up to %u", value,
					   VIRTQ_MAX_SIZE);
		return;
	case REG_QUEUE_READY:
		if (value == 1 && !q->num) {
			virtio_needs_reset(v, "queue %u made ready without a size", v->queue_sel);
			return;
		}
		q->ready = value == 1;
		return;
	case REG_QUEUE_DESC_LOW: set_half(&q->desc, false, value); return;
	case REG_QUEUE_DESC_HIGH: set_half(&q->desc, true, value); return;
	case REG_QUEUE_DRIVER_LOW: set_half(&q->avail, false, value); return;
	case REG_QUEUE_DRIVER_HIGH: set_half(&q->avail, true, value); return;
	case REG_QUEUE_DEVICE_LOW: set_half(&q->used, false, value); return;
	case REG_QUEUE_DEVICE_HIGH: set_half(&q->used, true, value); return;
	}
}

static void mmio_access(struct virtio_dev *v, uint64_t off, bool write, uint8_t *data,
			unsigned len)
{
	pthread_mutex_lock(&v->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		/* Configuration space: any width; writes are ignored (nothing writable). */
		uint64_t coff = off - VIRTIO_MMIO_CONFIG;
		if (!write) {
			memset(data, 0, len);
			if (coff < VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG && len <= 8)
				v->ops->config(v, (uint32_t)coff, data, len);
		}
	} else if (len != 4 || (off & 3)) {
		pr_debug("%s: ignored %u-byte %s at register 0x%llx", v->ops->name, len,
			 write ? "write" : "read", (unsigned long long)off);
		if (!write)
			memset(data, 0xff, len);
	} else if (write) {
		uint32_t value;
		memcpy(&value, data, 4);
		write_reg(v, (uint32_t)off, value);
	} else {
		uint32_t value = read_reg(v, (uint32_t)off);
		memcpy(data, &value, 4);
	}
	pthread_mutex_unlock(&v->lock);
}

/* The bus device of every virtio device: the MMIO register file, then the device's own
 * hooks. */
static int vdev_mmio(struct device *d, struct vcpu *c, uint64_t addr, bool write, uint8_t *data,
		     unsigned len)
{
	(void)c;
	struct virtio_dev *v = d->priv;
	mmio_access(v, addr - v->mmio_base, write, data, len);
	return 0;
}

static const char *vdev_cannot_clone(struct device *d)
{
	struct virtio_dev *v = d->priv;
	return v->ops->cannot_clone ? v->ops->cannot_clone(v) : NULL;
}

static int vdev_pre_fork(struct device *d)
{
	struct virtio_dev *v = d->priv;
	return v->ops->pre_fork ? v->ops->pre_fork(v) : 0;
}

static int vdev_post_fork(struct device *d)
{
	struct virtio_dev *v = d->priv;
	/* fork() copied the lock as the parent's vCPU threads left it (the parent was
	 * paused outside any device, but the lock's owner field is not this process's). */
	pthread_mutex_init(&v->lock, NULL);
	v->start.status = v->status;
	v->start.isr = v->isr;
	v->start.dev_features_sel = v->dev_features_sel;
	v->start.drv_features_sel = v->drv_features_sel;
	v->start.queue_sel = v->queue_sel;
	v->start.driver_features = v->driver_features;
	memcpy(v->start.vq, v->vq, sizeof(v->vq));
	return v->ops->post_fork ? v->ops->post_fork(v) : 0;
}

static int vdev_attach(struct device *d, struct loop *l)
{
	struct virtio_dev *v = d->priv;
	return v->ops->attach ? v->ops->attach(v, l) : 0;
}

/* A device that has no rewind cannot go back with the guest's RAM. */
static const char *vdev_cannot_reset(struct device *d)
{
	struct virtio_dev *v = d->priv;
	if (v->ops->rewind)
		return NULL;
	snprintf(v->why_not_reset, sizeof(v->why_not_reset), "its %s device cannot be reset yet",
		 v->ops->name);
	return v->why_not_reset;
}

/* The queues go back with the driver's rings in guest RAM: the transport as the clone
 * started, then the device's own state. */
static int vdev_reset(struct device *d)
{
	struct virtio_dev *v = d->priv;
	pthread_mutex_lock(&v->lock);
	v->status = v->start.status;
	v->isr = v->start.isr;
	v->dev_features_sel = v->start.dev_features_sel;
	v->drv_features_sel = v->start.drv_features_sel;
	v->queue_sel = v->start.queue_sel;
	v->driver_features = v->start.driver_features;
	memcpy(v->vq, v->start.vq, sizeof(v->vq));
	v->needs_reset_logged = false;
	int r = v->ops->rewind ? v->ops->rewind(v) : -1;
	pthread_mutex_unlock(&v->lock);
	return r;
}

static void vdev_status(struct device *d, struct hf_vm_status *st)
{
	struct virtio_dev *v = d->priv;
	if (v->ops->status)
		v->ops->status(v, st);
}

static void vdev_destroy(struct device *d)
{
	struct virtio_dev *v = d->priv;
	if (v->ops->destroy)
		v->ops->destroy(v);
}

static const struct device_ops vdev_ops = {
	.name = "virtio-mmio",
	.mmio = vdev_mmio,
	.cannot_clone = vdev_cannot_clone,
	.pre_fork = vdev_pre_fork,
	.post_fork = vdev_post_fork,
	.attach = vdev_attach,
	.cannot_reset = vdev_cannot_reset,
	.reset = vdev_reset,
	.status = vdev_status,
	.destroy = vdev_destroy,
};

int virtio_mmio_add(struct vm *vm, struct virtio_dev *v, const struct virtio_ops *ops,
		    void *owner)
{
	uint64_t mmio_base;
	unsigned irq;
	if (bus_alloc(&vm->bus, ops->name, VIRTIO_MMIO_SIZE, &irq, &mmio_base) < 0)
		return -1;
	v->ops = ops;
	v->features = ops->features;
	v->owner = owner;
	v->mmio_base = mmio_base;
	v->irq = irq;
	pthread_mutex_init(&v->lock, NULL);
	v->dev = (struct device){.ops = &vdev_ops, .vm = vm, .priv = v, .mmio_base = mmio_base,
				 .mmio_size = VIRTIO_MMIO_SIZE};
	snprintf(v->dev.cmdline, sizeof(v->dev.cmdline), "virtio_mmio.device=%uK@0x%llx:%u",
		 VIRTIO_MMIO_SIZE / 1024, (unsigned long long)mmio_base, irq);
	return bus_add(&vm->bus, &v->dev);
}
