/* libFuzzer target: virtio-net (src/devices/virtio_net.c and the virtio transport) against a
 * hostile driver, over real guest RAM and a real event loop, with one end of a SOCK_DGRAM
 * socketpair in place of the tap (a datagram per frame, as a tap gives). After the driver's
 * bring-up (two queues of 8; four receive buffers of 2060 bytes given), the input is a
 * program:
 *   0 OFF VALUE      write a device register (OFF: 0..0xfc)
 *   1 AT N BYTES     write N (<= 64) bytes into guest RAM at 0x10000 + AT (rings, buffers)
 *   2 S1 S2 LEN B..  transmit: the 12-byte header and LEN (<= 4096) bytes, in up to three
 *                    descriptors cut at S1 and S2; the header's bytes are the input's
 *   3 LEN BYTES      the host sends a frame of LEN (<= 4200) bytes; the loop runs
 *   4 K S LEN        give receive buffer K (of 4) back, LEN (<= 8192) bytes cut at S
 *   5 Q              notify queue Q, then run the loop
 * While the driver has kept the rules (no register write or ring scribble yet, device not
 * stopped), the device must be exact: each frame transmitted reaches the host once, as
 * offered without its header (none for a chain shorter than the header), and each host frame
 * lands, in order, in the next receive buffer with a zeroed header (num_buffers 1), or is
 * dropped with used length 0 if it does not fit; the device never holds a frame while a
 * buffer waits. Once the driver has broken them, its rings say whatever it wrote there, so
 * then what holds is what ASan and the sanitizers check: nothing outside guest RAM is
 * touched, nothing leaks, and every notify and loop turn returns. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/loop.h"
#include "devices/devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

#define QSIZE 8u
#define RXQ 0u
#define TXQ 1u
#define HDR 12u
#define NRX 4u                             /* receive buffers, descriptors 2K and 2K+1 */
#define RXBUF(k) (0x40000ull + (k)*0x2000ull)
#define TXBUF 0x50000ull
#define TX_MAX 4096u
#define HOST_MAX 4200u
#define SPAN 0x48000u                      /* scribbles: rings and buffers */

struct fixture {
	struct vm vm;
	struct device *dev;
	struct loop loop;
	int host; /* the host's end of the "tap" */
	bool clean; /* the driver has kept the rules so far */
	/* the model while clean: receive buffers given (in order), host frames not delivered */
	unsigned rx_k[NRX], rx_len[NRX], nrx;
	uint8_t pend[16][HOST_MAX];
	unsigned pend_len[16], npend;
	bool given[NRX];
	uint16_t rx_seen;
};

static void pump(struct fixture *f)
{
	struct pollfd p = {.fd = f->loop.epfd, .events = POLLIN};
	for (int i = 0; i < 64 && poll(&p, 1, 0) > 0; i++)
		loop_once(&f->loop, 0);
}

static void give_rx(struct fixture *f, unsigned k, unsigned len, unsigned cut)
{
	struct guest_mem *m = &f->vm.mem;
	if (cut > len)
		cut = len;
	memset(mem_ptr(m, RXBUF(k), 0x2000), 0xa5, 0x2000);
	drv_desc(m, FZ_RING(RXQ), 2 * k, RXBUF(k), cut, 2 | (cut < len ? 1 : 0), 2 * k + 1);
	drv_desc(m, FZ_RING(RXQ), 2 * k + 1, RXBUF(k) + cut, len - cut, 2, 0);
	drv_offer(m, FZ_AVAIL(RXQ), QSIZE, (uint16_t)(2 * k));
	if (f->clean && !f->given[k]) {
		f->given[k] = true;
		f->rx_k[f->nrx] = k;
		f->rx_len[f->nrx++] = len;
	}
}

/* What the device put in receive buffers since the last look, checked against the model
 * while the driver is clean. */
