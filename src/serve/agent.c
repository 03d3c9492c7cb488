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
#include <time.h>
#include <unistd.h>

#include "hyperfork/lambda.h"
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
	int s = fn_agent_connect(f, path, now_ns() + 1000000000ull);
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

/* Move len bytes between buf and fd before deadline. Returns 0, or -1 (errno ETIMEDOUT at
 * the deadline, EPIPE if the peer closed). */
static int io_all(int fd, void *buf, size_t len, bool out, uint64_t deadline)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pf = {.fd = fd, .events = out ? POLLOUT : POLLIN};
		int r = poll(&pf, 1, remaining_ms(deadline));
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line (without its '\n') into line, read a byte at a time, before deadline. */
static int read_line(int fd, char *line, size_t size, uint64_t deadline)
{
	for (size_t n = 0; n + 1 < size; n++) {
		if (io_all(fd, line + n, 1, false, deadline) < 0)
			return -1;
		if (line[n] == '\n') {
			line[n] = 0;
			return 0;
		}
	}
	errno = EPROTO;
	return -1;
}

int fn_agent_connect(const struct function *f, const char *path, uint64_t deadline)
{
	char line[64];
	int fd = unix_connect(path, 0);
	if (fd < 0)
		return -1;
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", HF_LAMBDA_PORT);
	if (!f->cfg->image && (io_all(fd, line, (size_t)n, true, deadline) < 0 ||
			       read_line(fd, line, sizeof(line), deadline) < 0 ||
			       strncmp(line, "OK ", 3))) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
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

void fn_exchange(struct function *f, int s, const struct invocation *inv, uint64_t deadline,
		 struct inv_result *r)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t deadline_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000 +
			       (uint64_t)remaining_ms(deadline);
	char line[HF_LAMBDA_LINE_MAX];
	size_t ctx_len = inv->client_context ? strlen(inv->client_context) : 0;
	int n = snprintf(line, sizeof(line),
			 "INVOKE %s %llu arn:aws:lambda:us-east-1:000000000000:function:%s - %zu "
			 "%zu\n",
			 inv->request_id, (unsigned long long)deadline_ms, f->cfg->name, ctx_len,
			 inv->payload_len);
	if (io_all(s, line, (size_t)n, true, deadline) < 0 ||
	    (ctx_len && io_all(s, (void *)inv->client_context, ctx_len, true, deadline) < 0) ||
	    (inv->payload_len && io_all(s, (void *)inv->payload, inv->payload_len, true, deadline) < 0) ||
	    read_line(s, line, sizeof(line), deadline) < 0)
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
	if (!r->body || io_all(s, r->body, len, false, deadline) < 0)
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
