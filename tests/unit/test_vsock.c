/* Unit tests for virtio-vsock (src/devices/vsock/), driven through its registers as
 * a guest driver would, over real guest RAM, against real Unix sockets and a real event
 * loop: connections both ways, streams, and every way a guest can break the rules (each
 * must cost the guest its connection or the device, never the VMM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/loop.h"
#include "core/vm.h"
#include "devices/devices.h"
#include "devices/virtio.h"
#include "host_socket.h"
#include "virtio_driver.h"

#define QSIZE 8u
#define RING(q) (0x10000ull + (q)*0x4000ull) /* desc; avail at +0x1000, used at +0x2000 */
#define RXBUF 0x40000ull		     /* QSIZE buffers of RXLEN */
#define RXLEN (44u + 4096u)
#define EVBUF 0x60000ull
#define TXBUF 0x70000ull /* header + up to 64 KiB */
#define RXQ 0u
#define TXQ 1u
#define EVQ 2u
#define CID 3u

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum { REQUEST = 1, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST };

struct fixture {
	struct vm vm;
	struct device *dev;
	struct loop loop;
	char dir[64], path[96];
	uint16_t rx_seen;  /* used entries of the receive queue looked at */
	uint16_t rx_given; /* receive buffers given */
};

static uint32_t rd(struct fixture *f, uint32_t off)
{
	return drv_rd(f->dev, off);
}
static void wr(struct fixture *f, uint32_t off, uint32_t value)
{
	drv_wr(f->dev, off, value);
}
static void *gp(struct fixture *f, uint64_t gpa)
{
	return mem_ptr(&f->vm.mem, gpa, 1);
}

static void set_desc(struct fixture *f, unsigned q, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	drv_desc(&f->vm.mem, RING(q), i, addr, len, flags, next);
}

static void offer(struct fixture *f, unsigned q, uint16_t head)
{
	drv_offer(&f->vm.mem, RING(q) + 0x1000, QSIZE, head);
}

static uint16_t used_idx(struct fixture *f, unsigned q)
{
	return ((uint16_t *)gp(f, RING(q) + 0x2000))[1];
}

static bool broken(struct fixture *f)
{
	return rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET;
}

/* Give the device receive buffer i (of QSIZE) again. */
static void give_rx(struct fixture *f, unsigned i, uint32_t len)
{
	set_desc(f, RXQ, i, RXBUF + (uint64_t)i * 0x2000, len, 2 /* WRITE */, 0);
	offer(f, RXQ, (uint16_t)i);
	f->rx_given++;
}

static uint32_t rx_len = RXLEN; /* of the receive buffers given at bring-up */

