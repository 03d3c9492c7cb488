/* virtio-vsock (virtio 1.x, device 19): stream sockets between the guest and host
 * programs, on Firecracker's hybrid model, so the tools made for it work unchanged.
 *
 * - host -> guest: a host program connects to the VM's Unix socket PATH, writes
 *   "CONNECT <port>\n" and, once the guest's listener on <port> accepts, reads
 *   "OK <hostport>\n"; the socket is then a byte stream to the guest. Nobody listening in
 *   the guest: the socket is closed without an answer.
 * - guest -> host: a guest connecting to CID 2 port P reaches the Unix listener at
 *   "PATH_P"; none there: the guest's connect is reset.
 *
 * Flow control is virtio-vsock's credit: the guest may have at most HOST_BUF bytes of a
 * connection's stream that the host program has not taken yet (they wait in a buffer of
 * that size); the device sends it no more than the guest said it can hold. A guest that
 * sends past its credit, or a packet that breaks the rules of a connection, gets that
 * connection reset; a header that does not fit its buffers marks the device
 * DEVICE_NEEDS_RESET. Every check of what the guest hands over is in handle_packet.
 *
 * Threads: packets the guest transmits are handled on the vCPU thread that notifies the
 * transmit queue; host sockets are read and written on the VM's main loop; both under the
 * transport's lock. Connections live in a fixed table, so an event the main loop already
 * took for a connection that was closed meanwhile finds a free (or reused) slot, never
 * freed memory.
 *
 * Across a clone: connections open at the fork are closed on the host side and the guest
 * gets VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (written before the fork, so the original and the
 * clone both have it): no stream is shared by two VMs, and the guest's listeners go on
 * accepting. Clone N listens on PATH.N and connects out to PATH.N_P; it keeps the guest's
 * CID unless the VM was started with cid-per-clone (clone N gets CID + N). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/loop.h"
#include "core/vm.h"
#include "devices/devices.h"
#include "devices/virtio.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"

#define VIRTIO_ID_VSOCK 19u
#define RXQ 0u
#define TXQ 1u
#define EVQ 2u

#define HOST_CID 2u
#define HDR_LEN 44u	       /* struct virtio_vsock_hdr */
#define PKT_MAX 65536u	       /* largest payload of one packet */
#define HOST_BUF (256u * 1024) /* our buf_alloc: guest bytes a connection may have waiting */
#define MAX_CONNS 256u
#define RX_BATCH 64u /* packets per connection per wakeup */
#define MAX_ORPHAN_RSTS 64u
#define LINE_MAX_LEN 32u	   /* "CONNECT 4294967295\n" and some room */
#define FIRST_HOST_PORT (1u << 30) /* ports of host-initiated connections */

#define TYPE_STREAM 1u
enum {
	OP_REQUEST = 1,
	OP_RESPONSE = 2,
	OP_RST = 3,
	OP_SHUTDOWN = 4,
	OP_RW = 5,
	OP_CREDIT_UPDATE = 6,
	OP_CREDIT_REQUEST = 7,
};
#define SHUTDOWN_RCV 1u
#define SHUTDOWN_SEND 2u
#define EVENT_TRANSPORT_RESET 0u

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == HDR_LEN, "virtio_vsock_hdr is 44 bytes");

enum conn_state {
	C_FREE,
	C_LINE,	      /* host connected, its CONNECT line not read yet */
	C_CONNECTING, /* host-initiated: REQUEST owed or sent to the guest */
	C_ESTABLISHED,
	C_RESET, /* host side closed; the RST owed to the guest frees the slot */
};

/* Control packets owed to the guest, sent as receive buffers allow. */
#define PEND_REQUEST 1u
#define PEND_RESPONSE 2u
#define PEND_CREDIT 4u
#define PEND_SHUTDOWN 8u
#define PEND_RST 16u

struct conn {
	enum conn_state state;
	int fd;
	struct watch w;
	uint32_t watched; /* epoll events fd is registered for (0: not registered) */
	struct vsock *vs;
	uint32_t local_port; /* the host side's */
	uint32_t peer_port;  /* the guest's */
	uint32_t pend;
	/* guest -> host: our receive side */
	uint32_t rx_cnt;   /* stream bytes taken from the guest */
	uint32_t fwd_cnt;  /* of those, handed to the host socket */
	uint32_t fwd_told; /* fwd_cnt as last told to the guest */
	uint8_t *buf;	   /* HOST_BUF bytes, once the host socket is slower than the guest */
	uint32_t buf_head, buf_len;
	bool guest_shut_send, guest_shut_rcv;
	/* host -> guest */
	uint32_t tx_cnt; /* stream bytes sent to the guest */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	bool host_eof; /* the host socket ended: SHUTDOWN sent */
	char line[LINE_MAX_LEN];
	unsigned line_len;
};

