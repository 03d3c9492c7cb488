/* libFuzzer target: virtio-vsock (src/devices/vsock/ and the virtio transport) against
 * a hostile driver, over real guest RAM, real Unix sockets and a real event loop. After the
 * driver's bring-up (three queues of 8, receive buffers given), the input is a program:
 *   0 OFF VALUE    write a device register (OFF: 0..0xfc)
 *   1 AT N BYTES   write N (<= 64) bytes into guest RAM at 0x10000 + AT (rings and buffers)
 *   2 LEN BYTES    transmit a packet: LEN (<= 1024) bytes, header first, in one descriptor
 *   3 Q            notify queue Q, then run the loop
 * A host program listens on the guest's port 5000 and reads what it gets; another stream
 * connects to the guest's port 6000. Nothing the driver does may crash the VMM, leak, or
 * touch memory outside guest RAM (ASan); a device that gives up says DEVICE_NEEDS_RESET. */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/loop.h"
#include "devices/devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

#define QSIZE 8u
#define RXBUF 0x40000ull
#define RXLEN (44u + 4096u)
#define EVBUF 0x60000ull
#define TXBUF 0x70000ull

static char dir[64] = "/tmp/hf-fuzz-vsock.XXXXXX", path[128];

struct fixture {
	struct vm vm;
	struct device *dev;
	struct loop loop;
	int listener, peer;
};

static void desc(struct fixture *f, unsigned q, unsigned i, uint64_t addr, uint32_t len,
		 uint16_t flags)
{
	drv_desc(&f->vm.mem, FZ_RING(q), i, addr, len, flags, 0);
}

static void offer(struct fixture *f, unsigned q, uint16_t head)
{
	drv_offer(&f->vm.mem, FZ_AVAIL(q), QSIZE, head);
}

static void pump(struct fixture *f)
{
	struct pollfd p = {.fd = f->loop.epfd, .events = POLLIN};
	for (int i = 0; i < 64 && poll(&p, 1, 0) > 0; i++)
		loop_once(&f->loop, 0);
	if (f->listener >= 0) { /* the host program: takes a connection, reads what comes */
		int c = accept4(f->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0 && f->peer < 0)
			f->peer = c;
		else if (c >= 0)
			close(c);
		char buf[4096];
		while (f->peer >= 0 && recv(f->peer, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
}

static void setup(struct fixture *f)
{
	fz_vm_init(&f->vm);
	f->listener = f->peer = -1;
	char arg[200], err[128];
	snprintf(arg, sizeof(arg), "3,uds=%s", path);
	void *a = virtio_vsock_option.parse(arg, err, sizeof(err));
	assert(a && virtio_vsock_option.add(&f->vm, a) == 0);
	free(a);
	assert(loop_init(&f->loop) == 0);
	f->dev = f->vm.bus.devices[0];
	assert(f->dev->ops->attach(f->dev, &f->loop) == 0);
	fz_bringup(f->dev, 3, QSIZE, 0);
	for (unsigned i = 0; i < QSIZE; i++) {
		desc(f, 0, i, RXBUF + (uint64_t)i * 0x2000, RXLEN, 2 /* WRITE */);
		offer(f, 0, (uint16_t)i);
	}
	desc(f, 2, 0, EVBUF, 4, 2);
	offer(f, 2, 0);
	/* a host program on the guest's port 5000 */
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	snprintf(u.sun_path, sizeof(u.sun_path), "%s_5000", path);
	unlink(u.sun_path);
	f->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert(f->listener >= 0 && bind(f->listener, (struct sockaddr *)&u, sizeof(u)) == 0 &&
	       listen(f->listener, 4) == 0);
}

static void teardown(struct fixture *f)
{
	f->dev->ops->destroy(f->dev);
	loop_close(&f->loop);
	mem_unmap(&f->vm.mem);
	if (f->peer >= 0)
		close(f->peer);
	close(f->listener);
	char l[160];
	snprintf(l, sizeof(l), "%s_5000", path);
	unlink(l);
}

/* A host stream to the guest's port 6000 (CONNECT on the device's socket). */
static int host_connect(void)
{
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	snprintf(u.sun_path, sizeof(u.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert(fd >= 0);
	if (connect(fd, (struct sockaddr *)&u, sizeof(u)) == 0)
		send(fd, "CONNECT 6000\nhello", 18, MSG_NOSIGNAL);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fixture f;
	static int ready;
	if (!ready++) {
		log_set_level(HF_LOG_ERROR);
		assert(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/v", dir);
	}
	setup(&f);
	int host = host_connect();
	pump(&f);
	size_t at = 0;
	uint16_t tx = 0;
	while (at < size) {
		uint8_t op = data[at++] % 4;
		size_t k = op == 0   ? fz_reg_write(f.dev, data + at, size - at)
			   : op == 1 ? fz_scribble(&f.vm, data + at, size - at, 0x70000)
				     : 0;
		if (op < 2 && k) {
			at += k;
		} else if (op == 2 && at + 2 <= size) {
			size_t n = ((size_t)data[at] | (size_t)data[at + 1] << 8) % 1025;
			at += 2;
			if (n > size - at)
				n = size - at;
			uint64_t buf = TXBUF + 0x1000ull * (tx % QSIZE);
			memcpy(mem_ptr(&f.vm.mem, buf, n ? n : 1), data + at, n);
			at += n;
			desc(&f, 1, tx % QSIZE, buf, (uint32_t)n, 0);
			offer(&f, 1, (uint16_t)(tx++ % QSIZE));
			drv_wr(f.dev, 0x050, 1);
			pump(&f);
		} else if (op == 3 && at + 1 <= size) {
			drv_wr(f.dev, 0x050, data[at++] % 4);
			pump(&f);
		} else {
			break;
		}
	}
	pump(&f);
	if (host >= 0)
		close(host);
	pump(&f);
	teardown(&f);
	return 0;
}
