/* The function device (--function): a bare guest serves invocations, as an AWS Lambda
 * runtime does, over the function ports of include/hyperfork/abi.h (HF_PORT_NEXT,
 * HF_PORT_RESPOND, HF_PORT_FAIL).
 *
 * Host side: a Unix socket RUN_DIR/NAME.fn, one connection at a time (others wait in its
 * backlog), speaking the exchange of include/hyperfork/lambda.h without its CONNECT line:
 * the client writes "INVOKE ..." with its client context and payload, and reads one
 * answer. The INVOKE is read on the main loop as its bytes come (never blocking on a
 * client that stalls); the answer is written from the vCPU that gives it as far as the
 * socket takes it, the rest on the main loop.
 *
 * An invocation's life: READING (its INVOKE arrives) -> HELD (complete, waiting for the
 * guest's HF_PORT_NEXT; a vCPU already waiting there gets it at once) -> TAKEN (the guest
 * has it in its RAM) -> SENDING (the answer goes out) -> IDLE (connection closed, the next
 * one accepted). A client that hangs up while HELD loses its invocation (the guest never
 * sees it); while TAKEN, the guest's answer is later dropped quietly.
 *
 * A worker: a client whose first line is "WORKER" keeps its connection for invocation
 * after invocation, each in the VM's start state. Where the VM can be reset (a clone of a
 * --reusable template: vm->resettable) it is told "READY <clone id>\n"; else "REFUSED
 * <why>\n" and the connection ends. After each answer is out, the device asks for a reset
 * (vm_ask_reset; phase RESETTING, the guest may not answer again) which the main loop
 * does; the reset hook then says "READY <new clone id>\n" and reads the next INVOKE (one
 * sent ahead waits for it). A worker that leaves gets its VM reset all the same, and no one
 * else is let in before.
 *
 * Threads: the ports run on vCPU threads, the socket events on the main loop, both under
 * the device's lock (a vCPU waiting for an invocation: vcpu_wait). Every check of what the guest
 * hands over is in the port handlers below (port_next, port_respond, port_fail); a guest
 * that breaks the rules ends with vcpu_guest_error.
 *
 * Across a clone: the clone drops the parent's connection and listener (an invocation the
 * parent's guest had taken stays taken in the clone, answered into the void); at attach it
 * listens on its own RUN_DIR/NAME.N.fn, before it is reported ready. A vCPU waiting in
 * HF_PORT_NEXT at the fork waits in each VM for that VM's own invocation. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/loop.h"
#include "core/vcpu.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "hyperfork/lambda.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"
#include "util/util.h"

_Static_assert(HF_FN_PAYLOAD_MAX == HF_LAMBDA_MAX_PAYLOAD, "abi.h and lambda.h agree");

#define FLUSH_MS 2000 /* an answer in flight when the VM ends */

enum phase { P_IDLE, P_READING, P_HELD, P_TAKEN, P_SENDING, P_RESETTING };

struct fn {
	struct device dev;
	struct vm *vm;
	pthread_mutex_t lock;
	char path[SUN_PATH_SIZE];
	int listener;  /* -1: none (a clone before attach) */
	bool own_path; /* we bound path: unlink it when done */
	struct loop *loop;
	struct watch lw, cw;
	bool lw_on, cw_on; /* registered on loop */
	uint32_t cw_events;
	enum phase phase;
	int conn; /* the client's socket, -1: none (or gone while TAKEN) */
	bool worker; /* it said WORKER: it stays, and the VM is reset after each answer */
	bool unwanted; /* RESETTING: the guest has an invocation whose worker left */
	char in[4096]; /* what the client sent, read ahead: in[in_off..in_len) not used yet */
	size_t in_len, in_off;
	/* READING and HELD: the invocation */
	char line[HF_LAMBDA_LINE_MAX];
	unsigned line_len;
	uint64_t ctx_left; /* client context bytes still to skip (not given to the guest) */
	uint8_t *payload;
	size_t payload_len, payload_got;
	char request_id[HF_FN_REQUEST_ID_MAX];
	uint64_t deadline_ms;
	/* the guest's side */
	struct vcpu *waiter; /* waiting in HF_PORT_NEXT, or NULL */
	uint32_t want;	     /* its struct hf_invocation */
	uint64_t want_buf, want_cap;
	bool taken_any; /* this VM (or the one it was cloned from) took an invocation */
	struct { /* the clone's state when it started (post_fork), for a reset */
		enum phase phase;
		bool taken_any;
		char request_id[HF_FN_REQUEST_ID_MAX];
	} start;
	/* SENDING */
	uint8_t *out;
	size_t out_len, out_sent;
};

