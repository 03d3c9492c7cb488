/* hf-lambda's side of the vsock channel to `hyperfork serve`: the exchange of
 * include/hyperfork/lambda.h. It listens (vsock port HF_LAMBDA_PORT, or a Unix socket for
 * tests), takes one connection at a time, reads its INVOKE line, client context and
 * payload, hands the invocation to the Runtime API (lambda-http.c) and sends the host the
 * answer line and body. The connection and its invocation are this file's own. */
#define _GNU_SOURCE /* accept4, POLLRDHUP */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hf-tool.h"
#include "lambda-host.h"
#include "lambda-out.h"
#include "lambda-util.h"

#include "hyperfork/lambda.h"

#define CTX_MAX (32 * 1024) /* client context (base64) */

static int vlisten = -1;
static int once; /* the listener closes once an invocation is read (one per clone) */
static int own_clock; /* in a VM (on vsock): the guest's wall clock follows the host's */

/* The host's connection and its invocation. */
enum vstate {
	V_NONE,      /* no connection */
	V_LINE,      /* reading the INVOKE line */
	V_DATA,      /* reading client context and payload */
	V_READY,     /* invocation read, waiting for the runtime's /next */
	V_DELIVERED, /* given to the runtime, waiting for its answer */
	V_ANSWERING, /* sending the answer */
};
static struct vconn {
	int fd;
	enum vstate st;
	int gone; /* the host closed it */
	char line[HF_LAMBDA_LINE_MAX];
	size_t linelen;
	char id[HF_LAMBDA_LINE_MAX], deadline[HF_LAMBDA_LINE_MAX], arn[HF_LAMBDA_LINE_MAX],
		trace[HF_LAMBDA_LINE_MAX];
	unsigned long long host_us; /* the host's clock when it sent the INVOKE */
	char *data; /* client context, then payload */
	size_t ctxlen, paylen, have;
	struct out out;
} vc = {.fd = -1};

/* ---------------------------------------------------------------- the listener */

static int listen_host(const char *unix_path)
{
	if (unix_path) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		if (strlen(unix_path) >= sizeof(a.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(a.sun_path, unix_path);
		unlink(unix_path);
		return listener(AF_UNIX, &a, sizeof(a), 16);
	}
	struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_port = HF_LAMBDA_PORT,
				.svm_cid = VMADDR_CID_ANY};
	return listener(AF_VSOCK, &a, sizeof(a), 16);
}

int host_listen(const char *unix_path, int one_invocation)
{
	once = one_invocation;
	own_clock = !unix_path; /* (a test outside a VM leaves its host's clock alone) */
	vlisten = listen_host(unix_path);
	return vlisten < 0 ? -1 : 0;
}

/* ------------------------------------------------------------- the connection */

static void vc_close(void)
{
	if (vc.fd >= 0) {
		shutdown(vc.fd, SHUT_WR);
		close(vc.fd);
	}
	free(vc.data);
	out_free(&vc.out);
	vc = (struct vconn){.fd = -1};
}

/* Wait up to ms milliseconds for the peer to close fd (after our SHUT_WR). What a vsock
 * write hands the kernel leaves the VM later, from a worker: ending the VM right after the
 * write can lose it, so the host's close is the sign that it has all of it. */
