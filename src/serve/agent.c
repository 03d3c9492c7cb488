/* The host side of include/hyperfork/lambda.h for a serve function (see
 * function_private.h): where a VM's agent listens, connecting to it, the INVOKE exchange
 * and the answer Lambda gives when there is none. */
#include "serve/function_private.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "hyperfork/lambda.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"
#include "util/util.h"

void fn_agent_path(const struct function *f, const char *name, char *path, size_t len)
{
	run_file(path, len, f->run_dir, name, f->cfg->image ? RUN_FILE_FUNCTION : RUN_FILE_VSOCK);
}

bool fn_agent_up(const struct function *f, const char *name)
{
	char path[4096];
	fn_agent_path(f, name, path, sizeof(path));
	int s = fn_agent_connect(f, path, f->template_pid, false, now_ns() + 1000000000ull);
	if (s < 0)
		return false;
	close(s);
	return true;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = now_ns();
	return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

/* Wait until fd can do events, before deadline. Returns 0, or -1 (errno ETIMEDOUT at the
 * deadline). */
static int wait_for(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = events};
		int r = poll(&pf, 1, remaining_ms(deadline));
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* Send the n buffers of iov whole before deadline, in as few calls as the socket takes.
 * Returns 0, or -1 (errno ETIMEDOUT at the deadline, EPIPE if the peer closed). */
static int send_all(int fd, struct iovec *iov, int n, uint64_t deadline)
{
	while (n) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EAGAIN) {
			if (wait_for(fd, POLLOUT, deadline) < 0)
				return -1;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		for (; n && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Up to len bytes from c's socket into buf (one read, waiting for it before deadline).
 * Returns the bytes, or -1 (errno ETIMEDOUT at the deadline, EPIPE if the peer closed). */
static ssize_t chan_recv(struct fn_chan *c, void *buf, size_t len, uint64_t deadline)
{
	for (;;) {
		ssize_t r = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (r > 0)
			return r;
		if (r == 0) {
			errno = EPIPE;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || wait_for(c->fd, POLLIN, deadline) < 0)
			return -1;
	}
}

/* len bytes of what the peer sent into buf (what was read ahead first), before deadline.
 * Returns 0 or -1 (chan_recv's errno). */
static int chan_read(struct fn_chan *c, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;
	while (len) {
		if (c->off == c->len) {
			if (len >= sizeof(c->buf)) { /* a large body: straight in */
				ssize_t r = chan_recv(c, p, len, deadline);
				if (r < 0)
					return -1;
				p += r;
				len -= (size_t)r;
				continue;
			}
			ssize_t r = chan_recv(c, c->buf, sizeof(c->buf), deadline);
			if (r < 0)
				return -1;
			c->len = (size_t)r;
			c->off = 0;
		}
		size_t n = c->len - c->off < len ? c->len - c->off : len;
		memcpy(p, c->buf + c->off, n);
		c->off += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* One line (without its '\n') into line (size bytes with its NUL), before deadline.
 * Returns 0 or -1 (errno EPROTO for a longer line). */
static int chan_line(struct fn_chan *c, char *line, size_t size, uint64_t deadline)
{
	size_t n = 0;
	for (;;) {
		if (c->off == c->len) {
			ssize_t r = chan_recv(c, c->buf, sizeof(c->buf), deadline);
			if (r < 0)
				return -1;
			c->len = (size_t)r;
			c->off = 0;
		}
		char *from = c->buf + c->off, *nl = memchr(from, '\n', c->len - c->off);
		size_t take = nl ? (size_t)(nl - from) : c->len - c->off;
		if (n + take + 1 > size) {
			errno = EPROTO;
			return -1;
		}
		memcpy(line + n, from, take);
		n += take;
		c->off += take + (nl != NULL);
		if (nl) {
			line[n] = 0;
			return 0;
		}
	}
}

int fn_agent_open(const struct function *f, const char *path, pid_t owner, bool exact)
{
	int fd = unix_connect(path, 0);
	if (fd >= 0 && !fn_peer_is(fd, owner, exact)) {
		pr_warn("serve: function %s: the agent socket %s is not its VM's (pid %d): not used",
			f->cfg->name, path, (int)owner);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int fn_agent_connect(const struct function *f, const char *path, pid_t owner, bool exact,
		     uint64_t deadline)
{
	char line[64];
	struct fn_chan c = {.fd = fn_agent_open(f, path, owner, exact)};
	if (c.fd < 0)
		return -1;
	struct iovec iov = {line, (size_t)snprintf(line, sizeof(line), "CONNECT %u\n",
						   HF_LAMBDA_PORT)};
	if (!f->cfg->image && (send_all(c.fd, &iov, 1, deadline) < 0 ||
			       chan_line(&c, line, sizeof(line), deadline) < 0 ||
			       strncmp(line, "OK ", 3) || c.off != c.len)) {
		int e = errno;
		close(c.fd);
		errno = c.off != c.len ? EPROTO : e;
		return -1;
	}
	return c.fd;
}

int fn_worker_hello(const struct function *f, struct fn_chan *c, uint64_t deadline, char *why,
		    size_t whylen)
{
	char line[32];
	struct iovec iov = {line, (size_t)(f->cfg->image ? snprintf(line, sizeof(line), "WORKER\n")
							 : snprintf(line, sizeof(line), "WORKER %u\n",
								    HF_LAMBDA_PORT))};
	if (send_all(c->fd, &iov, 1, deadline) < 0) {
		snprintf(why, whylen, "cannot say WORKER: %s", strerror(errno));
		return -1;
	}
	return fn_worker_ready(c, deadline, why, whylen);
}

int fn_worker_ready(struct fn_chan *c, uint64_t deadline, char *why, size_t whylen)
{
	char line[HF_LAMBDA_LINE_MAX];
	unsigned id;
	char end;
	if (chan_line(c, line, sizeof(line), deadline) < 0) {
		snprintf(why, whylen, "%s", errno == EPIPE ? "it ended" : strerror(errno));
		return -1;
	}
	if (sscanf(line, "READY %u%c", &id, &end) != 1) {
		snprintf(why, whylen, "%.300s", !strncmp(line, "REFUSED ", 8) ? line + 8 : line);
		return -1;
	}
	return (int)(id & INT32_MAX);
}

static void set_body(struct inv_result *r, enum inv_outcome outcome, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_body(struct inv_result *r, enum inv_outcome outcome, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->body);
	r->body = NULL;
	int n = vasprintf(&r->body, fmt, ap);
	va_end(ap);
	r->body_len = n > 0 ? (size_t)n : 0;
	r->outcome = outcome;
}

/* "2026-11-30T12:00:00.123Z" */
static void iso_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void fn_exchange(struct function *f, struct fn_chan *c, const struct invocation *inv,
		 uint64_t deadline, struct inv_result *r)
{
	uint64_t now_us = wall_us();
	uint64_t deadline_ms = now_us / 1000 + (uint64_t)remaining_ms(deadline);
	char line[HF_LAMBDA_LINE_MAX];
	size_t ctx_len = inv->client_context ? strlen(inv->client_context) : 0;
	int n = snprintf(line, sizeof(line),
			 "INVOKE %s %llu arn:aws:lambda:us-east-1:000000000000:function:%s - %zu "
			 "%zu %llu\n",
			 inv->request_id, (unsigned long long)deadline_ms, f->cfg->name, ctx_len,
			 inv->payload_len, (unsigned long long)now_us);
	struct iovec iov[3] = {{line, (size_t)n},
			       {(void *)inv->client_context, ctx_len},
			       {(void *)inv->payload, inv->payload_len}};
	if (send_all(c->fd, iov, 3, deadline) < 0 || chan_line(c, line, sizeof(line), deadline) < 0)
		goto failed;
	char kind[16], type[128] = "-";
	unsigned long long len;
	char end;
	int k = sscanf(line, "%15s %llu %127s%c", kind, &len, type, &end);
	bool ok = !strcmp(kind, "RESPONSE") ? k == 2
		  : !strcmp(kind, "ERROR") || !strcmp(kind, "INIT_ERROR") ? k == 3
									 : false;
	if (!ok || len > HF_LAMBDA_MAX_PAYLOAD) {
		errno = EPROTO;
		goto failed;
	}
	r->body = malloc(len + 1);
	if (!r->body || chan_read(c, r->body, len, deadline) < 0)
		goto failed;
	r->body[len] = 0;
	r->body_len = len;
	/* An error the runtime reported is handled; its runtime ending (or answering more than
	 * Lambda takes) is not. */
	r->outcome = kind[0] == 'R'                               ? INV_OK
		     : kind[0] == 'E' && strncmp(type, "Runtime.", 8) &&
				     strcmp(type, "Function.ResponseSizeTooLarge")
			     ? INV_HANDLED
			     : INV_UNHANDLED;
	return;
failed:
	fn_failed(f, inv, r, errno == ETIMEDOUT);
}

void fn_failed(struct function *f, const struct invocation *inv, struct inv_result *r,
	       bool timed_out)
{
	if (timed_out) {
		char t[40];
		iso_now(t, sizeof(t));
		set_body(r, INV_UNHANDLED,
			 "{\"errorMessage\":\"%s %s Task timed out after %u.00 seconds\"}", t,
			 inv->request_id, f->cfg->timeout_s);
		pthread_mutex_lock(&f->lock);
		f->stats.timeouts++;
		pthread_mutex_unlock(&f->lock);
	} else {
		set_body(r, INV_UNHANDLED,
			 "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: %s "
			 "Error: Runtime exited without providing a reason\"}",
			 inv->request_id);
	}
}