struct vsock {
	struct virtio_dev v;
	uint64_t cid; /* the guest's */
	bool cid_per_clone;
	char path[SUN_PATH_SIZE];
	int listener; /* -1: none (a clone before it knows its number) */
	struct watch lw;
	bool own_path; /* we bound path: unlink it when done */
	bool renamed;  /* post_fork ran: attach takes the clone's path */
	struct loop *loop;
	bool attached;	    /* host side ready: transmitted packets are handled */
	bool rx_stalled;    /* the guest had no receive buffer for what we had */
	bool event_owed;    /* TRANSPORT_RESET waits for an event buffer */
	unsigned rx_pushed; /* receive buffers used since the last interrupt */
	uint32_t next_port;
	unsigned nconns; /* slots in use are below this */
	struct conn *conns;
	unsigned norphans; /* RSTs owed for packets of no connection */
	struct {
		uint32_t src_port, dst_port;
	} orphans[MAX_ORPHAN_RSTS];
};

static void conn_event(struct watch *w, uint32_t events);

/* ---- connections ------------------------------------------------------------------------ */

static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Register c's fd for what it waits for now, or take it off the loop. */
static void conn_watch(struct conn *c)
{
	struct vsock *vs = c->vs;
	uint32_t ev = 0;
	if (c->fd < 0 || !vs->loop)
		return;
	if (c->state == C_LINE) {
		ev = EPOLLIN | EPOLLRDHUP;
	} else if (c->state == C_CONNECTING) {
		ev = EPOLLRDHUP;
	} else if (c->state == C_ESTABLISHED) {
		if (!c->host_eof && !c->guest_shut_rcv && !vs->rx_stalled && peer_credit(c) &&
		    !vs->v.dev.vm->frozen)
			ev |= EPOLLIN;
		if (c->buf_len)
			ev |= EPOLLOUT;
	}
	if (ev == c->watched)
		return;
	if (!ev)
		loop_del(vs->loop, &c->w);
	else if (c->watched ? loop_mod(vs->loop, &c->w, ev) : loop_add(vs->loop, &c->w, ev))
		return;
	c->watched = ev;
}

static struct conn *conn_new(struct vsock *vs, int fd, enum conn_state state)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &vs->conns[i];
		if (c->state != C_FREE)
			continue;
		*c = (struct conn){.state = state, .fd = fd, .vs = vs};
		c->w = (struct watch){.fd = fd, .fn = conn_event, .arg = c};
		if (i >= vs->nconns)
			vs->nconns = i + 1;
		return c;
	}
	return NULL;
}

static struct conn *conn_find(struct vsock *vs, uint32_t local_port, uint32_t peer_port)
{
	for (unsigned i = 0; i < vs->nconns; i++) {
		struct conn *c = &vs->conns[i];
		if (c->state != C_FREE && c->state != C_LINE && c->local_port == local_port &&
		    c->peer_port == peer_port)
			return c;
	}
	return NULL;
}

/* Let go of c's host socket (off the loop first unless forget: in a fork child the loop is
 * the parent's). */
static void conn_drop_fd(struct conn *c, bool forget)
{
	if (c->fd >= 0) {
		if (c->watched && !forget)
			loop_del(c->vs->loop, &c->w);
		close(c->fd);
	}
	c->fd = -1;
	c->watched = 0;
	free(c->buf);
	c->buf = NULL;
	c->buf_len = 0;
}

static void conn_free(struct conn *c, bool forget)
{
	conn_drop_fd(c, forget);
	c->state = C_FREE;
	c->pend = 0;
}

/* Close c's host side and owe the guest a reset of the connection. */
static void conn_reset(struct conn *c)
{
	conn_drop_fd(c, false);
	c->state = C_RESET;
	c->pend = PEND_RST;
}

/* Close every connection, telling nobody (the guest learns it from a transport reset).
 * Returns how many there were. */
static unsigned conns_drop_all(struct vsock *vs, bool forget)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vs->nconns; i++) {
		if (vs->conns[i].state != C_FREE) {
			conn_free(&vs->conns[i], forget);
			n++;
		}
	}
	vs->nconns = 0;
	vs->norphans = 0;
	return n;
}

