/* virtio-vsock (virtio 1.x, device 19): stream sockets between the guest and host
 * programs, on Firecracker's hybrid model, so the tools made for it work unchanged.
 *
 * - host -> guest: a host program connects to the VM's Unix socket PATH, writes
 *   "CONNECT <port>\n" and, once the guest's listener on <port> accepts, reads
 *   "OK <hostport>\n"; the socket is then a byte stream to the guest. Nobody listening in
 *   the guest: the socket is closed without an answer.
 * - a worker (a resettable clone: vm->resettable): a host program writes "WORKER <port>\n"
 *   instead and is told "READY <clone id>\n" once the guest accepted, then exchanges bytes
 *   with the guest as after CONNECT. When the guest ends that connection (its answer is
 *   all out), the host socket stays open: the VM goes back to its start (vm_ask_reset),
 *   the device connects to <port> again and says "READY <new clone id>\n" on the same
 *   socket. "REFUSED <why>\n" (and the socket closed) where the VM cannot be reset or has
 *   a worker already; a worker that hangs up gets its VM reset too.
 * - guest -> host: a guest connecting to CID 2 port P reaches the Unix listener at
 *   "PATH_P"; none there: the guest's connect is reset.
 *
 * Flow control is virtio-vsock's credit: the guest may have at most HOST_BUF bytes of a
 * connection's stream that the host program has not taken yet (they wait in a buffer of
 * that size); the device sends it no more than the guest said it can hold. A guest that
 * sends past its credit, or a packet that breaks the rules of a connection, gets that
 * connection reset; a header that does not fit its buffers marks the device
 * DEVICE_NEEDS_RESET. Every check of what the guest hands over is in handle_packet
 * (device.c).
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
 * CID unless the VM was started with cid-per-clone (clone N gets CID + N).
 *
 * The device's files, each calling only those before it: conn.c keeps the connection
 * table, the credit and what is owed to the guest; rx.c fills the receive queue; host.c is
 * the host's side (the Unix sockets, on the main loop); device.c is the virtio device (its
 * transmit and event queues, ops and clone hooks) and the --vsock option. This header
 * is theirs alone: the rest of the VMM knows the device by virtio_vsock_option
 * (devices/devices.h). Unless a contract says otherwise, its functions run under the
 * transport's lock (vs->v.lock). */
#ifndef HF_DEVICES_VSOCK_H
#define HF_DEVICES_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio.h"
#include "util/loop.h"
#include "util/sock.h"

#define HOST_CID 2u      /* the host's address, where the guest's packets go */
#define TYPE_STREAM 1u   /* the only socket type there is */
#define RXQ 0u
#define TXQ 1u
#define EVQ 2u

#define HDR_LEN 44u	       /* struct virtio_vsock_hdr */
#define PKT_MAX 65536u	       /* largest payload of one packet */
#define HOST_BUF (256u * 1024) /* our buf_alloc: guest bytes a connection may have waiting */
#define MAX_CONNS 256u
#define MAX_ORPHAN_RSTS 64u
#define LINE_MAX_LEN 32u /* "CONNECT 4294967295\n" and some room */

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
	bool worker;   /* a worker's: the host socket outlives the connection (see above) */
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
	bool start_event_owed; /* ... as the clone started (post_fork), for a reset */
	unsigned rx_pushed; /* receive buffers used since the last interrupt */
	/* The worker: its host socket while its VM is reset (-1: none, or in a connection),
	 * the guest port it connects to, and whether its REQUEST waits for the guest to have
	 * taken a transport reset (it returns the event buffer) so that it is not dropped. */
	int worker_fd;
	uint32_t worker_port;
	bool worker_waits_event;
	bool event_at_start; /* the template gave its guest a transport reset as it froze */
	bool rewinding;	     /* a reset under way: a worker's connection ending asks none */
	uint32_t next_port;
	unsigned nconns; /* slots in use are below this */
	struct conn *conns;
	unsigned norphans; /* RSTs owed for packets of no connection */
	struct {
		uint32_t src_port, dst_port;
	} orphans[MAX_ORPHAN_RSTS];
};

/* ---- conn.c: the connection table, the credit, what is owed ----------------------------- */

/* The bytes the guest can still take on c: the room it last told us of, less what we sent
 * since (0 if it said less than we have in flight). */
uint32_t vsock_peer_credit(const struct conn *c);
/* Register c's fd for what it waits for now, or take it off the loop (nothing if c has no
 * socket or the device no loop yet). */
void vsock_conn_watch(struct conn *c);
/* Make a free slot of the table a connection in state with host socket fd (not yet on the
 * loop: vsock_conn_watch puts it there). Returns it, or NULL if MAX_CONNS are in use (fd is
 * the caller's still). */