static int setup_args(void **state, const char *extra)
{
	struct fixture *f = calloc(1, sizeof(*f));
	mem_layout(&f->vm.mem, 1 * MiB, 3 * GiB);
	if (mem_map(&f->vm.mem, false) < 0)
		return -1;
	f->vm.vm_fd = f->vm.notify_fd = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/hf-test-vsock.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/v", f->dir);
	char arg[200], err[128];
	snprintf(arg, sizeof(arg), "%u,uds=%s%s", CID, f->path, extra);
	void *a = virtio_vsock_option.parse(arg, err, sizeof(err));
	bus_board(&f->vm.bus, (unsigned[]){5}, 1, BASE, BASE + VIRTIO_MMIO_SIZE);
	int r = a ? virtio_vsock_option.add(&f->vm, a) : -1;
	free(a);
	if (r < 0 || loop_init(&f->loop) < 0)
		return -1;
	f->dev = f->vm.bus.devices[0];
	if (f->dev->ops->attach(f->dev, &f->loop) < 0)
		return -1;
	/* The driver's bring-up: VERSION_1, three queues, DRIVER_OK. */
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, 0x024, 1);
	wr(f, 0x020, 1);
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < 3; q++) {
		wr(f, 0x030, q);
		wr(f, 0x038, QSIZE);
		wr(f, 0x080, (uint32_t)RING(q));
		wr(f, 0x090, (uint32_t)(RING(q) + 0x1000));
		wr(f, 0x0a0, (uint32_t)(RING(q) + 0x2000));
		wr(f, 0x044, 1);
	}
	wr(f, 0x070,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
	       VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < QSIZE; i++)
		give_rx(f, i, rx_len);
	set_desc(f, EVQ, 0, EVBUF, 4, 2, 0);
	offer(f, EVQ, 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_args(state, "");
}
static int setup_cid_per_clone(void **state)
{
	return setup_args(state, ",cid-per-clone");
}
static int setup_small_rx(void **state)
{
	rx_len = 44; /* a header and no room for data */
	int r = setup_args(state, "");
	rx_len = RXLEN;
	return r;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	f->dev->ops->destroy(f->dev);
	loop_close(&f->loop);
	mem_unmap(&f->vm.mem);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The guest transmits a packet: header h (len taken from paylen) and paylen bytes of pay,
 * in one descriptor of buflen bytes (at least the header and payload). */
static void send_buf(struct fixture *f, struct hdr h, const void *pay, uint32_t paylen,
		     uint32_t buflen)
{
	h.len = paylen;
	uint8_t *b = gp(f, TXBUF);
	memcpy(b, &h, sizeof(h));
	if (paylen)
		memcpy(b + sizeof(h), pay, paylen);
	set_desc(f, TXQ, 0, TXBUF, buflen, 0, 0);
	offer(f, TXQ, 0);
	wr(f, 0x050, TXQ);
}

static struct hdr pkt(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	return (struct hdr){.src_cid = CID,
			    .dst_cid = 2,
			    .src_port = src_port,
			    .dst_port = dst_port,
			    .type = 1,
			    .op = op,
			    .buf_alloc = 256 * 1024};
}

static void send_pkt(struct fixture *f, struct hdr h, const void *pay, uint32_t paylen)
{
	send_buf(f, h, pay, paylen, (uint32_t)sizeof(h) + paylen);
}

/* The next packet the device gave the guest, or false if there is none; its payload (up
 * to 4096 bytes) into data. The buffer is given back. */
static bool recv_pkt(struct fixture *f, struct hdr *h, void *data)
{
	if (used_idx(f, RXQ) == f->rx_seen)
		return false;
	uint32_t *elem = gp(f, RING(RXQ) + 0x2000 + 4 + 8 * (f->rx_seen % QSIZE));
	unsigned i = elem[0];
	assert_true(i < QSIZE);
	assert_true(elem[1] >= sizeof(*h));
	memcpy(h, gp(f, RXBUF + (uint64_t)i * 0x2000), sizeof(*h));
	assert_int_equal(elem[1], sizeof(*h) + h->len);
	if (data)
		memcpy(data, gp(f, RXBUF + (uint64_t)i * 0x2000 + sizeof(*h)), h->len);
	f->rx_seen++;
	give_rx(f, i, RXLEN);
	wr(f, 0x050, RXQ);
	return true;
}

static void pump(struct fixture *f)
{
	pump_loop(&f->loop);
}

static int host_listen(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Read with a deadline: returns the bytes read, 0 at end of stream (or a reset: Unix
 * sockets closed with unread data reset their peer), -1 on timeout. */
static ssize_t read_wait(int fd, void *buf, size_t len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 2000) <= 0)
		return -1;
	ssize_t r = read(fd, buf, len);
	return r < 0 && errno == ECONNRESET ? 0 : r;
}

/* A guest-initiated connection from guest port 1234 to host port 5000; returns the host
 * program's end. */