static void conn_event(struct watch *w, uint32_t events);
static void listener_event(struct watch *w, uint32_t events);

/* ---- connection ---------------------------------------------------------------------------- */

/* Register the listener and the connection for what the phase waits for. Lock held. */
static void fn_watch(struct fn *f)
{
	if (!f->loop)
		return;
	bool listen_on = f->phase == P_IDLE && f->listener >= 0;
	if (listen_on != f->lw_on) {
		if (listen_on)
			f->lw_on = loop_add(f->loop, &f->lw, EPOLLIN) == 0;
		else {
			loop_del(f->loop, &f->lw);
			f->lw_on = false;
		}
	}
	if (f->conn < 0)
		return;
	/* HELD and TAKEN: only a hang-up (EPOLLHUP, always reported) matters; a client that
	 * merely shut its sending side still gets its answer. */
	uint32_t ev = f->phase == P_READING ? EPOLLIN : f->phase == P_SENDING ? EPOLLOUT : 0;
	if (f->cw_on && ev == f->cw_events)
		return;
	f->cw = (struct watch){.fd = f->conn, .fn = conn_event, .arg = f};
	if ((f->cw_on ? loop_mod : loop_add)(f->loop, &f->cw, ev) == 0) {
		f->cw_on = true;
		f->cw_events = ev;
	}
}

static void drop_invocation(struct fn *f)
{
	free(f->payload);
	f->payload = NULL;
	free(f->out);
	f->out = NULL;
	f->payload_len = f->payload_got = f->out_len = f->out_sent = 0;
}

/* Close the client's socket (if any) and, unless keep_phase, end the invocation: the
 * listener takes the next client. Lock held. */
static void conn_close(struct fn *f, bool keep_phase)
{
	if (f->conn >= 0) {
		if (f->cw_on && f->loop)
			loop_del(f->loop, &f->cw);
		close(f->conn);
	}
	f->conn = -1;
	f->cw_on = false;
	f->in_len = f->in_off = 0;
	if (f->worker) { /* what its last invocation left goes, whoever comes next */
		f->worker = false;
		if (!f->vm->exiting) {
			keep_phase = true;
			f->unwanted = f->phase == P_TAKEN;
			drop_invocation(f);
			f->phase = P_RESETTING;
			vm_ask_reset(f->vm);
		}
	}
	if (!keep_phase) {
		drop_invocation(f);
		f->phase = P_IDLE;
	}
	fn_watch(f);
}

/* Write what is left of the answer; done: a worker's VM goes back to its start (READY then,
 * fn_reset), another client's connection is closed. Lock held. */
static void send_answer(struct fn *f)
{
	while (f->out_sent < f->out_len) {
		ssize_t n = send(f->conn, f->out + f->out_sent, f->out_len - f->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			fn_watch(f); /* the rest when the client reads */
			return;
		}
		if (n <= 0) {
			pr_debug("function: answer to %s not delivered: %s", f->request_id,
				 n < 0 ? strerror(errno) : "connection closed");
			break;
		}
		f->out_sent += (size_t)n;
	}
	if (f->worker && f->out_sent == f->out_len) {
		drop_invocation(f);
		f->phase = P_RESETTING;
		fn_watch(f);
		vm_ask_reset(f->vm);
		return;
	}
	conn_close(f, false);
}

/* Answer the invocation on the client's socket: "KIND <len>[ <type>]\n" and body. Lock
 * held. */
static void answer(struct fn *f, const char *kind, const char *type, const void *body,
		   size_t len)
{
	char head[HF_LAMBDA_LINE_MAX];
	int n = type ? snprintf(head, sizeof(head), "%s %zu %s\n", kind, len, type)
		     : snprintf(head, sizeof(head), "%s %zu\n", kind, len);
	drop_invocation(f);
	f->out = malloc((size_t)n + len);
	if (!f->out) {
		pr_err("function: out of memory for an answer of %zu bytes", len);
		conn_close(f, false);
		return;
	}
	memcpy(f->out, head, (size_t)n);
	memcpy(f->out + n, body, len);
	f->out_len = (size_t)n + len;
	f->phase = P_SENDING;
	send_answer(f);
}

