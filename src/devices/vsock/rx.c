/* virtio-vsock, to the guest: the receive queue, which carries what is owed to the guest
 * (control packets of connections, resets of packets of no connection) and the host
 * programs' streams (host.c), and its interrupt. */
#include "devices/virtio.h"
#include "devices/vsock/vsock.h"

bool vsock_rx_take(struct vsock *vs, struct virtq_elem *e)
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

void vsock_rx_put(struct vsock *vs, struct virtq_elem *e, struct conn *c, uint16_t op,
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

void vsock_flush_owed(struct vsock *vs)
{
	struct virtq_elem e;
	while (vs->norphans && vsock_rx_take(vs, &e)) {
		vs->norphans--;
		struct conn o = {.local_port = vs->orphans[vs->norphans].src_port,
				 .peer_port = vs->orphans[vs->norphans].dst_port};
		vsock_rx_put(vs, &e, &o, OP_RST, 0, 0);
	}
	for (unsigned i = 0; i < vs->nconns; i++) {
		struct conn *c = &vs->conns[i];
		while (c->pend && vsock_rx_take(vs, &e)) {
			if (c->pend & PEND_RST) {
				vsock_rx_put(vs, &e, c, OP_RST, 0, 0);
				vsock_conn_free(c, false);
			} else if (c->pend & (PEND_REQUEST | PEND_RESPONSE)) {
				uint16_t op = c->pend & PEND_REQUEST ? OP_REQUEST : OP_RESPONSE;
				c->pend &= ~(PEND_REQUEST | PEND_RESPONSE);
				vsock_rx_put(vs, &e, c, op, 0, 0);
			} else if (c->pend & PEND_SHUTDOWN) {
				c->pend &= ~PEND_SHUTDOWN;
				vsock_rx_put(vs, &e, c, OP_SHUTDOWN, SHUTDOWN_SEND, 0);
			} else {
				vsock_rx_put(vs, &e, c, OP_CREDIT_UPDATE, 0, 0);
			}
		}
		if (c->pend)
			return; /* no more buffers */
	}
}

void vsock_rx_interrupt(struct vsock *vs)
{
	if (vs->rx_pushed)
		virtio_notify_used(&vs->v, RXQ);
	vs->rx_pushed = 0;
}