static int guest_connects(struct fixture *f, int *listener)
{
	char p[128];
	struct hdr h;
	snprintf(p, sizeof(p), "%s_5000", f->path);
	*listener = host_listen(p);
	send_pkt(f, pkt(REQUEST, 1234, 5000), NULL, 0);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RESPONSE);
	assert_int_equal(h.src_cid, 2);
	assert_int_equal(h.dst_cid, CID);
	assert_int_equal(h.src_port, 5000);
	assert_int_equal(h.dst_port, 1234);
	assert_int_equal(h.buf_alloc, 256 * 1024);
	int fd = accept(*listener, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

static void test_config_is_the_guest_cid(void **state)
{
	struct fixture *f = *state;
	uint64_t cid = 0;
	assert_int_equal(rd(f, 0x008), 19);
	f->dev->ops->mmio(f->dev, NULL, BASE + 0x100, false, (uint8_t *)&cid, 8);
	assert_int_equal(cid, CID);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

static void test_guest_connect_nobody_listening(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	send_pkt(f, pkt(REQUEST, 1234, 999), NULL, 0);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RST);
	assert_int_equal(h.src_port, 999);
	assert_int_equal(h.dst_port, 1234);
	assert_false(broken(f));
}

static void test_guest_stream_both_ways(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	char buf[4096];
	int l, fd = guest_connects(f, &l);

	send_pkt(f, pkt(RW, 1234, 5000), "hello", 5);
	assert_int_equal(read_wait(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);

	assert_int_equal(write(fd, "world!", 6), 6);
	pump(f);
	assert_true(recv_pkt(f, &h, buf));
	assert_int_equal(h.op, RW);
	assert_int_equal(h.len, 6);
	assert_memory_equal(buf, "world!", 6);
	assert_int_equal(h.fwd_cnt, 5); /* the 5 bytes the host took */

	close(fd); /* the host program ends: the guest's read side ends */
	pump(f);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, SHUTDOWN);
	assert_int_equal(h.flags, 2 /* SEND */);
	send_pkt(f,
		 (struct hdr){.src_cid = CID,
			      .dst_cid = 2,
			      .src_port = 1234,
			      .dst_port = 5000,
			      .type = 1,
			      .op = SHUTDOWN,
			      .flags = 3},
		 NULL, 0);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RST); /* over both ways: the device resets it */
	send_pkt(f, pkt(RW, 1234, 5000), "x", 1);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RST); /* and forgot it */
	assert_false(broken(f));
	close(l);
}

static void test_guest_credit_is_respected(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	char big[8192];
	int l, fd = guest_connects(f, &l);
	/* The guest has room for 100 bytes: the device sends no more until it says so. */
	struct hdr credit = pkt(CREDIT_UPDATE, 1234, 5000);
	credit.buf_alloc = 100;
	send_pkt(f, credit, NULL, 0);
	memset(big, 'q', sizeof(big));
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	pump(f);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RW);
	assert_int_equal(h.len, 100);
	pump(f);
	assert_false(recv_pkt(f, &h, NULL));
	credit.fwd_cnt = 100; /* it read them */
	send_pkt(f, credit, NULL, 0);
	pump(f);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.len, 100);
	/* A credit request is answered with our credit. */
	send_pkt(f, pkt(CREDIT_REQUEST, 1234, 5000), NULL, 0);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, CREDIT_UPDATE);
	assert_int_equal(h.buf_alloc, 256 * 1024);
	close(fd);
	close(l);
}

static void test_host_connects_to_the_guest(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	char buf[64];
	int fd = host_connect(f->path);
	assert_int_equal(write(fd, "CONNECT 77\nearly", 16), 16); /* data right after the line */
	pump(f);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, REQUEST);
	assert_int_equal(h.dst_port, 77);
	assert_true(h.src_port >= 1u << 30);
	uint32_t hostport = h.src_port;
	struct hdr resp = pkt(RESPONSE, 77, hostport);
	send_pkt(f, resp, NULL, 0);
	char want[32];
	int n = snprintf(want, sizeof(want), "OK %u\n", hostport);
	assert_int_equal(read_wait(fd, buf, (size_t)n), n);
	assert_memory_equal(buf, want, (size_t)n);
	pump(f);
	assert_true(recv_pkt(f, &h, buf));
	assert_int_equal(h.op, RW);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "early", 5); /* nothing after the line was lost */
	close(fd);
}

