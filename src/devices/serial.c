/* 8250/16550A UART at 0x3f8 (COM1), IRQ 4: the Linux guest's console. Transmits
 * instantly; received bytes queue in a FIFO, fed from the console's input (a terminal or
 * a pty), which the device watches on the VM's main loop. Its state lives in VMM memory,
 * so fork() copies it; the interrupt line level is part of the captured irqchip state. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/devices.h"
#include "util/loop.h"
#include "util/log.h"

#define COM1_BASE 0x3f8
#define COM1_IRQ 4

#define UART_RX 0  /* in: receive buffer (DLAB=0) */
#define UART_TX 0  /* out: transmit buffer (DLAB=0) */
#define UART_IER 1 /* interrupt enable (DLAB=0) */
#define UART_IIR 2 /* in: interrupt identification */
#define UART_FCR 2 /* out: FIFO control */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define RX_SIZE 4096

/* The UART's registers and receive FIFO. */
struct uart {
	uint8_t ier, lcr, mcr, msr, scr, dll, dlm, fcr;
	bool thri_pending;
	bool irq_level;
	unsigned rx_head, rx_count;
	uint8_t rx[RX_SIZE];
};

struct serial {
	struct device dev;
	struct loop *loop; /* the main loop watching the console's input, NULL: none */
	struct watch input;
	pthread_mutex_t lock;
	struct uart u;
	struct uart start; /* a clone's, when it started (post_fork): what a reset goes back to */
};

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->u.fcr & 1) ? IIR_FIFO : 0;
	if ((s->u.ier & IER_RDI) && s->u.rx_count)
		return fifo | IIR_RDI;
	if ((s->u.ier & IER_THRI) && s->u.thri_pending)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

/* Drive IRQ 4 from the interrupt state; lock held. */
static void update_irq(struct vm *vm, struct serial *s)
{
	bool level = !(iir(s) & IIR_NO_INT);
	if (level == s->u.irq_level || !vm->has_irqchip)
		return;
	struct kvm_irq_level irq = {.irq = COM1_IRQ, .level = level};
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		pr_debug("KVM_IRQ_LINE %d: %s", COM1_IRQ, strerror(errno));
	s->u.irq_level = level;
}

static void rx_push(struct serial *s, uint8_t b)
{
	if (s->u.rx_count == RX_SIZE)
		return; /* full: drop, as a UART overrun would */
	s->u.rx[(s->u.rx_head + s->u.rx_count++) % RX_SIZE] = b;
}