static void owe_orphan_rst(struct vsock *vs, const struct vsock_hdr *h)
{
	if (h->op == OP_RST)
		return; /* never answer a reset with a reset */
	if (vs->norphans == MAX_ORPHAN_RSTS) {
		pr_debug("vsock: too many resets owed to the guest: one dropped");
		return;
	}
	vs->orphans[vs->norphans].src_port = h->dst_port;
	vs->orphans[vs->norphans++].dst_port = h->src_port;
}

/* ---- to the guest: the receive queue ------------------------------------------------------ */

/* Take a receive buffer; false if the guest has none. */
static bool rx_take(struct vsock *vs, struct virtq_elem *e)
{
	int r = virtq_pop(&vs->v, RXQ, e);
	if (r == 0)
		vs->rx_stalled = true;
	if (r != 1)
		return false;
	if (e->in_len <= HDR_LEN) {
		virtio_needs_reset(&vs->v,
				   "a receive buffer of %zu bytes cannot hold a %u-byte "
				   "header and data",
				   e->in_len, HDR_LEN);
		return false;
	}
	return true;
}

static void rx_put(struct vsock *vs, struct virtq_elem *e, struct conn *c, uint16_t op,
		   uint32_t flags, uint32_t len)
{
	struct vsock_hdr h = {.src_cid = HOST_CID,
			      .dst_cid = vs->cid,
			      .len = len,
			      .type = TYPE_STREAM,
			      .op = op,
			      .flags = flags};
	if (c) {
		h.src_port = c->local_port;
		h.dst_port = c->peer_port;
		h.buf_alloc = HOST_BUF;
		h.fwd_cnt = c->fwd_told = c->fwd_cnt;
		c->pend &= ~PEND_CREDIT; /* every packet tells the credit */
	}
	virtq_copy_in(e, 0, &h, sizeof(h));
	virtq_push(&vs->v, RXQ, e->head, HDR_LEN + len);
	vs->rx_pushed++;
}

/* Send what the guest is owed, as far as it has buffers: resets of no connection, then
 * each connection's control packets. */
static void flush_owed(struct vsock *vs)
{
	struct virtq_elem e;
	while (vs->norphans && rx_take(vs, &e)) {
		vs->norphans--;
		struct conn o = {.local_port = vs->orphans[vs->norphans].src_port,
				 .peer_port = vs->orphans[vs->norphans].dst_port};
		rx_put(vs, &e, &o, OP_RST, 0, 0);
	}
	for (unsigned i = 0; i < vs->nconns; i++) {
		struct conn *c = &vs->conns[i];
		while (c->pend && rx_take(vs, &e)) {
			if (c->pend & PEND_RST) {
				rx_put(vs, &e, c, OP_RST, 0, 0);
				conn_free(c, false);
			} else if (c->pend & (PEND_REQUEST | PEND_RESPONSE)) {
				uint16_t op = c->pend & PEND_REQUEST ? OP_REQUEST : OP_RESPONSE;
				c->pend &= ~(PEND_REQUEST | PEND_RESPONSE);
				rx_put(vs, &e, c, op, 0, 0);
			} else if (c->pend & PEND_SHUTDOWN) {
				c->pend &= ~PEND_SHUTDOWN;
				rx_put(vs, &e, c, OP_SHUTDOWN, SHUTDOWN_SEND, 0);
			} else {
				rx_put(vs, &e, c, OP_CREDIT_UPDATE, 0, 0);
			}
		}
		if (c->pend)
			return; /* no more buffers */
	}
}

static void rx_interrupt(struct vsock *vs)
{
	if (vs->rx_pushed)
		virtio_notify_used(&vs->v, RXQ);
	vs->rx_pushed = 0;
}

/* The host socket ended or broke: tell the guest, after what was already read, in e. */
static void host_ended(struct conn *c, struct virtq_elem *e, bool broken)
{
	struct vsock *vs = c->vs;
	if (broken || c->guest_shut_send) { /* nothing more can flow either way */
		rx_put(vs, e, c, OP_RST, 0, 0);
		conn_free(c, false);
		return;
	}
	c->host_eof = true;
	rx_put(vs, e, c, OP_SHUTDOWN, SHUTDOWN_SEND, 0);
}

/* Main loop: move what the host program wrote to the guest, within the guest's credit
 * and receive buffers. */