static void test_host_connect_refused_by_the_guest(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	char buf[16];
	int fd = host_connect(f->path);
	assert_int_equal(write(fd, "CONNECT 78\n", 11), 11);
	pump(f);
	assert_true(recv_pkt(f, &h, NULL));
	send_pkt(f, pkt(RST, 78, h.src_port), NULL, 0);
	assert_int_equal(read_wait(fd, buf, sizeof(buf)), 0); /* closed, no OK */
	close(fd);
}

static void test_bad_connect_lines(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	char buf[16];
	const char *bad[] = {"HELLO\n",
			     "CONNECT\n",
			     "CONNECT x\n",
			     "CONNECT 4294967296\n",
			     "CONNECT 12 \n",
			     "CONNECT -1\n",
			     "CONNECT 1111111111111111111111111111111111111111"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = host_connect(f->path);
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		pump(f);
		if (read_wait(fd, buf, sizeof(buf)) != 0)
			fail_msg("line '%s' was not refused", bad[i]);
		close(fd);
	}
	int fd = host_connect(f->path); /* hangs up halfway through the line */
	assert_int_equal(write(fd, "CONN", 4), 4);
	close(fd);
	pump(f);
	assert_false(recv_pkt(f, &h, NULL)); /* the guest heard of none of them */
}

static void test_header_shorter_than_44_bytes(void **state)
{
	struct fixture *f = *state;
	send_buf(f, pkt(REQUEST, 1, 2), NULL, 0, 40);
	assert_true(broken(f));
}

static void test_length_past_the_buffer(void **state)
{
	struct fixture *f = *state;
	send_buf(f, pkt(RW, 1, 2), "abc", 3, 44 + 2); /* says 3 bytes, carries 2 */
	assert_true(broken(f));
}

static void test_length_past_64k(void **state)
{
	struct fixture *f = *state;
	static char big[65537];
	send_pkt(f, pkt(RW, 1, 2), big, sizeof(big));
	assert_true(broken(f));
}

static void test_receive_buffer_too_small(void **state)
{
	struct fixture *f = *state;
	send_pkt(f, pkt(REQUEST, 1234, 999), NULL, 0); /* answered with a reset: no room */
	assert_true(broken(f));
}

static void test_packets_of_no_connection_are_reset(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	const uint16_t ops[] = {RW, RESPONSE, SHUTDOWN, CREDIT_UPDATE, CREDIT_REQUEST, 99};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		send_pkt(f, pkt(ops[i], 1234, 6000), "x", 1);
		assert_true(recv_pkt(f, &h, NULL));
		assert_int_equal(h.op, RST);
	}
	send_pkt(f, pkt(RST, 1234, 6000), NULL, 0); /* a reset is never answered */
	assert_false(recv_pkt(f, &h, NULL));
	assert_false(broken(f));
}

static void test_wrong_addresses(void **state)
{
	struct fixture *f = *state;
	struct hdr h = pkt(REQUEST, 1234, 5000), got;
	h.src_cid = 77; /* not the guest's: dropped */
	send_pkt(f, h, NULL, 0);
	assert_false(recv_pkt(f, &got, NULL));
	h = pkt(REQUEST, 1234, 5000);
	h.dst_cid = 9; /* nobody but the host is here */
	send_pkt(f, h, NULL, 0);
	assert_true(recv_pkt(f, &got, NULL));
	assert_int_equal(got.op, RST);
	h = pkt(REQUEST, 1234, 5000);
	h.type = 2; /* seqpacket: not offered */
	send_pkt(f, h, NULL, 0);
	assert_true(recv_pkt(f, &got, NULL));
	assert_int_equal(got.op, RST);
	assert_false(broken(f));
}

