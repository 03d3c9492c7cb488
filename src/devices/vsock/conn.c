/* virtio-vsock's connections: the fixed table of them, the credit that paces each one
 * (which host socket events it waits for), and what is owed to the guest (control packets
 * and resets, sent by the receive queue as buffers allow). */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/vcpu.h"
#include "core/vm.h"
#include "devices/vsock/vsock.h"
#include "util/log.h"

uint32_t vsock_peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

void vsock_conn_watch(struct conn *c)
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
		if (!c->host_eof && !c->guest_shut_rcv && !vs->rx_stalled && vsock_peer_credit(c) &&
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

struct conn *vsock_conn_new(struct vsock *vs, int fd, enum conn_state state)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &vs->conns[i];
		if (c->state != C_FREE)
			continue;
		*c = (struct conn){.state = state, .fd = fd, .vs = vs};
		c->w = (struct watch){.fd = fd, .fn = vsock_conn_event, .arg = c};
		if (i >= vs->nconns)
			vs->nconns = i + 1;
		return c;
	}
	return NULL;
}

struct conn *vsock_conn_find(struct vsock *vs, uint32_t local_port, uint32_t peer_port)
{
	for (unsigned i = 0; i < vs->nconns; i++) {
		struct conn *c = &vs->conns[i];
		if (c->state != C_FREE && c->state != C_LINE && c->local_port == local_port &&
		    c->peer_port == peer_port)
			return c;
	}
	return NULL;
}

/* A worker's connection ends (not its host side): its socket waits, off the loop, for the
 * VM's reset to connect again (vsock_rewind), which is asked unless it runs already. */
static void worker_keep(struct conn *c)
{
	struct vsock *vs = c->vs;
	c->worker = false;
	if (c->watched)
		loop_del(vs->loop, &c->w);
	c->watched = 0;
	if (vs->worker_fd >= 0)
		close(vs->worker_fd); /* (one worker per VM: never two) */
	vs->worker_fd = c->fd;
	c->fd = -1;
	if (!vs->rewinding)
		vm_ask_reset(vs->v.dev.vm);
}

void vsock_worker_lost(struct conn *c)
{
	if (!c->worker)
		return;
	c->worker = false;
	if (!c->vs->rewinding)
		vm_ask_reset(c->vs->v.dev.vm);
}

/* Let go of c's host socket (off the loop first unless forget: in a fork child the loop is
 * the parent's, and a worker's socket is closed too). */
static void conn_drop_fd(struct conn *c, bool forget)
{
	if (c->worker && c->fd >= 0 && !forget)
		worker_keep(c);
	c->worker = false;
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

void vsock_conn_free(struct conn *c, bool forget)
{
	conn_drop_fd(c, forget);
	c->state = C_FREE;
	c->pend = 0;
}

void vsock_conn_reset(struct conn *c)
{
	conn_drop_fd(c, false);
	c->state = C_RESET;
	c->pend = PEND_RST;
}

unsigned vsock_conns_drop_all(struct vsock *vs, bool forget)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vs->nconns; i++) {
		if (vs->conns[i].state != C_FREE) {
			vsock_conn_free(&vs->conns[i], forget);
			n++;
		}
	}
	vs->nconns = 0;
	vs->norphans = 0;
	return n;
}

void vsock_owe_orphan_rst(struct vsock *vs, const struct vsock_hdr *h)
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

void vsock_maybe_credit(struct conn *c)
{
	if (c->fwd_cnt - c->fwd_told >= HOST_BUF / 4)
		c->pend |= PEND_CREDIT;
}

void vsock_maybe_finish(struct conn *c)
{
	if (c->buf_len || !c->guest_shut_send)
		return;
	if (c->worker) { /* the answer is all out: the VM goes back to its start */
		vsock_conn_reset(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	if (c->guest_shut_rcv || c->host_eof)
		vsock_conn_reset(c);
}