/* Give the held invocation to the guest vCPU waiting for it (f->want, checked when it
 * asked). Lock held. */
static void deliver(struct fn *f)
{
	uint64_t now_ms = wall_us() / 1000;
	uint64_t left = f->deadline_ms > now_ms ? f->deadline_ms - now_ms : 0;
	struct hf_invocation out = {.len = f->payload_len,
				    .deadline_ms = f->deadline_ms,
				    .left_ms = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left};
	memcpy(out.request_id, f->request_id, sizeof(out.request_id));
	if (f->payload_len > f->want_cap) {
		out.status = HF_NEXT_TOO_LARGE; /* held for a next call with room */
	} else {
		void *buf = mem_ptr(&f->vm->mem, f->want_buf, f->payload_len);
		memcpy(buf, f->payload, f->payload_len);
		mem_note_write(&f->vm->mem, buf, f->payload_len);
		out.status = HF_NEXT_OK;
		free(f->payload);
		f->payload = NULL;
		f->phase = P_TAKEN;
		f->taken_any = true;
	}
	/* The out fields only: buf and cap are the guest's. */
	size_t from = offsetof(struct hf_invocation, len);
	uint8_t *inv = (uint8_t *)mem_ptr(&f->vm->mem, f->want, sizeof(out)) + from;
	memcpy(inv, (uint8_t *)&out + from, sizeof(out) - from);
	mem_note_write(&f->vm->mem, inv, sizeof(out) - from);
	if (f->waiter) {
		vcpu_wake(f->waiter);
		f->waiter = NULL;
	}
	fn_watch(f);
}

/* "INVOKE <id> <deadline-ms> <arn> <trace> <ctx-len> <payload-len> <host-time-us>" into f
 * (a bare guest has no wall clock to set by the host's time: checked, not kept). Returns 0,
 * or -1 with why. */
static int parse_invoke(struct fn *f, char *line, const char **why)
{
	char *field[9];
	unsigned n = 0;
	for (char *p = line; n < 9;) {
		field[n++] = p;
		char *sp = strchr(p, ' ');
		if (!sp)
			break;
		*sp = 0;
		p = sp + 1;
	}
	if (n != 8 || strcmp(field[0], "INVOKE")) {
		*why = "not INVOKE with 7 fields";
		return -1;
	}
	for (unsigned i = 1; i < 8; i++) {
		if (!field[i][0]) {
			*why = "an empty field";
			return -1;
		}
		for (const char *c = field[i]; *c; c++)
			if (*c < 0x21 || *c > 0x7e) {
				*why = "a field with a byte that is not visible ASCII";
				return -1;
			}
	}
	uint64_t ctx, len, host_time;
	if (strlen(field[1]) >= sizeof(f->request_id)) {
		*why = "a request id of 40 bytes or more";
		return -1;
	}
	if (parse_uint(field[2], UINT64_MAX, &f->deadline_ms) < 0 ||
	    parse_uint(field[5], HF_LAMBDA_MAX_PAYLOAD, &ctx) < 0 ||
	    parse_uint(field[6], HF_LAMBDA_MAX_PAYLOAD, &len) < 0 ||
	    parse_uint(field[7], UINT64_MAX, &host_time) < 0) {
		*why = "a deadline, length or time that is not a number, or a length over 6 MiB";
		return -1;
	}
	snprintf(f->request_id, sizeof(f->request_id), "%s", field[1]);
	f->ctx_left = ctx;
	f->payload_len = (size_t)len;
	f->payload_got = 0;
	f->payload = malloc(len ? len : 1);
	if (!f->payload) {
		*why = "out of memory for its payload";
		return -1;
	}
	return 0;
}

/* "READY <clone id>" to a worker: its VM waits for an invocation. Returns 0, or -1 if the
 * line did not go out whole (a client that reads nothing). Lock held. */
static int say_ready(struct fn *f)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "READY %u\n", f->vm->clone_id);
	return send(f->conn, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n ? 0 : -1;
}