static void test_flood_past_credit_resets_the_connection(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	static char chunk[65536];
	int l, fd = guest_connects(f, &l); /* the host program reads nothing */
	bool reset = false;
	for (int i = 0; i < 64 && !reset; i++) {
		send_pkt(f, pkt(RW, 1234, 5000), chunk, sizeof(chunk));
		while (recv_pkt(f, &h, NULL))
			reset |= h.op == RST;
	}
	assert_true(reset);
	assert_false(broken(f));
	char buf[4096];
	ssize_t n;
	size_t total = 0;
	while ((n = read_wait(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	assert_int_equal(n, 0); /* the host end is closed */
	assert_true(total > 0); /* what it had taken before the reset */
	close(fd);
	send_pkt(f, pkt(REQUEST, 1235, 5000), NULL, 0); /* the device goes on serving */
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RESPONSE);
	close(l);
}

static void test_second_request_resets(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	char buf[8];
	int l, fd = guest_connects(f, &l);
	send_pkt(f, pkt(REQUEST, 1234, 5000), NULL, 0);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RST);
	assert_int_equal(read_wait(fd, buf, sizeof(buf)), 0);
	close(fd);
	close(l);
}

static void test_fork_resets_connections_and_clone_gets_its_socket(void **state)
{
	struct fixture *f = *state;
	char buf[8], p[160];
	int l, fd = guest_connects(f, &l);
	assert_int_equal(f->dev->ops->cannot_clone(f->dev), NULL);
	assert_int_equal(f->dev->ops->pre_fork(f->dev), 0);
	assert_int_equal(read_wait(fd, buf, sizeof(buf)), 0); /* the host end is closed */
	assert_int_equal(used_idx(f, EVQ), 1);
	assert_int_equal(*(uint32_t *)gp(f, EVBUF), 0); /* TRANSPORT_RESET */
	/* As the clone: */
	assert_int_equal(f->dev->ops->post_fork(f->dev), 0);
	f->vm.clone_id = 4;
	loop_close(&f->loop);
	assert_int_equal(loop_init(&f->loop), 0);
	assert_int_equal(f->dev->ops->attach(f->dev, &f->loop), 0);
	snprintf(p, sizeof(p), "%s.4", f->path);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	int c = host_connect(p);
	assert_int_equal(write(c, "CONNECT 80\n", 11), 11);
	pump(f);
	struct hdr h;
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, REQUEST);
	uint64_t cid = 0;
	f->dev->ops->mmio(f->dev, NULL, BASE + 0x100, false, (uint8_t *)&cid, 8);
	assert_int_equal(cid, CID); /* kept */
	/* Its guest's connections go to PATH.4_P. */
	snprintf(p, sizeof(p), "%s.4_5001", f->path);
	int l2 = host_listen(p);
	send_pkt(f, pkt(REQUEST, 1, 5001), NULL, 0);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, RESPONSE);
	close(c);
	close(l2);
	close(fd);
	close(l);
}

static void test_clone_with_its_own_cid(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(f->dev->ops->pre_fork(f->dev), 0);
	assert_int_equal(used_idx(f, EVQ), 0); /* no connection: nothing to reset */
	assert_int_equal(f->dev->ops->post_fork(f->dev), 0);
	f->vm.clone_id = 2;
	loop_close(&f->loop);
	assert_int_equal(loop_init(&f->loop), 0);
	assert_int_equal(f->dev->ops->attach(f->dev, &f->loop), 0);
	uint64_t cid = 0;
	f->dev->ops->mmio(f->dev, NULL, BASE + 0x100, false, (uint8_t *)&cid, 8);
	assert_int_equal(cid, CID + 2);
	assert_int_equal(used_idx(f, EVQ), 1); /* the guest is told to reread it */
}