static uint8_t modem_status(const struct serial *s)
{
	if (!(s->u.mcr & MCR_LOOP))
		return s->u.msr;
	uint8_t m = 0;
	if (s->u.mcr & MCR_RTS)
		m |= MSR_CTS;
	if (s->u.mcr & MCR_DTR)
		m |= MSR_DSR;
	if (s->u.mcr & MCR_OUT1)
		m |= MSR_RI;
	if (s->u.mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static int serial_pio(struct device *d, struct vcpu *c, uint16_t port, bool write,
		      uint8_t *data, unsigned size)
{
	struct serial *s = d->priv;
	struct vm *vm = d->vm;
	unsigned off = port - COM1_BASE;
	(void)c;

	if (size != 1) {
		if (!write)
			memset(data, 0xff, size);
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	if (write) {
		uint8_t v = *data;
		switch (off) {
		case UART_TX:
			if (s->u.lcr & LCR_DLAB) {
				s->u.dll = v;
			} else if (s->u.mcr & MCR_LOOP) {
				rx_push(s, v);
				s->u.thri_pending = true;
			} else {
				console_write(&vm->console, &v, 1);
				s->u.thri_pending = true;
			}
			break;
		case UART_IER:
			if (s->u.lcr & LCR_DLAB) {
				s->u.dlm = v;
			} else {
				/* Enabling THRI with the transmitter empty raises it at once. */
				if ((v & IER_THRI) && !(s->u.ier & IER_THRI))
					s->u.thri_pending = true;
				s->u.ier = v & 0x0f;
			}
			break;
		case UART_FCR:
			s->u.fcr = v & 0xc9;
			if (v & 0x02) /* clear receive FIFO */
				s->u.rx_count = 0;
			break;
		case UART_LCR: s->u.lcr = v; break;
		case UART_MCR: s->u.mcr = v & 0x1f; break;
		case UART_SCR: s->u.scr = v; break;
		default: break; /* LSR, MSR: read-only */
		}
	} else {
		uint8_t v = 0;
		switch (off) {
		case UART_RX:
			if (s->u.lcr & LCR_DLAB) {
				v = s->u.dll;
			} else if (s->u.rx_count) {
				v = s->u.rx[s->u.rx_head];
				s->u.rx_head = (s->u.rx_head + 1) % RX_SIZE;
				s->u.rx_count--;
			}
			break;
		case UART_IER: v = (s->u.lcr & LCR_DLAB) ? s->u.dlm : s->u.ier; break;
		case UART_IIR:
			v = iir(s);
			if ((v & 0x0f) == IIR_THRI)
				s->u.thri_pending = false; /* reading IIR acknowledges THRI */
			break;
		case UART_LCR: v = s->u.lcr; break;
		case UART_MCR: v = s->u.mcr; break;
		case UART_LSR: v = LSR_THRE | LSR_TEMT | (s->u.rx_count ? LSR_DR : 0); break;
		case UART_MSR: v = modem_status(s); break;
		case UART_SCR: v = s->u.scr; break;
		}
		*data = v;
	}
	update_irq(vm, s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Console input for the guest (main loop). */
static void input(struct serial *s, const uint8_t *data, size_t len)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < len; i++)
		rx_push(s, data[i] == '\n' ? '\r' : data[i]);
	update_irq(s->dev.vm, s);
	pthread_mutex_unlock(&s->lock);
}

static void on_input(struct watch *w, uint32_t events)
{
	struct serial *s = w->arg;
	uint8_t buf[256];
	ssize_t n = read(w->fd, buf, sizeof(buf));
	if (n > 0) {
		input(s, buf, (size_t)n);
		return;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || (events & EPOLLHUP)) {
		/* End of input (or a pty nobody has opened): stop watching. */
		loop_del(s->loop, w);
		s->loop = NULL;
	}
}

/* The main loop is (re)made: watch the console's input, if it has one. */
static int serial_attach(struct device *d, struct loop *l)
{
	struct serial *s = d->priv;
	int fd = d->vm->console.in_fd;
	s->loop = NULL;
	if (fd < 0)
		return 0;
	s->input = (struct watch){.fd = fd, .fn = on_input, .arg = s};
	if (loop_add(l, &s->input, EPOLLIN) == 0)
		s->loop = l;
	return 0;
}

static int serial_post_fork(struct device *d)
{
	struct serial *s = d->priv;
	/* The lock may have been copied mid-use by another thread of the parent; the loop is
	 * the parent's. */
	pthread_mutex_init(&s->lock, NULL);
	s->loop = NULL;
	s->start = s->u;
	return 0;
}

/* A reset: the UART as the clone started (what the guest wrote or was sent since is gone);
 * console input goes on being watched. */
static int serial_reset(struct device *d)
{
	struct serial *s = d->priv;
	pthread_mutex_lock(&s->lock);
	s->u = s->start;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void serial_destroy(struct device *d)
{
	free(d->priv); /* d is its first member */
}

static const struct device_ops serial_ops = {
	.name = "serial",
	.pio = serial_pio,
	.post_fork = serial_post_fork,
	.attach = serial_attach,
	.reset = serial_reset,
	.destroy = serial_destroy,
};

int serial_add(struct vm *vm)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	pthread_mutex_init(&s->lock, NULL);
	s->u.msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->u.mcr = MCR_OUT2;
	s->dev = (struct device){.ops = &serial_ops, .vm = vm, .port_base = COM1_BASE,
				 .port_count = 8, .priv = s};
	if (bus_add(&vm->bus, &s->dev) < 0) {
		free(s);
		return -1;
	}
	return 0;
}