struct conn *vsock_conn_new(struct vsock *vs, int fd, enum conn_state state);
/* The connection of host port local_port and guest port peer_port (one that has its ports:
 * not free, not waiting for its CONNECT line), or NULL. */
struct conn *vsock_conn_find(struct vsock *vs, uint32_t local_port, uint32_t peer_port);
/* Close c's host socket (off the loop first unless forget: in a fork child the loop is the
 * parent's) and free its slot, owing the guest nothing. A worker's socket is kept
 * (vs->worker_fd) and its VM asked to reset instead (unless forget, or a reset runs). */
void vsock_conn_free(struct conn *c, bool forget);
/* Close c's host side and owe the guest a reset of the connection. */
void vsock_conn_reset(struct conn *c);
/* Close every connection, telling nobody (the guest learns it from a transport reset), and
 * forget the resets owed for packets of no connection; forget as for vsock_conn_free.
 * Returns how many connections there were. Lock held, or no other thread runs (a fork
 * child, destroy). */
unsigned vsock_conns_drop_all(struct vsock *vs, bool forget);
/* The host side of c went away or broke: if c was a worker's, its socket is not kept (it
 * closes with c) and its VM is asked to reset, so that nothing of it stays. */
void vsock_worker_lost(struct conn *c);
/* Owe the guest a reset for its packet h, of no connection (never for a reset; at most
 * MAX_ORPHAN_RSTS are owed: past them, one is dropped). */
void vsock_owe_orphan_rst(struct vsock *vs, const struct vsock_hdr *h);
/* Tell the guest its credit grew once a good part of our buffer is free again. */
void vsock_maybe_credit(struct conn *c);
/* Once the host has all the guest sent: pass the guest's end of stream on, and reset a
 * connection over in both directions (the peer that sees the last shutdown resets). */
void vsock_maybe_finish(struct conn *c);

/* ---- host.c: the host's side, on the main loop ------------------------------------------ */

/* Main loop: the watch function of every connection's host socket. Takes the lock. */
void vsock_conn_event(struct watch *w, uint32_t events);
/* Listen on vs->path unless vs already has a listener (a socket file left by a VM that is
 * gone is replaced) and watch the listener on l. Returns 0 or -1 (logged). Lock not
 * held. */
int vsock_host_listen(struct vsock *vs, struct loop *l);
/* Answer the host program of c, whose connect the guest accepted: "OK <local port>\n".
 * Returns 0, or -1 if its socket did not take the whole line. */
int vsock_host_answer(struct conn *c);
/* Stream bytes from the guest (the len bytes after e's header) to the host socket; what
 * it does not take now waits in the connection's buffer. Past the guest's credit, or with
 * the host program gone, the connection is reset. */
void vsock_guest_to_host(struct conn *c, const struct virtq_elem *e, uint32_t len);
/* The guest connects to host port h->dst_port: the listener at PATH_port. Connected: a
 * new connection, its RESPONSE owed; else a reset owed. */
void vsock_guest_connect(struct vsock *vs, const struct vsock_hdr *h);

/* After a reset (vs->rewinding): the worker's kept socket (vs->worker_fd) becomes a
 * connection to its port again, whose REQUEST is owed now or, if hold (a transport reset
 * is on its way to the guest and would drop it), once vsock_worker_release says so. */
void vsock_worker_connect(struct vsock *vs, bool hold);
/* The guest took its transport reset (it gave the event buffer back): the held worker's
 * REQUEST goes out. */
void vsock_worker_release(struct vsock *vs);

/* ---- rx.c: the receive queue ------------------------------------------------------------ */

/* Take a receive buffer; false if the guest has none (the queue stalls) or gave one too
 * small for a header and data (the device needs a reset). */
bool vsock_rx_take(struct vsock *vs, struct virtq_elem *e);
/* Fill the header of e, a buffer vsock_rx_take gave, with op, flags and len (the payload's
 * bytes, already after the header) for connection c (NULL: no ports or credit told) and
 * hand it to the guest; the interrupt waits for vsock_rx_interrupt. A packet of c tells
 * the guest our credit: c owes no CREDIT_UPDATE after it. */
void vsock_rx_put(struct vsock *vs, struct virtq_elem *e, struct conn *c, uint16_t op,
		  uint32_t flags, uint32_t len);
/* Send what the guest is owed, as far as it has buffers: resets of no connection, then
 * each connection's control packets. */
void vsock_flush_owed(struct vsock *vs);
/* Interrupt the guest if receive buffers were used since the last interrupt. */
void vsock_rx_interrupt(struct vsock *vs);

#endif