static void test_stale_socket_is_replaced_live_one_is_not(void **state)
{
	struct fixture *f = *state;
	char p[160];
	/* A second VM on the same path is refused: the first one's socket is live. */
	char arg[200], err[128];
	snprintf(arg, sizeof(arg), "%u,uds=%s", CID, f->path);
	struct vm vm2 = {.vm_fd = -1};
	void *a = virtio_vsock_option.parse(arg, err, sizeof(err));
	bus_board(&vm2.bus, (unsigned[]){6}, 1, BASE, BASE + VIRTIO_MMIO_SIZE);
	assert_int_equal(virtio_vsock_option.add(&vm2, a), 0);
	free(a);
	struct loop l2;
	assert_int_equal(loop_init(&l2), 0);
	assert_int_equal(vm2.bus.devices[0]->ops->attach(vm2.bus.devices[0], &l2), -1);
	vm2.bus.devices[0]->ops->destroy(vm2.bus.devices[0]);
	loop_close(&l2);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0); /* still the first VM's */
	/* A socket file nobody listens on (a VM killed) is taken over by a clone. */
	snprintf(p, sizeof(p), "%s.1", f->path);
	close(host_listen(p));
	assert_int_equal(f->dev->ops->post_fork(f->dev), 0);
	f->vm.clone_id = 1;
	loop_close(&f->loop);
	assert_int_equal(loop_init(&f->loop), 0);
	assert_int_equal(f->dev->ops->attach(f->dev, &f->loop), 0);
	close(host_connect(p));
}

/* Nothing arrives on fd within ms milliseconds (no bytes, no end of stream). */
static bool quiet(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 0;
}

/* The host program's worker line on fd, "WORKER 9000", brings the guest a REQUEST to port
 * 9000; the guest accepts. Returns the host port. */
static uint32_t worker_accepted(struct fixture *f, int fd, const char *ready)
{
	struct hdr h;
	char buf[64];
	pump(f);
	assert_true(recv_pkt(f, &h, NULL));
	assert_int_equal(h.op, REQUEST);
	assert_int_equal(h.dst_port, 9000);
	send_pkt(f, pkt(RESPONSE, 9000, h.src_port), NULL, 0);
	size_t n = strlen(ready);
	assert_int_equal(read_wait(fd, buf, n), (ssize_t)n);
	assert_memory_equal(buf, ready, n);
	return h.src_port;
}

/* A worker: refused where the VM cannot be reset; else told READY once the guest accepted;
 * its connection ending on the guest's side asks the VM's reset and keeps the host socket,
 * which after the reset (guest RAM back to the clone's start, as clone/reset.c does it)
 * connects again, once the guest took the transport reset of its start, and is told READY
 * with the new number; what the host wrote meanwhile then reaches the guest. A worker that
 * hangs up asks a reset too. */