static void check_rx(struct fixture *f)
{
	uint16_t idx = fz_used_idx(&f->vm, RXQ);
	for (; f->rx_seen != idx; f->rx_seen++) {
		uint32_t head, len;
		fz_used_elem(&f->vm, RXQ, QSIZE, f->rx_seen, &head, &len);
		if (!f->clean)
			continue;
		/* zero-length datagrams are read and dropped, not given a buffer */
		while (f->npend && !f->pend_len[0]) {
			memmove(f->pend, f->pend[1], sizeof(f->pend[0]) * --f->npend);
			memmove(f->pend_len, f->pend_len + 1, sizeof(unsigned) * f->npend);
		}
		assert(f->nrx && f->npend);
		unsigned k = f->rx_k[0], blen = f->rx_len[0], flen = f->pend_len[0];
		unsigned want = HDR + flen <= blen ? HDR + flen : 0;
		if (head != 2 * k || len != want) {
			fprintf(stderr, "rx: used (%u, %u), expected (%u, %u)\n", head, len, 2 * k,
				want);
			abort();
		}
		/* the buffer is contiguous in guest RAM whatever the cut */
		const uint8_t *b = mem_ptr(&f->vm.mem, RXBUF(k), 0x2000);
		static const uint8_t hdr[HDR] = {[10] = 1};
		if (want && (memcmp(b, hdr, HDR) || memcmp(b + HDR, f->pend[0], flen))) {
			fprintf(stderr, "rx: frame of %u bytes delivered wrong\n", flen);
			abort();
		}
		f->given[k] = false;
		memmove(f->rx_k, f->rx_k + 1, sizeof(unsigned) * (f->nrx - 1));
		memmove(f->rx_len, f->rx_len + 1, sizeof(unsigned) * (f->nrx - 1));
		f->nrx--;
		memmove(f->pend, f->pend[1], sizeof(f->pend[0]) * (f->npend - 1));
		memmove(f->pend_len, f->pend_len + 1, sizeof(unsigned) * (f->npend - 1));
		f->npend--;
	}
	if (f->clean && !fz_running(f->dev))
		f->clean = false;
	if (f->clean) { /* no frame held while a buffer waits */
		unsigned real = 0;
		for (unsigned i = 0; i < f->npend; i++)
			real += f->pend_len[i] != 0;
		assert(!(real && f->nrx));
	}
}

/* Transmit one frame; returns the input bytes used. */
static size_t tx(struct fixture *f, const uint8_t *d, size_t left)
{
	if (left < 4)
		return 0;
	size_t n = ((size_t)d[2] | (size_t)d[3] << 8) % (TX_MAX + 1);
	if (n > left - 4)
		n = left - 4;
	struct guest_mem *m = &f->vm.mem;
	size_t hdr = n < HDR ? n : HDR, total = HDR + n - hdr;
	uint8_t *buf = mem_ptr(m, TXBUF, HDR + TX_MAX);
	memset(buf, 0, HDR);
	memcpy(buf, d + 4, hdr);           /* whatever the driver puts in the header */
	memcpy(buf + HDR, d + 4 + hdr, n - hdr);
	if (d[0] & 0x80)                   /* a chain shorter than the header */
		total = d[0] % HDR;
	size_t s1 = d[0] % (total + 1), s2 = d[1] % (total + 1);
	if (s2 < s1)
		s2 = s1;
	drv_desc(m, FZ_RING(TXQ), 0, TXBUF, (uint32_t)s1, 1, 1);
	drv_desc(m, FZ_RING(TXQ), 1, TXBUF + s1, (uint32_t)(s2 - s1), 1, 2);
	drv_desc(m, FZ_RING(TXQ), 2, TXBUF + s2, (uint32_t)(total - s2), 0, 0);
	uint16_t used = fz_used_idx(&f->vm, TXQ);
	drv_offer(m, FZ_AVAIL(TXQ), QSIZE, 0);
	drv_wr(f->dev, 0x050, TXQ);
	static uint8_t got[HDR + TX_MAX + 64];
	ssize_t r = recv(f->host, got, sizeof(got), MSG_DONTWAIT);
	if (f->clean && fz_running(f->dev)) {
		size_t want = total > HDR ? total - HDR : 0;
		uint32_t head, len;
		fz_used_elem(&f->vm, TXQ, QSIZE, used, &head, &len);
		if (fz_used_idx(&f->vm, TXQ) != (uint16_t)(used + 1) || head != 0 || len != 0) {
			fprintf(stderr, "tx: chain not returned once\n");
			abort();
		}
		if (want ? r != (ssize_t)want || memcmp(got, buf + HDR, want) : r >= 0) {
			fprintf(stderr, "tx: %zu-byte frame offered, host got %zd bytes\n", want, r);
			abort();
		}
		assert(recv(f->host, got, sizeof(got), MSG_DONTWAIT) < 0);
	} else {
		f->clean = false;
		while (r >= 0) /* drain */
			r = recv(f->host, got, sizeof(got), MSG_DONTWAIT);
	}
	return 4 + n;
}