static void host_to_guest(struct conn *c)
{
	struct vsock *vs = c->vs;
	for (unsigned n = 0; n < RX_BATCH && c->state == C_ESTABLISHED && !c->host_eof; n++) {
		uint32_t credit = peer_credit(c);
		struct virtq_elem e;
		if (!credit || vs->v.dev.vm->frozen || !rx_take(vs, &e))
			break;
		size_t want = e.in_len - HDR_LEN;
		if (want > credit)
			want = credit;
		if (want > PKT_MAX)
			want = PKT_MAX;
		/* The payload goes straight into the guest's buffers, after the header. */
		struct iovec iov[VIRTQ_MAX_SEGS];
		ssize_t r = readv(c->fd, iov, (int)virtq_slice(e.in, e.nin, HDR_LEN, want, iov));
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			virtq_unpop(&vs->v, RXQ);
			break;
		}
		if (r <= 0) {
			host_ended(c, &e, r < 0);
			break;
		}
		c->tx_cnt += (uint32_t)r;
		rx_put(vs, &e, c, OP_RW, 0, (uint32_t)r);
	}
}

/* ---- to the host ------------------------------------------------------------------------ */

/* Returns the bytes sent (0 if the socket is full) or -1 if it broke. */
static ssize_t send_iov(int fd, struct iovec *iov, unsigned n)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
	ssize_t r;
	do
		r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return 0;
	return r;
}

/* Tell the guest its credit grew once a good part of our buffer is free again. */
static void maybe_credit(struct conn *c)
{
	if (c->fwd_cnt - c->fwd_told >= HOST_BUF / 4)
		c->pend |= PEND_CREDIT;
}

/* Once the host has all the guest sent: pass the guest's end of stream on, and reset a
 * connection over in both directions (the peer that sees the last shutdown resets). */
static void maybe_finish(struct conn *c)
{
	if (c->buf_len || !c->guest_shut_send)
		return;
	shutdown(c->fd, SHUT_WR);
	if (c->guest_shut_rcv || c->host_eof)
		conn_reset(c);
}

/* Write what waits in c's buffer. Returns 0, or -1 if the host socket broke. */
static int flush_buf(struct conn *c)
{
	while (c->buf_len) {
		struct iovec iov = {c->buf + c->buf_head, c->buf_len};
		ssize_t r = send_iov(c->fd, &iov, 1);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		c->buf_head += (uint32_t)r;
		c->buf_len -= (uint32_t)r;
		c->fwd_cnt += (uint32_t)r;
	}
	if (!c->buf_len)
		c->buf_head = 0;
	maybe_credit(c);
	maybe_finish(c);
	return 0;
}

/* Stream bytes from the guest (the len bytes after e's header) to the host socket; what
 * it does not take now waits in the connection's buffer. */
static void guest_to_host(struct conn *c, const struct virtq_elem *e, uint32_t len)
{
	if (c->rx_cnt - c->fwd_cnt + len > HOST_BUF) {
		pr_warn("vsock: the guest sent %u bytes on port %u -> %u past its credit (%u of "
			"%u waiting): connection reset",
			len, c->peer_port, c->local_port, c->rx_cnt - c->fwd_cnt, HOST_BUF);
		conn_reset(c);
		return;
	}
	c->rx_cnt += len;
	size_t sent = 0;
	if (!c->buf_len) {
		struct iovec iov[VIRTQ_MAX_SEGS];
		ssize_t r = send_iov(c->fd, iov, virtq_slice(e->out, e->nout, HDR_LEN, len, iov));
		if (r < 0) {
			conn_reset(c); /* the host program is gone */
			return;
		}
		sent = (size_t)r;
		c->fwd_cnt += (uint32_t)r;
	}
	if (sent < len) {
		if (!c->buf && !(c->buf = malloc(HOST_BUF))) {
			pr_err("vsock: out of memory for a connection's buffer: connection reset");
			conn_reset(c);
			return;
		}
		if (c->buf_head + c->buf_len + (len - sent) > HOST_BUF) {
			memmove(c->buf, c->buf + c->buf_head, c->buf_len);
			c->buf_head = 0;
		}
		virtq_copy_out(e, HDR_LEN + sent, c->buf + c->buf_head + c->buf_len, len - sent);
		c->buf_len += (uint32_t)(len - sent);
	}
	maybe_credit(c);
}