static void test_worker_is_reset_after_its_answer(void **state)
{
	struct fixture *f = *state;
	struct hdr h;
	char buf[128], p[160];
	int fd = host_connect(f->path);
	assert_int_equal(write(fd, "WORKER 9000\n", 12), 12);
	pump(f);
	ssize_t n = read_wait(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "REFUSED this VM cannot be reset (a clone of a template started "
				 "with --reusable can)\n");
	assert_int_equal(read_wait(fd, buf, sizeof(buf)), 0);
	close(fd);
	/* A template with a connection open as it freezes: its clones start with a transport
	 * reset in the guest's event queue. */
	int l, g = guest_connects(f, &l);
	assert_int_equal(f->dev->ops->pre_fork(f->dev), 0);
	assert_int_equal(f->dev->ops->post_fork(f->dev), 0);
	f->vm.clone_id = 4;
	f->vm.resettable = true;
	loop_close(&f->loop);
	assert_int_equal(loop_init(&f->loop), 0);
	assert_int_equal(f->dev->ops->attach(f->dev, &f->loop), 0);
	size_t ram_len = TXBUF + 0x10000 - RING(0);
	uint8_t *ram = malloc(ram_len);
	memcpy(ram, gp(f, RING(0)), ram_len);
	uint16_t rx_seen = f->rx_seen, rx_given = f->rx_given;

	snprintf(p, sizeof(p), "%s.4", f->path);
	int w = host_connect(p);
	assert_int_equal(write(w, "WORKER 9000\n", 12), 12);
	uint32_t port = worker_accepted(f, w, "READY 4\n");
	assert_true(f->vm.idle); /* ready: its vCPUs are held until its program writes */
	int w2 = host_connect(p);
	assert_int_equal(write(w2, "WORKER 9000\n", 12), 12);
	pump(f);
	assert_int_equal(read_wait(w2, buf, 8), 8);
	assert_memory_equal(buf, "REFUSED ", 8); /* one worker per VM */
	close(w2);
	/* The exchange, then the guest ends the connection. */
	assert_int_equal(write(w, "INVOKE\n", 7), 7);
	pump(f);
	assert_false(f->vm.idle);
	assert_true(recv_pkt(f, &h, buf));
	assert_int_equal(h.op, RW);
	assert_memory_equal(buf, "INVOKE\n", 7);
	send_pkt(f, pkt(RW, 9000, port), "answer", 6);
	assert_int_equal(read_wait(w, buf, 6), 6);
	assert_memory_equal(buf, "answer", 6);
	assert_false(f->vm.reset_asked);
	struct hdr shut = pkt(SHUTDOWN, 9000, port);
	shut.flags = 3;
	send_pkt(f, shut, NULL, 0);
	assert_true(f->vm.reset_asked);
	assert_true(quiet(w, 100)); /* the socket stays, says nothing */
	assert_int_equal(write(w, "NEXT\n", 5), 5); /* the next invocation, early */
	pump(f);
	while (recv_pkt(f, &h, NULL))
		assert_int_not_equal(h.op, RW); /* it waits for the reset */
	/* The reset: RAM and the device as the clone started, a new number. */
	memcpy(gp(f, RING(0)), ram, ram_len);
	f->rx_seen = rx_seen;
	f->rx_given = rx_given;
	f->vm.reset_asked = false;
	f->vm.clone_id = 1048577;
	assert_int_equal(f->dev->ops->reset(f->dev), 0);
	pump(f);
	assert_false(recv_pkt(f, &h, NULL)); /* not before the guest took its transport reset */
	set_desc(f, EVQ, 0, EVBUF, 4, 2, 0);
	offer(f, EVQ, 0);
	wr(f, 0x050, EVQ);
	port = worker_accepted(f, w, "READY 1048577\n");
	pump(f);
	assert_false(f->vm.idle); /* the invocation sent early lets it run at once */
	assert_true(recv_pkt(f, &h, buf));
	assert_int_equal(h.op, RW);
	assert_int_equal(h.dst_port, 9000);
	assert_memory_equal(buf, "NEXT\n", 5);
	assert_false(f->vm.reset_asked);
	close(w); /* the worker leaves: its VM is reset all the same */
	pump(f);
	assert_true(f->vm.reset_asked);
	free(ram);
	close(g);
	close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_config_is_the_guest_cid),
	    T(test_guest_connect_nobody_listening),
	    T(test_guest_stream_both_ways),
	    T(test_guest_credit_is_respected),
	    T(test_host_connects_to_the_guest),
	    T(test_host_connect_refused_by_the_guest),
	    T(test_bad_connect_lines),
	    T(test_header_shorter_than_44_bytes),
	    T(test_length_past_the_buffer),
	    T(test_length_past_64k),
	    T(test_packets_of_no_connection_are_reset),
	    T(test_wrong_addresses),
	    T(test_flood_past_credit_resets_the_connection),
	    T(test_second_request_resets),
	    T(test_fork_resets_connections_and_clone_gets_its_socket),
	    T(test_stale_socket_is_replaced_live_one_is_not),
	    T(test_worker_is_reset_after_its_answer),
	    cmocka_unit_test_setup_teardown(test_clone_with_its_own_cid, setup_cid_per_clone,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_receive_buffer_too_small, setup_small_rx,
					    teardown),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