static void host_send(struct fixture *f, const uint8_t *d, size_t n)
{
	if (send(f->host, d, n, MSG_DONTWAIT) < 0)
		return; /* the socket is full: the host drops it, as a tap's peer would */
	if (f->clean && f->npend < 16) {
		memcpy(f->pend[f->npend], d, n);
		f->pend_len[f->npend++] = (unsigned)n;
	} else {
		f->clean = false;
	}
}

/* Ops 2 to 5, each followed by turns of the loop and a look at the receive queue. */
static size_t net_op(void *ctx, uint8_t op, const uint8_t *d, size_t left)
{
	struct fixture *f = ctx;
	size_t used = 0;
	if (op == 2) {
		used = tx(f, d, left);
	} else if (op == 3 && left >= 2) {
		size_t n = ((size_t)d[0] | (size_t)d[1] << 8) % (HOST_MAX + 1);
		if (n > left - 2)
			n = left - 2;
		host_send(f, d + 2, n);
		used = 2 + n;
	} else if (op == 4 && left >= 4) {
		unsigned k = d[0] % NRX, len = ((unsigned)d[2] | (unsigned)d[3] << 8) % 8193;
		if (f->clean && f->given[k])
			f->clean = false; /* a buffer the device holds, given again */
		give_rx(f, k, len, d[1] * 32u);
		drv_wr(f->dev, 0x050, RXQ);
		used = 4;
	} else if (op == 5 && left >= 1) {
		drv_wr(f->dev, 0x050, d[0] % 3);
		used = 1;
	}
	pump(f);
	check_rx(f);
	return used;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	log_set_level(HF_LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fixture f;
	fz_vm_init(&f.vm);
	int sv[2];
	assert(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	int rcv = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	f.host = sv[1];
	f.clean = true;
	f.nrx = f.npend = 0;
	f.rx_seen = 0;
	memset(f.given, 0, sizeof(f.given));
	assert(virtio_net_add_fd(&f.vm, sv[0], "fz0") == 0);
	assert(loop_init(&f.loop) == 0);
	f.dev = f.vm.bus.devices[0];
	assert(f.dev->ops->attach(f.dev, &f.loop) == 0);
	fz_bringup(f.dev, 2, QSIZE, 0);
	for (unsigned k = 0; k < NRX; k++)
		give_rx(&f, k, HDR + 2048, HDR + 2048);
	drv_wr(f.dev, 0x050, RXQ);
	pump(&f);

	fz_program(data, size, 6, f.dev, &f.vm, SPAN, &f.clean, net_op, &f);
	pump(&f);
	check_rx(&f);
	f.dev->ops->destroy(f.dev);
	loop_close(&f.loop);
	mem_unmap(&f.vm.mem);
	close(f.host);
	return 0;
}