/* The guest connects to host port h->dst_port: the listener at PATH_port. */
static void guest_connect(struct vsock *vs, const struct vsock_hdr *h)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int n = snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", vs->path, h->dst_port);
	int fd = -1;
	if (n > 0 && (size_t)n < sizeof(a.sun_path))
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		pr_debug("vsock: guest port %u -> host port %u: %s: %s", h->src_port, h->dst_port,
			 a.sun_path, strerror(errno));
		close(fd);
		fd = -1;
	}
	struct conn *c = fd >= 0 ? conn_new(vs, fd, C_ESTABLISHED) : NULL;
	if (!c) {
		if (fd >= 0) {
			pr_debug("vsock: %u connections open: the guest's connect is refused",
				 MAX_CONNS);
			close(fd);
		}
		owe_orphan_rst(vs, h);
		return;
	}
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pend = PEND_RESPONSE;
	conn_watch(c);
}

/* One packet the guest transmitted. Everything in it is the guest's word: checked here. */
static void handle_packet(struct vsock *vs, const struct virtq_elem *e)
{
	struct vsock_hdr h;
	if (e->out_len < HDR_LEN) {
		virtio_needs_reset(&vs->v,
				   "a transmitted packet of %zu bytes is shorter than its "
				   "%u-byte header",
				   e->out_len, HDR_LEN);
		return;
	}
	virtq_copy_out(e, 0, &h, sizeof(h)); /* read once: the guest may change it */
	if (h.len > e->out_len - HDR_LEN || h.len > PKT_MAX) {
		virtio_needs_reset(&vs->v,
				   "a packet says it carries %u bytes, its buffers hold %zu "
				   "(at most %u)",
				   h.len, e->out_len - HDR_LEN, PKT_MAX);
		return;
	}
	if (h.src_cid != vs->cid) {
		pr_debug("vsock: packet from CID %llu, not the guest's %llu: dropped",
			 (unsigned long long)h.src_cid, (unsigned long long)vs->cid);
		return;
	}
	struct conn *c = conn_find(vs, h.dst_port, h.src_port);
	if (h.dst_cid != HOST_CID || h.type != TYPE_STREAM) {
		/* Nothing but the host's stream sockets is reachable here. */
		if (c && c->state != C_RESET)
			conn_reset(c);
		else if (!c)
			owe_orphan_rst(vs, &h);
		return;
	}
	if (h.op == OP_REQUEST) {
		if (c && c->state != C_RESET)
			conn_reset(c); /* a second request on a live connection */
		else if (!c)
			guest_connect(vs, &h);
		return;
	}
	if (!c) {
		owe_orphan_rst(vs, &h);
		return;
	}
	if (c->state == C_RESET) {
		if (h.op == OP_RST)
			conn_free(c, false); /* both sides reset it: nothing owed */
		return;
	}
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	switch (h.op) {
	case OP_RESPONSE: {
		char ok[32];
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		struct iovec iov = {ok, (size_t)n};
		if (c->state != C_CONNECTING || send_iov(c->fd, &iov, 1) != n) {
			conn_reset(c);
			return;
		}
		c->state = C_ESTABLISHED;
		break;
	}
	case OP_RW:
		if (c->state != C_ESTABLISHED || c->guest_shut_send) {
			conn_reset(c);
			return;
		}
		guest_to_host(c, e, h.len);
		break;
	case OP_SHUTDOWN:
		if (c->state != C_ESTABLISHED) {
			conn_reset(c);
			return;
		}
		c->guest_shut_rcv |= !!(h.flags & SHUTDOWN_RCV);
		c->guest_shut_send |= !!(h.flags & SHUTDOWN_SEND);
		maybe_finish(c);
		break;
	case OP_RST:
		conn_free(c, false);
		return;
	case OP_CREDIT_UPDATE:
		break;
	case OP_CREDIT_REQUEST:
		c->pend |= PEND_CREDIT;
		break;
	default:
		conn_reset(c);
		return;
	}
	conn_watch(c); /* the guest's credit may have opened */
}

/* Handle what the guest transmitted (vCPU thread, or attach). Lock held. */
static void transmit(struct vsock *vs)
{
	struct virtq_elem e;
	bool done = false;
	if (!vs->attached)
		return; /* a clone's host side is being made: the packets wait in the queue */
	while (virtq_pop(&vs->v, TXQ, &e) == 1) {
		handle_packet(vs, &e);
		virtq_push(&vs->v, TXQ, e.head, 0);
		done = true;
	}
	if (done)
		virtio_notify_used(&vs->v, TXQ);
	flush_owed(vs);
	rx_interrupt(vs);
}

