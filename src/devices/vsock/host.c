/* virtio-vsock's host side: the host programs' Unix sockets, on the VM's main loop. The
 * listener at PATH and the CONNECT line of each host program that connects to it; the
 * guest's connects out to the listeners at PATH_P; and the streams of established
 * connections, moved between the host sockets and the guest's queues. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/vcpu.h"
#include "core/vm.h"
#include "devices/vsock/vsock.h"
#include "util/log.h"
#include "util/sock.h"

#define RX_BATCH 64u		   /* packets per connection per wakeup */
#define FIRST_HOST_PORT (1u << 30) /* ports of host-initiated connections */

/* ---- to the guest ----------------------------------------------------------------------- */

/* The host program is gone or its socket broke: the connection is reset (a worker's socket
 * is not kept, and its VM is asked to reset). */
static void host_gone(struct conn *c)
{
	vsock_worker_lost(c);
	vsock_conn_reset(c);
}

/* The host socket ended or broke: tell the guest, after what was already read, in e. */
static void host_ended(struct conn *c, struct virtq_elem *e, bool broken)
{
	struct vsock *vs = c->vs;
	vsock_worker_lost(c);
	if (broken || c->guest_shut_send) { /* nothing more can flow either way */
		vsock_rx_put(vs, e, c, OP_RST, 0, 0);
		vsock_conn_free(c, false);
		return;
	}
	c->host_eof = true;
	vsock_rx_put(vs, e, c, OP_SHUTDOWN, SHUTDOWN_SEND, 0);
}

/* Main loop: move what the host program wrote to the guest, within the guest's credit
 * and receive buffers. */
static void host_to_guest(struct conn *c)
{
	struct vsock *vs = c->vs;
	for (unsigned n = 0; n < RX_BATCH && c->state == C_ESTABLISHED && !c->host_eof; n++) {
		uint32_t credit = vsock_peer_credit(c);
		struct virtq_elem e;
		if (!credit || vs->v.dev.vm->frozen || !vsock_rx_take(vs, &e))
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
		vsock_rx_put(vs, &e, c, OP_RW, 0, (uint32_t)r);
	}
}

/* ---- to the host program ---------------------------------------------------------------- */

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
	vsock_maybe_credit(c);
	vsock_maybe_finish(c);
	return 0;
}

void vsock_guest_to_host(struct conn *c, const struct virtq_elem *e, uint32_t len)
{
	if (c->rx_cnt - c->fwd_cnt + len > HOST_BUF) {
		pr_warn("vsock: the guest sent %u bytes on port %u -> %u past its credit (%u of "
			"%u waiting): connection reset",
			len, c->peer_port, c->local_port, c->rx_cnt - c->fwd_cnt, HOST_BUF);
		vsock_conn_reset(c);
		return;
	}
	c->rx_cnt += len;
	size_t sent = 0;
	if (!c->buf_len) {
		struct iovec iov[VIRTQ_MAX_SEGS];
		ssize_t r = send_iov(c->fd, iov, virtq_slice(e->out, e->nout, HDR_LEN, len, iov));
		if (r < 0) {
			host_gone(c);
			return;
		}
		sent = (size_t)r;
		c->fwd_cnt += (uint32_t)r;
	}
	if (sent < len) {
		if (!c->buf && !(c->buf = malloc(HOST_BUF))) {
			pr_err("vsock: out of memory for a connection's buffer: connection reset");
			vsock_conn_reset(c);
			return;
		}
		if (c->buf_head + c->buf_len + (len - sent) > HOST_BUF) {
			memmove(c->buf, c->buf + c->buf_head, c->buf_len);
			c->buf_head = 0;
		}
		virtq_copy_out(e, HDR_LEN + sent, c->buf + c->buf_head + c->buf_len, len - sent);
		c->buf_len += (uint32_t)(len - sent);
	}
	vsock_maybe_credit(c);
}

int vsock_host_answer(struct conn *c)
{
	char ok[32];
	int n = c->worker ? snprintf(ok, sizeof(ok), "READY %u\n", c->vs->v.dev.vm->clone_id)
			  : snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
	struct iovec iov = {ok, (size_t)n};
	return send_iov(c->fd, &iov, 1) == n ? 0 : -1;
}

/* ---- connects: the guest's to PATH_P, a host program's CONNECT line --------------------- */

void vsock_guest_connect(struct vsock *vs, const struct vsock_hdr *h)
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
	struct conn *c = fd >= 0 ? vsock_conn_new(vs, fd, C_ESTABLISHED) : NULL;
	if (!c) {
		if (fd >= 0) {
			pr_debug("vsock: %u connections open: the guest's connect is refused",
				 MAX_CONNS);
			close(fd);
		}
		vsock_owe_orphan_rst(vs, h);
		return;
	}
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pend = PEND_RESPONSE;
	vsock_conn_watch(c);
}