/* "WORKER": the connection stays, and the VM goes back to its start after each answer.
 * Returns 0 (READY said), or -1 with why (REFUSED said). Lock held. */
static int become_worker(struct fn *f, const char **why)
{
	const char *no = f->worker		? "this connection is a worker's already"
			 : !f->vm->resettable	? "this VM cannot be reset (a clone of a template "
						  "started with --reusable can)"
			 : f->start.phase != P_IDLE ? "this clone started with its parent's invocation"
			 : bus_reset_refusal(&f->vm->bus);
	if (no) {
		char line[HF_LAMBDA_LINE_MAX];
		int n = snprintf(line, sizeof(line), "REFUSED %s\n", no);
		ssize_t w = send(f->conn, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
		*why = no;
		return -1;
	}
	f->worker = true;
	if (say_ready(f) < 0) {
		*why = "it does not read";
		return -1;
	}
	return 0;
}

/* Up to len bytes the client sent into buf, what was read ahead first. Returns the bytes,
 * 0 at its end, -1 with errno. Lock held. */
static ssize_t conn_read(struct fn *f, void *buf, size_t len)
{
	if (f->in_off == f->in_len) {
		if (len >= sizeof(f->in))
			return read(f->conn, buf, len); /* a large payload: straight in */
		ssize_t r = read(f->conn, f->in, sizeof(f->in));
		if (r <= 0)
			return r;
		f->in_len = (size_t)r;
		f->in_off = 0;
	}
	size_t n = f->in_len - f->in_off < len ? f->in_len - f->in_off : len;
	memcpy(buf, f->in + f->in_off, n);
	f->in_off += n;
	return (ssize_t)n;
}

/* Read what the client has sent of its INVOKE (a worker's WORKER line first). Returns 1
 * once whole, 0 for more to come, -1 to close the connection. Lock held. */
static int read_invoke(struct fn *f)
{
	const char *why = NULL;
	ssize_t r;
	while (!f->payload) { /* the line */
		if (f->in_off == f->in_len) {
			r = read(f->conn, f->in, sizeof(f->in));
			if (r <= 0)
				goto ended;
			f->in_len = (size_t)r;
			f->in_off = 0;
		}
		char *from = f->in + f->in_off, *nl = memchr(from, '\n', f->in_len - f->in_off);
		size_t take = nl ? (size_t)(nl - from) : f->in_len - f->in_off;
		if (f->line_len + take > sizeof(f->line) - 1) {
			why = "a line longer than 512 bytes";
			goto bad;
		}
		memcpy(f->line + f->line_len, from, take);
		f->line_len += (unsigned)take;
		f->in_off += take + (nl != NULL);
		if (!nl)
			continue;
		f->line[f->line_len] = 0;
		f->line_len = 0;
		if (!strcmp(f->line, "WORKER") ? become_worker(f, &why) < 0
					       : parse_invoke(f, f->line, &why) < 0)
			goto bad;
	}
	while (f->ctx_left) {
		char skip[4096];
		r = conn_read(f, skip, f->ctx_left < sizeof(skip) ? f->ctx_left : sizeof(skip));
		if (r <= 0)
			goto ended;
		f->ctx_left -= (uint64_t)r;
	}
	while (f->payload_got < f->payload_len) {
		r = conn_read(f, f->payload + f->payload_got, f->payload_len - f->payload_got);
		if (r <= 0)
			goto ended;
		f->payload_got += (size_t)r;
	}
	return 1;
ended:
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	why = r == 0 ? "it hung up before the end of its invocation" : strerror(errno);
bad:
	pr_debug("function: client closed: %s", why);
	return -1;
}

/* READING: what the client sent so far. Lock held. */
static void reading(struct fn *f)
{
	switch (read_invoke(f)) {
	case 1:
		f->phase = P_HELD;
		if (f->waiter)
			deliver(f);
		else
			fn_watch(f);
		break;
	case -1:
		conn_close(f, false);
	}
}

static void conn_event(struct watch *w, uint32_t events)
{
	struct fn *f = w->arg;
	pthread_mutex_lock(&f->lock);
	if (f->conn != w->fd)
		goto out; /* closed since the event was taken */
	switch (f->phase) {
	case P_READING:
		reading(f);
		break;
	case P_HELD:
	case P_TAKEN:
		if (events & (EPOLLHUP | EPOLLERR)) {
			pr_debug("function: the client of %s hung up%s", f->request_id,
				 f->phase == P_HELD ? " before the guest took it"
						    : ": its answer will be dropped");
			conn_close(f, f->phase == P_TAKEN);
		}
		break;
	case P_SENDING:
		send_answer(f);
		break;
	case P_RESETTING: /* a worker gone: the reset it asked for comes all the same */
		if (events & (EPOLLHUP | EPOLLERR))
			conn_close(f, true);
		break;
	case P_IDLE:
		break;
	}
out:
	pthread_mutex_unlock(&f->lock);
}

static void listener_event(struct watch *w, uint32_t events)
{
	struct fn *f = w->arg;
	(void)events;
	pthread_mutex_lock(&f->lock);
	int fd = f->phase == P_IDLE ? accept4(f->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)
				    : -1;
	if (fd >= 0 && f->vm->frozen) {
		pr_debug("function: connection refused: a template's guest does not run");
		close(fd);
	} else if (fd >= 0) {
		f->conn = fd;
		f->phase = P_READING;
		f->line_len = 0;
		f->in_len = f->in_off = 0;
		f->ctx_left = 0;
		f->request_id[0] = 0;
		fn_watch(f);
	}
	pthread_mutex_unlock(&f->lock);
}

/* ---- the ports: every check of what the guest hands over ------------------------------- */

static int port_next(struct fn *f, struct vcpu *c, uint32_t at)
{
	struct vm *vm = f->vm;
	const struct hf_invocation *inv = guest_struct(vm, c, "next invocation",
						       "struct hf_invocation", at, sizeof(*inv));
	if (!inv)
		return -1;
	uint64_t buf, cap; /* read once: the guest may change them meanwhile */
	memcpy(&buf, &inv->buf, sizeof(buf));
	memcpy(&cap, &inv->cap, sizeof(cap));
	if (!guest_buffer(vm, c, "next invocation", "payload buffer", buf, cap, HF_FN_PAYLOAD_MAX))
		return -1;
	pthread_mutex_lock(&f->lock);
	if (f->waiter) {
		unsigned other = f->waiter->index;
		pthread_mutex_unlock(&f->lock);
		vcpu_guest_error(c, "next invocation: vCPU %u already waits for one", other);
		return -1;
	}
	if (f->phase == P_TAKEN) { /* the one taken before goes unanswered */
		pr_debug("function: invocation %s closed unanswered", f->request_id);
		conn_close(f, false);
	}
	f->want = at;
	f->want_buf = buf;
	f->want_cap = cap;
	if (f->phase == P_HELD) {
		deliver(f);
	} else {
		f->waiter = c;
		vcpu_wait(c); /* the vCPU parks until deliver() */
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* The answer to the invocation taken: RESPOND (type NULL) or FAIL. body is checked. */
static int give_answer(struct fn *f, struct vcpu *c, const char *type, const void *body,
		       uint64_t len)
{
	const char *what = type ? "error report" : "response";
	pthread_mutex_lock(&f->lock);
	if (f->phase == P_RESETTING && f->unwanted) {
		pr_debug("function: %s to %s dropped: its worker has gone", what, f->request_id);
		f->unwanted = false;
	} else if (f->phase == P_TAKEN && f->conn < 0) {
		pr_debug("function: %s to %s dropped: its client has gone", what, f->request_id);
		conn_close(f, false);
	} else if (f->phase == P_TAKEN && !type && len > HF_FN_PAYLOAD_MAX) {
		char msg[256];
		int n = snprintf(msg, sizeof(msg),
				 "{\"errorMessage\":\"Response payload size (%llu bytes) exceeded "
				 "maximum allowed payload size (%u bytes).\",\"errorType\":"
				 "\"Function.ResponseSizeTooLarge\"}",
				 (unsigned long long)len, HF_FN_PAYLOAD_MAX);
		answer(f, "ERROR", "Function.ResponseSizeTooLarge", msg, (size_t)n);
	} else if (f->phase == P_TAKEN) {
		answer(f, type ? "ERROR" : "RESPONSE", type, body, (size_t)len);
	} else if (type && !f->taken_any) {
		/* An init error: to a client whose invocation waits, if there is one. */
		if (f->phase == P_HELD)
			answer(f, "INIT_ERROR", type, body, (size_t)len);
	} else {
		pthread_mutex_unlock(&f->lock);
		vcpu_guest_error(c, "%s with no invocation taken", what);
		return -1;
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int port_respond(struct fn *f, struct vcpu *c, uint32_t at)
{
	struct vm *vm = f->vm;
	const struct hf_buf *b = guest_struct(vm, c, "response", "struct hf_buf", at, sizeof(*b));
	struct hf_buf d;
	if (!b)
		return -1;
	memcpy(&d, b, sizeof(d));
	/* (a result past Lambda's limit is the function's error, told to its client) */
	const void *p = guest_buffer(vm, c, "response", "result", d.addr, d.len, UINT64_MAX);
	if (!p)
		return -1;
	return give_answer(f, c, NULL, p, d.len);
}

static int port_fail(struct fn *f, struct vcpu *c, uint32_t at)
{
	struct vm *vm = f->vm;
	const struct hf_fn_error *e = guest_struct(vm, c, "error report", "struct hf_fn_error",
						   at, sizeof(*e));
	struct hf_fn_error d;
	if (!e)
		return -1;
	memcpy(&d, e, sizeof(d));
	if (!memchr(d.type, 0, sizeof(d.type))) {
		vcpu_guest_error(c, "error report: the error type is not NUL-terminated within "
				      "%u bytes", HF_FN_ERROR_TYPE_MAX);
		return -1;
	}
	for (const char *t = d.type; *t; t++)
		if (*t < 0x21 || *t > 0x7e) {
			vcpu_guest_error(c, "error report: the error type has byte 0x%02x at %zu: "
					      "only visible ASCII without spaces",
				       (unsigned)(uint8_t)*t, (size_t)(t - d.type));
			return -1;
		}
	const void *p = guest_buffer(vm, c, "error report", "body", d.addr, d.len,
				     HF_FN_PAYLOAD_MAX);
	if (!p)
		return -1;
	return give_answer(f, c, d.type[0] ? d.type : "-", p, d.len);
}

static int fn_pio(struct device *d, struct vcpu *c, uint16_t port, bool write, uint8_t *data,
		  unsigned size)
{
	struct fn *f = d->priv;
	uint32_t at;
	if (size != 4 || !write) {
		vcpu_guest_error(c, "bad access to hypercall port 0x%x: %s of %u bytes", port,
			       write ? "write" : "read", size);
		return -1;
	}
	memcpy(&at, data, 4);
	switch (port) {
	case HF_PORT_NEXT:
		return port_next(f, c, at);
	case HF_PORT_RESPOND:
		return port_respond(f, c, at);
	case HF_PORT_FAIL:
		return port_fail(f, c, at);
	}
	return -1;
}

/* ---- clone hooks and life --------------------------------------------------------------- */

static int fn_post_fork(struct device *d)
{
	struct fn *f = d->priv;
	/* The listener, the connection and the loop are the parent's. */
	pthread_mutex_init(&f->lock, NULL);
	if (f->listener >= 0)
		close(f->listener);
	if (f->conn >= 0)
		close(f->conn);
	f->listener = f->conn = -1;
	f->worker = false;
	f->in_len = f->in_off = 0;
	f->own_path = false;
	f->loop = NULL;
	f->lw_on = f->cw_on = false;
	if (f->phase != P_TAKEN) { /* a taken invocation is answered into the void */
		drop_invocation(f);
		f->phase = P_IDLE;
	}
	f->start.phase = f->phase;
	f->start.taken_any = f->taken_any;
	memcpy(f->start.request_id, f->request_id, sizeof(f->request_id));
	return 0;
}

/* A reset: back to the state the clone started in. The listener stays (the clone keeps its
 * name); a worker's connection stays too, told READY with the VM's new number, another
 * client is let go (its invocation was answered, or it ends unanswered); no vCPU waits any
 * more (the vCPUs start again from their snapshot). */
static int fn_reset(struct device *d)
{
	struct fn *f = d->priv;
	pthread_mutex_lock(&f->lock);
	f->waiter = NULL;
	f->unwanted = false;
	f->taken_any = f->start.taken_any;
	memcpy(f->request_id, f->start.request_id, sizeof(f->request_id));
	drop_invocation(f);
	if (f->worker && f->conn >= 0 && say_ready(f) == 0) {
		f->phase = P_READING;
		if (f->in_off < f->in_len)
			reading(f); /* an INVOKE it sent ahead */
		else
			fn_watch(f);
	} else {
		f->worker = false; /* (no reset asked again: this is it) */
		conn_close(f, false);
		f->phase = f->start.phase;
		fn_watch(f);
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fn_attach(struct device *d, struct loop *l)
{
	struct fn *f = d->priv;
	struct vm *vm = d->vm;
	if (f->listener < 0) { /* booted, or a clone: its own name */
		char path[PATH_MAX];
		run_file(path, sizeof(path), vm->cfg.run_dir, vm->cfg.name, RUN_FILE_FUNCTION);
		int fd = strlen(path) < sizeof(f->path) ? unix_listen(path, NULL) : -1;
		if (fd < 0) {
			pr_err("function: cannot listen on %s: %s", path,
			       strlen(path) >= sizeof(f->path) ? "path too long for a Unix socket"
			       : errno == EADDRINUSE	       ? "a running VM listens there"
							       : strerror(errno));
			return -1;
		}
		snprintf(f->path, sizeof(f->path), "%s", path);
		f->listener = fd;
		f->own_path = true;
	}
	pthread_mutex_lock(&f->lock);
	f->loop = l;
	f->lw = (struct watch){.fd = f->listener, .fn = listener_event, .arg = f};
	fn_watch(f);
	pthread_mutex_unlock(&f->lock);
	return f->phase != P_IDLE || f->lw_on ? 0 : -1;
}

/* The VM ends: what is left of an answer goes out first, for at most FLUSH_MS. */
static void flush_answer(struct fn *f)
{
	uint64_t end = now_ns() + FLUSH_MS * 1000000ull;
	while (f->phase == P_SENDING && f->conn >= 0 && f->out_sent < f->out_len) {
		struct pollfd p = {.fd = f->conn, .events = POLLOUT};
		uint64_t now = now_ns();
		if (now >= end || poll(&p, 1, (int)((end - now) / 1000000 + 1)) <= 0)
			break;
		ssize_t n = send(f->conn, f->out + f->out_sent, f->out_len - f->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (n > 0)
			f->out_sent += (size_t)n;
	}
}

static void fn_destroy(struct device *d)
{
	struct fn *f = d->priv;
	flush_answer(f);
	if (f->conn >= 0)
		close(f->conn);
	if (f->listener >= 0)
		close(f->listener);
	if (f->own_path)
		unlink(f->path);
	drop_invocation(f);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static const struct device_ops fn_ops = {
	.name = "function",
	.pio = fn_pio,
	.post_fork = fn_post_fork,
	.attach = fn_attach,
	.reset = fn_reset,
	.destroy = fn_destroy,
};

static void *fn_parse(const char *arg, char *err, size_t errlen)
{
	if (arg[0]) {
		snprintf(err, errlen, "takes no argument");
		return NULL;
	}
	void *r = calloc(1, 1);
	if (!r)
		snprintf(err, errlen, "out of memory");
	return r;
}

static int fn_add(struct vm *vm, const void *parsed)
{
	(void)parsed;
	struct fn *f = calloc(1, sizeof(*f));
	if (!f) {
		pr_err("function: out of memory");
		return -1;
	}
	f->vm = vm;
	f->listener = f->conn = -1;
	pthread_mutex_init(&f->lock, NULL);
	f->dev = (struct device){.ops = &fn_ops, .vm = vm, .port_base = HF_PORT_NEXT,
				 .port_count = HF_PORT_FAIL - HF_PORT_NEXT + 1, .priv = f};
	if (bus_add(&vm->bus, &f->dev) < 0) {
		free(f);
		return -1;
	}
	return 0;
}

const struct device_option fnport_option = {
    .name = "function",
    .metavar = NULL,
    .help = "  --function        bare guests: serve invocations (include/hyperfork/lambda.h,\n"
	    "                    without CONNECT) sent to Unix socket RUN_DIR/NAME.fn, through\n"
	    "                    the function ports (HF_PORT_NEXT, _RESPOND, _FAIL); clone N\n"
	    "                    gets NAME.N.fn\n",
    .max = 1,
    .bare_only = true,
    .parse = fn_parse,
    .add = fn_add,
};