/* Give the guest a transport reset (it drops its connections and rereads its CID), now or
 * as soon as it has an event buffer. Lock held. */
static void transport_reset(struct vsock *vs)
{
	struct virtq_elem e;
	if (virtq_pop(&vs->v, EVQ, &e) != 1) {
		vs->event_owed = true;
		return;
	}
	uint32_t id = EVENT_TRANSPORT_RESET; /* struct virtio_vsock_event */
	virtq_push(&vs->v, EVQ, e.head, (uint32_t)virtq_copy_in(&e, 0, &id, sizeof(id)));
	virtio_notify_used(&vs->v, EVQ);
	vs->event_owed = false;
}

/* ---- host side: main loop ---------------------------------------------------------------- */

/* A host program's "CONNECT <port>\n", read a byte at a time so that nothing of the stream
 * after it is taken. */
static void read_line(struct conn *c, uint32_t events)
{
	struct vsock *vs = c->vs;
	ssize_t r = 0;
	char ch = 0;
	while (c->line_len < sizeof(c->line) - 1 && (r = read(c->fd, &ch, 1)) == 1 && ch != '\n')
		c->line[c->line_len++] = ch;
	if (ch != '\n') {
		bool full = c->line_len == sizeof(c->line) - 1;
		if (full || r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) ||
		    (events & EPOLLRDHUP)) {
			pr_debug("vsock: host connection closed: %s",
				 full ? "no CONNECT line" : "it hung up before its CONNECT line");
			conn_free(c, false);
		}
		return; /* the rest of the line is on its way */
	}
	c->line[c->line_len] = 0;
	char *end = NULL;
	const char *num = c->line + 8;
	errno = 0;
	unsigned long port = strncmp(c->line, "CONNECT ", 8) || *num < '0' || *num > '9'
				 ? ~0ul
				 : strtoul(num, &end, 10);
	if (port > UINT32_MAX || errno || !end || *end) {
		pr_debug("vsock: host connection closed: bad line '%s' (expected CONNECT <port>)",
			 c->line);
		conn_free(c, false);
		return;
	}
	uint32_t local;
	do {
		if (vs->next_port < FIRST_HOST_PORT)
			vs->next_port = FIRST_HOST_PORT;
		local = vs->next_port++;
	} while (conn_find(vs, local, (uint32_t)port));
	c->local_port = local;
	c->peer_port = (uint32_t)port;
	c->state = C_CONNECTING;
	c->pend = PEND_REQUEST;
}

