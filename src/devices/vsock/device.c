/* virtio-vsock, the virtio device: its transmit queue (the guest's packets, every check of
 * them in handle_packet) and event queue (the transport reset), its virtio ops and clone
 * hooks, and the --vsock option that adds it (the receive queue is rx.c's). The model, the
 * threads, the credit and clones are told in vsock.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/vcpu.h"
#include "core/vm.h"
#include "devices/devices.h"
#include "devices/virtio.h"
#include "devices/vsock/vsock.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"

#define VIRTIO_ID_VSOCK 19u
#define EVENT_TRANSPORT_RESET 0u

/* ---- from the guest: the transmit queue ------------------------------------------------- */

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
	struct conn *c = vsock_conn_find(vs, h.dst_port, h.src_port);
	if (h.dst_cid != HOST_CID || h.type != TYPE_STREAM) {
		/* Nothing but the host's stream sockets is reachable here. */
		if (c && c->state != C_RESET)
			vsock_conn_reset(c);
		else if (!c)
			vsock_owe_orphan_rst(vs, &h);
		return;
	}
	if (h.op == OP_REQUEST) {
		if (c && c->state != C_RESET)
			vsock_conn_reset(c); /* a second request on a live connection */
		else if (!c)
			vsock_guest_connect(vs, &h);
		return;
	}
	if (!c) {
		vsock_owe_orphan_rst(vs, &h);
		return;
	}
	if (c->state == C_RESET) {
		if (h.op == OP_RST)
			vsock_conn_free(c, false); /* both sides reset it: nothing owed */
		return;
	}
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	switch (h.op) {
	case OP_RESPONSE:
		if (c->state != C_CONNECTING || vsock_host_answer(c) < 0) {
			vsock_conn_reset(c);
			return;
		}
		c->state = C_ESTABLISHED;
		if (c->worker) /* READY: the guest only waits for the next invocation now */
			vm_hold_idle(vs->v.dev.vm);
		break;
	case OP_RW:
		if (c->state != C_ESTABLISHED || c->guest_shut_send) {
			vsock_conn_reset(c);
			return;
		}
		vsock_guest_to_host(c, e, h.len);
		break;
	case OP_SHUTDOWN:
		if (c->state != C_ESTABLISHED) {
			vsock_conn_reset(c);
			return;
		}
		c->guest_shut_rcv |= !!(h.flags & SHUTDOWN_RCV);
		c->guest_shut_send |= !!(h.flags & SHUTDOWN_SEND);
		vsock_maybe_finish(c);
		break;
	case OP_RST:
		vsock_conn_free(c, false);
		return;
	case OP_CREDIT_UPDATE:
		break;
	case OP_CREDIT_REQUEST:
		c->pend |= PEND_CREDIT;
		break;
	default:
		vsock_conn_reset(c);
		return;
	}
	vsock_conn_watch(c); /* the guest's credit may have opened */
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
	vsock_flush_owed(vs);
	vsock_rx_interrupt(vs);
}

/* ---- the event queue -------------------------------------------------------------------- */

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

/* ---- the worker ------------------------------------------------------------------------- */

/* The worker's socket closes (a fork, the device's own reset, its end). Lock held, or no
 * other thread runs. */
static void worker_close(struct vsock *vs)
{
	for (unsigned i = 0; i < vs->nconns; i++)
		vs->conns[i].worker = false;
	if (vs->worker_fd >= 0)
		close(vs->worker_fd);
	vs->worker_fd = -1;
	vs->worker_waits_event = false;
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
		else if (vs->worker_waits_event)
			vsock_worker_release(vs); /* the guest took its transport reset */
	} else if (vs->rx_stalled && vs->attached) {
		/* New receive buffers: what was waiting can flow again. */
		vs->rx_stalled = false;
		vsock_flush_owed(vs);
		for (unsigned i = 0; i < vs->nconns; i++)
			vsock_conn_watch(&vs->conns[i]);
		vsock_rx_interrupt(vs);
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
	worker_close(vs);
	vsock_conns_drop_all(vs, false);
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
	worker_close(vs);
	vs->event_at_start = vsock_conns_drop_all(vs, false) > 0;
	if (vs->event_at_start)
		transport_reset(vs);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static int vsock_post_fork(struct virtio_dev *v)
{
	struct vsock *vs = v->owner;
	/* The socket and the loop are the parent's; the clone gets its own in attach. */
	worker_close(vs);
	vsock_conns_drop_all(vs, true);
	if (vs->listener >= 0)
		close(vs->listener);
	vs->listener = -1;
	vs->own_path = false;
	vs->renamed = true;
	vs->loop = NULL;
	vs->attached = false;
	vs->rx_stalled = false;
	vs->rx_pushed = 0;
	vs->start_event_owed = vs->event_owed;
	return 0;
}

/* A reset: the guest's connections are the template's again (none: it was told of a
 * transport reset, or will be), so every host connection of since ends (its host side
 * sees the end of the stream); the listener stays, and a worker's socket, which connects
 * to its port again. Then what the guest's queue holds, as at the clone's start. Lock
 * held. */
static int vsock_rewind(struct virtio_dev *v)
{
	struct vsock *vs = v->owner;
	vs->rewinding = true; /* (a worker's connection ending keeps its socket, asks nothing) */
	vsock_conns_drop_all(vs, false);
	vs->rewinding = false;
	vs->rx_stalled = false;
	vs->rx_pushed = 0;
	vs->event_owed = vs->start_event_owed;
	if (vs->cid_per_clone)
		transport_reset(vs); /* the guest rereads its CID: the clone's, not the template's */
	/* A transport reset the guest has yet to take would drop the worker's connection. */
	vsock_worker_connect(vs, vs->event_at_start || vs->event_owed || vs->cid_per_clone);
	if (vs->attached)
		transmit(vs);
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
	if (vsock_host_listen(vs, l) < 0)
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
	worker_close(vs);
	vsock_conns_drop_all(vs, !vs->loop);
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
    .rewind = vsock_rewind,
};

/* --vsock CID[,uds=PATH][,cid-per-clone] */
struct vsock_arg {
	uint64_t cid;
	bool cid_per_clone;
	char path[SUN_PATH_SIZE]; /* "": RUN_DIR/NAME.vsock */
	char dir[SUN_PATH_SIZE];  /* path's directory, where the host side listens and connects */
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
	if (a.path[0]) {
		char *slash = strrchr(a.path, '/');
		if (slash && slash != a.path)
			memcpy(a.dir, a.path, (size_t)(slash - a.path));
		else
			strcpy(a.dir, slash ? "/" : ".");
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
	vs->worker_fd = -1;
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

/* The directory of a socket path given (RUN_DIR's is the VM's own anyway). */
static void vsock_host_paths(const void *parsed, device_path_fn add, void *ctx)
{
	const struct vsock_arg *a = parsed;
	if (a->dir[0])
		add(ctx, a->dir, DEV_PATH_WRITABLE);
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
	"                    at a fork are reset in both VMs. A resettable clone's\n"
	"                    worker writes \"WORKER P\\n\" instead: told \"READY <clone>\\n\",\n"
	"                    the VM is reset each time the guest ends the connection\n",
    .max = 1,
    .linux_only = true,
    .parse = vsock_parse,
    .add = virtio_vsock_add,
    .host_paths = vsock_host_paths,
};