static void wait_peer_close(int fd, int ms)
{
	long long end = now_ms() + ms;
	char buf[512];
	shutdown(fd, SHUT_WR);
	for (long long left; (left = end - now_ms()) > 0;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return;
		if (p.revents & (POLLHUP | POLLERR))
			return;
		if (!(p.revents & (POLLIN | POLLRDHUP)))
			continue;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

/* ----------------------------------------------------------------- the INVOKE */

/* The INVOKE line: "INVOKE id deadline arn trace ctxlen paylen hosttime". 0 if valid. */
static int parse_invoke(char *l)
{
	char *f[9];
	int n = 0;
	for (char *p = l;; p++) {
		if (n == 9)
			return -1;
		f[n++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p = 0;
	}
	if (n != 8 || strcmp(f[0], "INVOKE"))
		return -1;
	for (int i = 1; i < 8; i++)
		if (!visible(f[i]))
			return -1;
	/* The request id stands in a URL path and in JSON: none of / ? # % " \ there. */
	if (strpbrk(f[1], "/?#%\"\\"))
		return -1;
	size_t dl, host_us;
	if (parse_len(f[2], ~0ull, &dl) < 0 || parse_len(f[5], CTX_MAX, &vc.ctxlen) < 0 ||
	    parse_len(f[6], HF_LAMBDA_MAX_PAYLOAD, &vc.paylen) < 0 ||
	    parse_len(f[7], ~0ull, &host_us) < 0)
		return -1;
	vc.host_us = host_us;
	strcpy(vc.id, f[1]);
	strcpy(vc.deadline, f[2]);
	strcpy(vc.arn, f[3]);
	strcpy(vc.trace, f[4]);
	return 0;
}

/* The guest's wall clock, in a VM, set to the host's time (us) where it is behind it or more
 * than 1 s ahead: a clone's, a reset worker's or a long-lived VM's clock drifts from the
 * host's (its template's carried over, the time its making took, a drifting guest TSC), and
 * the runtime reckons its time left from the host's deadline by it (lambda.h). Ahead by
 * less may be the time the INVOKE took to arrive (milliseconds in an emulated host): the
 * clock is not set back by that. */
static void follow_host_clock(unsigned long long host_us)
{
	struct timespec now;
	if (!own_clock || clock_gettime(CLOCK_REALTIME, &now) < 0)
		return;
	long long ahead = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000 - (long long)host_us;
	if (ahead >= 0 && ahead <= 1000000)
		return;
	struct timespec t = {.tv_sec = (time_t)(host_us / 1000000),
			     .tv_nsec = (long)(host_us % 1000000) * 1000};
	if (clock_settime(CLOCK_REALTIME, &t) < 0)
		fprintf(stderr, "hf-lambda: cannot set the clock to the host's: %s\n",
			strerror(errno));
}

/* Read what the host sent; -1: the connection is to be dropped. */
static int vc_read(void)
{
	for (;;) {
		ssize_t r;
		if (vc.st == V_LINE) {
			r = read(vc.fd, vc.line + vc.linelen, sizeof(vc.line) - vc.linelen);
		} else if (vc.st == V_DATA) {
			r = read(vc.fd, vc.data + vc.have, vc.ctxlen + vc.paylen - vc.have);
		} else {
			return 0;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return -1; /* closed before a whole INVOKE */
		if (vc.st == V_LINE) {
			vc.linelen += (size_t)r;
			char *nl = memchr(vc.line, '\n', vc.linelen);
			if (!nl)
				return vc.linelen == sizeof(vc.line) ? -1 : 0;
			*nl = 0;
			if (memchr(vc.line, 0, (size_t)(nl - vc.line)) || parse_invoke(vc.line) < 0)
				return -1;
			size_t extra = vc.linelen - (size_t)(nl + 1 - vc.line);
			if (extra > vc.ctxlen + vc.paylen)
				return -1;
			vc.data = xmalloc(vc.ctxlen + vc.paylen);
			memcpy(vc.data, nl + 1, extra);
			vc.have = extra;
			vc.st = V_DATA;
		} else {
			vc.have += (size_t)r;
		}
		if (vc.st == V_DATA && vc.have == vc.ctxlen + vc.paylen) {
			if (vc.ctxlen) { /* the client context must be base64 */
				unsigned char *tmp = xmalloc(vc.ctxlen + 4);
				long k = base64_decode(vc.data, vc.ctxlen, tmp);
				free(tmp);
				if (k < 0)
					return -1;
			}
			vc.st = V_READY;
			follow_host_clock(vc.host_us);
			if (once && vlisten >= 0) { /* one invocation per clone */
				close(vlisten);
				vlisten = -1;
			}
			return 0;
		}
	}
}

/* ------------------------------------------------------------------- the loop */

int host_pollfd(struct pollfd *p, int accepting)
{
	if (accepting && vlisten >= 0 && vc.fd < 0) {
		*p = (struct pollfd){.fd = vlisten, .events = POLLIN};
		return 1;
	}
	if (vc.fd >= 0 && !vc.gone) {
		short ev = vc.st == V_LINE || vc.st == V_DATA ? POLLIN
			   : vc.st == V_ANSWERING              ? POLLOUT
								: 0;
		*p = (struct pollfd){.fd = vc.fd, .events = ev};
		return 1;
	}
	return 0;
}

void host_io(const struct pollfd *p)
{
	short rev = p->revents;
	if (!rev)
		return;
	if (vc.fd >= 0 && p->fd == vc.fd) {
		if (vc.st == V_LINE || vc.st == V_DATA) {
			if (vc_read() < 0)
				vc_close();
		} else if (vc.st == V_ANSWERING) {
			int r = out_flush(vc.fd, &vc.out);
			if (r != 0) /* sent (or failed): this invocation is over */
				vc_close();
		} else if (rev & (POLLHUP | POLLERR)) {
			vc.gone = 1; /* the host gave up on this invocation */
			if (vc.st == V_READY)
				vc_close();
		}
	} else if (vlisten >= 0 && p->fd == vlisten && (rev & POLLIN) && vc.fd < 0) {
		int fd = accept4(vlisten, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			vc = (struct vconn){.fd = fd, .st = V_LINE};
			if (vc_read() < 0)
				vc_close();
		}
	}
}

/* ------------------------------------------------------------- the invocation */

int host_ready(struct invocation *inv)
{
	if (vc.st != V_READY)
		return 0;
	*inv = (struct invocation){.id = vc.id,
				   .deadline = vc.deadline,
				   .arn = vc.arn,
				   .trace = vc.trace,
				   .ctx = vc.data,
				   .ctxlen = vc.ctxlen};
	return 1;
}

char *host_deliver(size_t *len)
{
	/* The payload goes to the runtime as it is: move it out of vc.data. */
	char *payload = xmalloc(vc.paylen);
	memcpy(payload, vc.data + vc.ctxlen, vc.paylen);
	free(vc.data);
	vc.data = NULL;
	vc.st = V_DELIVERED;
	*len = vc.paylen;
	return payload;
}

const char *host_awaited(void)
{
	return vc.st == V_DELIVERED ? vc.id : NULL;
}

/* ------------------------------------------------------------------ the answer */

void host_answer(const char *kind, const char *type, char *body, size_t blen)
{
	char hdr[HF_LAMBDA_LINE_MAX];
	int n;
	if (type)
		n = snprintf(hdr, sizeof(hdr), "%s %zu %s\n", kind, blen, type);
	else
		n = snprintf(hdr, sizeof(hdr), "%s %zu\n", kind, blen);
	if (vc.fd < 0 || vc.gone || n <= 0 || (size_t)n >= sizeof(hdr)) {
		free(body);
		if (vc.fd >= 0)
			vc_close();
		return;
	}
	free(vc.data);
	vc.data = NULL;
	out_queue(&vc.out, xstrdup(hdr), (size_t)n, body, blen);
	vc.st = V_ANSWERING;
	if (out_flush(vc.fd, &vc.out) != 0)
		vc_close();
}

/* 1 if a connection from the host is open and the host has not given up on it. */
static int host_connected(void)
{
	return vc.fd >= 0 && !vc.gone;
}

void host_init_error(const char *type, char *body, size_t blen)
{
	if (host_connected())
		host_answer("INIT_ERROR", type, body, blen);
	else
		free(body);
}

void host_runtime_exited(const char *msg)
{
	size_t blen;
	if (vc.fd >= 0 && (vc.st == V_LINE || vc.st == V_DATA)) {
		vc_close(); /* no invocation yet: the host sees the connection close */
	} else if (vc.fd >= 0 && (vc.st == V_READY || vc.st == V_DELIVERED)) {
		char *b = error_json("Runtime.ExitError", &blen, "RequestId: %s Error: %s", vc.id, msg);
		host_answer("ERROR", "Runtime.ExitError", b, blen);
	}
}

void host_flush(void)
{
	if (vc.fd >= 0 && !vc.gone && out_pending(&vc.out))
		out_flush_wait(vc.fd, &vc.out, 10000);
	if (vc.fd >= 0 && !vc.gone && !out_pending(&vc.out) && vc.st == V_ANSWERING)
		wait_peer_close(vc.fd, 5000);
}