static void conn_event(struct watch *w, uint32_t events)
{
	struct conn *c = w->arg;
	struct vsock *vs = c->vs;
	pthread_mutex_lock(&vs->v.lock);
	if (c->fd != w->fd || c->state == C_FREE || c->state == C_RESET)
		goto out; /* closed since the event was taken */
	if (c->state == C_LINE) {
		read_line(c, events);
	} else if (c->state == C_CONNECTING) {
		conn_reset(c); /* the host program hung up before the guest answered */
	} else {
		if ((events & EPOLLOUT) && flush_buf(c) < 0)
			conn_reset(c);
		if (c->state == C_ESTABLISHED && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			host_to_guest(c);
	}
	if (c->state != C_FREE)
		conn_watch(c);
	flush_owed(vs);
	rx_interrupt(vs);
out:
	pthread_mutex_unlock(&vs->v.lock);
}

static void listener_event(struct watch *w, uint32_t events)
{
	struct vsock *vs = w->arg;
	bool frozen = vs->v.dev.vm->frozen;
	(void)events;
	pthread_mutex_lock(&vs->v.lock);
	for (int i = 0; i < 16; i++) {
		int fd = accept4(vs->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		struct conn *c = frozen ? NULL : conn_new(vs, fd, C_LINE);
		if (!c) {
			pr_debug("vsock: host connection refused: %s",
				 frozen ? "a template's guest does not run"
					: "too many connections");
			close(fd);
			continue;
		}
		conn_watch(c);
	}
	pthread_mutex_unlock(&vs->v.lock);
}

/* Listen on vs->path; a socket file left by a VM that is gone is replaced. Returns 0 or -1
 * (logged). */
static int uds_listen(struct vsock *vs)
{
	int fd = unix_listen(vs->path, NULL);
	if (fd < 0) {
		pr_err("vsock: cannot listen on %s: %s", vs->path, strerror(errno));
		return -1;
	}
	vs->listener = fd;
	vs->own_path = true;
	return 0;
}

/* ---- virtio device ---------------------------------------------------------------------- */

static void vsock_notify(struct virtio_dev *v, unsigned q)
{
	struct vsock *vs = v->owner;
	if (q == TXQ) {
		transmit(vs);
	} else if (q == EVQ) {
		if (vs->event_owed)
			transport_reset(vs);
	} else if (vs->rx_stalled && vs->attached) {
		/* New receive buffers: what was waiting can flow again. */
		vs->rx_stalled = false;
		flush_owed(vs);
		for (unsigned i = 0; i < vs->nconns; i++)
			conn_watch(&vs->conns[i]);
		rx_interrupt(vs);
	}
}

static void vsock_config(struct virtio_dev *v, uint32_t off, uint8_t *data, unsigned len)
{
	struct vsock *vs = v->owner;
	uint64_t cfg = vs->cid; /* struct virtio_vsock_config: le64 guest_cid */
	for (unsigned i = 0; i < len && off + i < sizeof(cfg); i++)
		data[i] = ((const uint8_t *)&cfg)[off + i];
}

static void vsock_reset(struct virtio_dev *v)
{
	struct vsock *vs = v->owner;
	conns_drop_all(vs, false);
	vs->rx_stalled = vs->event_owed = false;
	vs->rx_pushed = 0;
}

/* Whether a clone's longest socket path, PATH.N_P, fits. */
static bool room_for_clones(const char *path)
{
	return strlen(path) + sizeof(".4294967295_4294967295") <= SUN_PATH_SIZE;
}

static const char *vsock_cannot_clone(struct virtio_dev *v)
{
	struct vsock *vs = v->owner;
	return room_for_clones(vs->path) ? NULL
					 : "the vsock socket path leaves no room for clones' paths "
					   "(PATH.N_P must fit in 107 characters)";
}

/* Parent, vCPUs paused, before the fork (a template: when it freezes): close the host side
 * of every connection and put a transport reset in the guest's event queue, so that the
 * original and the clone both drop the connections the other could go on with. */
static int vsock_pre_fork(struct virtio_dev *v)
{
	struct vsock *vs = v->owner;
	pthread_mutex_lock(&v->lock);
	if (conns_drop_all(vs, false))
		transport_reset(vs);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static int vsock_post_fork(struct virtio_dev *v)
{
	struct vsock *vs = v->owner;
	/* The socket and the loop are the parent's; the clone gets its own in attach. */
	conns_drop_all(vs, true);
	if (vs->listener >= 0)
		close(vs->listener);
	vs->listener = -1;
	vs->own_path = false;
	vs->renamed = true;
	vs->loop = NULL;
	vs->attached = false;
	vs->rx_stalled = false;
	vs->rx_pushed = 0;
	return 0;
}

static int vsock_attach(struct virtio_dev *v, struct loop *l)
{
	struct vsock *vs = v->owner;
	struct vm *vm = v->dev.vm;
	bool new_cid = false;
	if (vs->renamed) { /* a clone, its guest already running: its own path (and CID) */
		char path[SUN_PATH_SIZE];
		int n = clone_name(path, sizeof(path), vs->path, vm->clone_id);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			pr_err("vsock: the clone's socket path %s.%u is too long", vs->path,
			       vm->clone_id);
			return -1;
		}
		if (vs->cid_per_clone && vs->cid + vm->clone_id >= 0xffffffffull) {
			pr_err("vsock: clone %u's CID would be past 4294967294", vm->clone_id);
			return -1;
		}
		memcpy(vs->path, path, sizeof(path));
		vs->renamed = false;
		if (vs->cid_per_clone) {
			vs->cid += vm->clone_id;
			new_cid = true;
		}
	}
	if (vs->listener < 0 && uds_listen(vs) < 0)
		return -1;
	vs->lw = (struct watch){.fd = vs->listener, .fn = listener_event, .arg = vs};
	if (loop_add(l, &vs->lw, EPOLLIN) < 0)
		return -1;
	pthread_mutex_lock(&v->lock);
	vs->loop = l;
	vs->attached = true;
	if (new_cid)
		transport_reset(vs); /* the guest rereads its CID */
	transmit(vs);		     /* what the guest sent while the host side was being made */
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static void vsock_destroy(struct virtio_dev *v)
{
	struct vsock *vs = v->owner;
	conns_drop_all(vs, !vs->loop);
	if (vs->listener >= 0)
		close(vs->listener);
	if (vs->own_path)
		unlink(vs->path);
	free(vs->conns);
	free(vs);
}

static const struct virtio_ops vsock_virtio_ops = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .nqueues = 3,
    .notify = vsock_notify,
    .config = vsock_config,
    .reset = vsock_reset,
    .cannot_clone = vsock_cannot_clone,
    .pre_fork = vsock_pre_fork,
    .post_fork = vsock_post_fork,
    .attach = vsock_attach,
    .destroy = vsock_destroy,
};

/* --vsock CID[,uds=PATH][,cid-per-clone] */
struct vsock_arg {
	uint64_t cid;
	bool cid_per_clone;
	char path[SUN_PATH_SIZE]; /* "": RUN_DIR/NAME.vsock */
};

static void *vsock_parse(const char *arg, char *err, size_t errlen)
{
	struct vsock_arg a = {0};
	char *end = NULL;
	errno = 0;
	unsigned long long cid = *arg >= '0' && *arg <= '9' ? strtoull(arg, &end, 10) : 0;
	if (errno || cid < 3 || cid >= 0xffffffffull || (*end && *end != ','))
		goto bad;
	a.cid = cid;
	for (const char *p = end; *p == ',';) {
		p++;
		size_t len = strcspn(p, ",");
		if (len == 13 && !strncmp(p, "cid-per-clone", len)) {
			a.cid_per_clone = true;
		} else if (len > 4 && !strncmp(p, "uds=", 4) && !a.path[0]) {
			if (len - 4 >= sizeof(a.path) - 1) {
				snprintf(err, errlen,
					 "the socket path is longer than %zu characters",
					 sizeof(a.path) - 2);
				return NULL;
			}
			memcpy(a.path, p + 4, len - 4);
		} else {
			goto bad;
		}
		p += len;
	}
	struct vsock_arg *r = malloc(sizeof(*r));
	if (r)
		*r = a;
	else
		snprintf(err, errlen, "out of memory");
	return r;
bad:
	snprintf(err, errlen,
		 "expected CID[,uds=PATH][,cid-per-clone] (a guest CID from 3 to "
		 "4294967294)");
	return NULL;
}

static int virtio_vsock_add(struct vm *vm, const void *parsed)
{
	const struct vsock_arg *a = parsed;
	struct vsock *vs = calloc(1, sizeof(*vs));
	if (!vs || !(vs->conns = calloc(MAX_CONNS, sizeof(*vs->conns)))) {
		free(vs);
		pr_err("vsock: out of memory");
		return -1;
	}
	vs->cid = a->cid;
	vs->cid_per_clone = a->cid_per_clone;
	vs->listener = -1;
	if (a->path[0])
		snprintf(vs->path, sizeof(vs->path), "%s", a->path);
	else
		run_file(vs->path, sizeof(vs->path), vm->cfg.run_dir, vm->cfg.name, RUN_FILE_VSOCK);
	if (strlen(vs->path) + 2 > sizeof(vs->path)) { /* room for PATH_P at least */
		pr_err("vsock: the socket path %s is too long for a Unix socket", vs->path);
		goto fail;
	}
	if (!room_for_clones(vs->path))
		pr_warn("vsock: socket path %s leaves no room for clones' (PATH.N_P, at most %zu "
			"characters): this VM cannot be cloned",
			vs->path, SUN_PATH_SIZE - 1);
	if (virtio_mmio_add(vm, &vs->v, &vsock_virtio_ops, vs) < 0)
		goto fail;
	return 0;
fail:
	free(vs->conns);
	free(vs);
	return -1;
}

const struct device_option virtio_vsock_option = {
    .name = "vsock",
    .metavar = "CID[,uds=PATH][,cid-per-clone]",
    .help =
	"  --vsock CID[,uds=PATH][,cid-per-clone]\n"
	"                    Linux guests: virtio-vsock with guest CID CID (3 to\n"
	"                    4294967294). Host programs reach guest port P through Unix\n"
	"                    socket PATH (default RUN_DIR/NAME.vsock): write \"CONNECT P\\n\",\n"
	"                    read \"OK <port>\\n\"; the guest reaches host port P at the\n"
	"                    listener on PATH_P. Clone N gets PATH.N and PATH.N_P, and\n"
	"                    the same CID (CID+N with cid-per-clone); connections open\n"
	"                    at a fork are reset in both VMs\n",
    .max = 1,
    .linux_only = true,
    .parse = vsock_parse,
    .add = virtio_vsock_add,
};