/* A free host port for a host-initiated connection to guest port peer. */
static uint32_t host_port(struct vsock *vs, uint32_t peer)
{
	uint32_t local;
	do {
		if (vs->next_port < FIRST_HOST_PORT)
			vs->next_port = FIRST_HOST_PORT;
		local = vs->next_port++;
	} while (vsock_conn_find(vs, local, peer));
	return local;
}

/* Why the VM of vs can have no worker now, or NULL. */
static const char *no_worker(struct vsock *vs)
{
	struct vm *vm = vs->v.dev.vm;
	if (vs->worker_fd >= 0)
		return "this VM has a worker already";
	for (unsigned i = 0; i < vs->nconns; i++)
		if (vs->conns[i].worker)
			return "this VM has a worker already";
	if (!vm->resettable)
		return "this VM cannot be reset (a clone of a template started with --reusable "
		       "can)";
	return bus_reset_refusal(&vm->bus);
}

/* A host program's "CONNECT <port>\n" or "WORKER <port>\n", read a byte at a time so that
 * nothing of the stream after it is taken. */
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
			vsock_conn_free(c, false);
		}
		return; /* the rest of the line is on its way */
	}
	c->line[c->line_len] = 0;
	char *end = NULL;
	bool worker = !strncmp(c->line, "WORKER ", 7);
	const char *num = c->line + (worker ? 7 : 8);
	errno = 0;
	unsigned long port = (!worker && strncmp(c->line, "CONNECT ", 8)) || *num < '0' || *num > '9'
				 ? ~0ul
				 : strtoul(num, &end, 10);
	if (port > UINT32_MAX || errno || !end || *end) {
		pr_debug("vsock: host connection closed: bad line '%s' (expected CONNECT <port> "
			 "or WORKER <port>)", c->line);
		vsock_conn_free(c, false);
		return;
	}
	const char *no = worker ? no_worker(vs) : NULL;
	if (no) {
		char line[160];
		int n = snprintf(line, sizeof(line), "REFUSED %s\n", no);
		ssize_t w = send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
		pr_debug("vsock: worker refused: %s", no);
		vsock_conn_free(c, false);
		return;
	}
	c->worker = worker;
	if (worker)
		vs->worker_port = (uint32_t)port;
	c->local_port = host_port(vs, (uint32_t)port);
	c->peer_port = (uint32_t)port;
	c->state = C_CONNECTING;
	c->pend = PEND_REQUEST;
}

void vsock_worker_connect(struct vsock *vs, bool hold)
{
	int fd = vs->worker_fd;
	vs->worker_fd = -1;
	if (fd < 0)
		return;
	struct conn *c = vsock_conn_new(vs, fd, C_CONNECTING);
	if (!c) {
		pr_warn("vsock: %u connections open: the worker's socket is closed", MAX_CONNS);
		close(fd);
		return;
	}
	c->worker = true;
	c->peer_port = vs->worker_port;
	c->local_port = host_port(vs, c->peer_port);
	c->pend = hold ? 0 : PEND_REQUEST;
	vs->worker_waits_event = hold;
	vsock_conn_watch(c);
}

void vsock_worker_release(struct vsock *vs)
{
	vs->worker_waits_event = false;
	for (unsigned i = 0; i < vs->nconns; i++) {
		struct conn *c = &vs->conns[i];
		if (c->worker && c->state == C_CONNECTING)
			c->pend |= PEND_REQUEST;
	}
	vsock_flush_owed(vs);
	vsock_rx_interrupt(vs);
}

/* ---- the main loop's events ------------------------------------------------------------- */

void vsock_conn_event(struct watch *w, uint32_t events)
{
	struct conn *c = w->arg;
	struct vsock *vs = c->vs;
	pthread_mutex_lock(&vs->v.lock);
	if (c->fd != w->fd || c->state == C_FREE || c->state == C_RESET)
		goto out; /* closed since the event was taken */
	if (c->worker)
		vm_release_idle(vs->v.dev.vm); /* its program wrote (or hung up): the guest runs */
	if (c->state == C_LINE) {
		read_line(c, events);
	} else if (c->state == C_CONNECTING) {
		host_gone(c); /* the host program hung up before the guest answered */
	} else {
		if ((events & EPOLLOUT) && flush_buf(c) < 0)
			host_gone(c);
		if (c->state == C_ESTABLISHED && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			host_to_guest(c);
	}
	if (c->state != C_FREE)
		vsock_conn_watch(c);
	vsock_flush_owed(vs);
	vsock_rx_interrupt(vs);
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
		struct conn *c = frozen ? NULL : vsock_conn_new(vs, fd, C_LINE);
		if (!c) {
			pr_debug("vsock: host connection refused: %s",
				 frozen ? "a template's guest does not run"
					: "too many connections");
			close(fd);
			continue;
		}
		vsock_conn_watch(c);
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

int vsock_host_listen(struct vsock *vs, struct loop *l)
{
	if (vs->listener < 0 && uds_listen(vs) < 0)
		return -1;
	vs->lw = (struct watch){.fd = vs->listener, .fn = listener_event, .arg = vs};
	return loop_add(l, &vs->lw, EPOLLIN);
}
