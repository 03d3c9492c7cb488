/* hf-lambda BOOTSTRAP [ARG...]: the AWS Lambda Runtime API agent of a Linux guest under
 * `hyperfork serve`. The protocol with the host is include/hyperfork/lambda.h.
 *
 * It serves the Runtime API on HF_LAMBDA_RUNTIME_API (127.0.0.1:9001) to the function's
 * runtime, BOOTSTRAP, which it starts as its child (stdin /dev/null, stdout and stderr
 * inherited: the console):
 *   GET  /2018-06-01/runtime/invocation/next         blocks until an invocation; 200, the
 *                                                    payload and the Lambda-Runtime-* headers
 *   POST /2018-06-01/runtime/invocation/ID/response  202, forwarded as RESPONSE
 *   POST /2018-06-01/runtime/invocation/ID/error     202, forwarded as ERROR (type from
 *                                                    Lambda-Runtime-Function-Error-Type)
 *   POST /2018-06-01/runtime/init/error              202; the VM ends (see below)
 * Errors as the real Runtime API: an answer when no invocation awaits one (none delivered,
 * or already answered) 403 InvalidStateTransition; an answer naming another request id 400
 * InvalidRequestID; a body over HF_LAMBDA_MAX_PAYLOAD 413 (for the awaited invocation also
 * forwarded as ERROR Function.ResponseSizeTooLarge); an unknown path 404, a known one with
 * another method 405; a malformed request 400 (connection closed). HTTP/1.1 with keep-alive,
 * pipelining, Content-Length and chunked bodies, Expect: 100-continue.
 *
 * It listens on vsock port HF_LAMBDA_PORT and prints "HF-LAMBDA-READY" on stdout (the
 * console) before starting BOOTSTRAP. The runtime's first GET .../next is the end of its
 * init: there the agent runs hf-fork (the VM becomes a template under serve; hf-fork
 * returns in each clone), then accepts one vsock connection, reads its INVOKE, answers the
 * /next, forwards the runtime's answer, and closes the listener (one invocation per
 * clone). With hf.lambda=warm on the kernel command line it never forks and serves
 * connection after connection (queued until the runtime asks for the next).
 *
 * The VM ends (hf-done 1, after forwarding what can be) when:
 *   - the runtime posts .../init/error, or exits, or cannot be started, before its first
 *     /next: "HF-LAMBDA-INIT-ERROR TYPE BODY" on the console (INIT_ERROR to a connection
 *     already waiting in warm mode);
 *   - the runtime exits later: ERROR Runtime.ExitError to the invocation in progress, and
 *     "HF-LAMBDA-RUNTIME-EXIT REASON" on the console;
 *   - hf-fork fails: "HF-LAMBDA-FORK-FAILED ...".
 *
 * For tests of the agent outside a VM: HF_LAMBDA_LISTEN=PATH listens on a Unix socket at
 * PATH instead of vsock, HF_LAMBDA_MODE=warm|fork overrides the kernel command line; hf-fork
 * and hf-done are found on PATH. Both variables are removed from the runtime's
 * environment. */
#define _GNU_SOURCE /* accept4, pipe2, POLLRDHUP */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hf-tool.h"

#include "hyperfork/lambda.h"

#define MAX_CONNS 32            /* HTTP connections at once */
#define HEAD_MAX (64 * 1024)    /* request line + header lines */
#define HEADERS_MAX 100         /* header lines in a request */
#define TARGET_MAX 2048         /* request target */
#define CTX_MAX (32 * 1024)     /* client context (base64) */
#define ERRTYPE_MAX 256         /* Lambda-Runtime-Function-Error-Type kept */
#define LINGER_MS 2000          /* closing: discard what the client still sends */
#define LINGER_BYTES (16u << 20)
#define SHOW_MAX 1024           /* bytes of an init error body shown on the console */
#define API "/2018-06-01/runtime/"

static const char *prog = "hf-lambda";

/* ------------------------------------------------------------------- small helpers */

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* One line on the console (stdout), in one write. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char b[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(b) - 2)
		n = sizeof(b) - 2;
	b[n++] = '\n';
	hf_write_all(1, b, (size_t)n);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		say("%s: out of memory (%zu bytes)", prog, n);
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

/* s as a JSON string's contents (no quotes), into out (size outsz, always terminated). */
static void json_escape(char *out, size_t outsz, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < outsz; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
}

/* {"errorMessage":MSG,"errorType":TYPE}, malloc'ed; its length in *len. */
static char *error_json(const char *type, size_t *len, const char *fmt, ...)
{
	char msg[1024], emsg[6 * 1024], etype[6 * ERRTYPE_MAX + 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_escape(emsg, sizeof(emsg), msg);
	json_escape(etype, sizeof(etype), type);
	size_t n = strlen(emsg) + strlen(etype) + 64;
	char *b = xmalloc(n);
	*len = (size_t)snprintf(b, n, "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", emsg, etype);
	return b;
}

/* A field of the INVOKE line or an error type: visible ASCII, no spaces. */
static int visible(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return 0;
	return 1;
}

/* Decimal, no sign, no leading zeros, at most max. */
static int parse_len(const char *s, unsigned long long max, size_t *out)
{
	unsigned long long v = 0;
	if (!*s || strlen(s) > 19 || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* Standard base64 (padding optional) of n bytes at in, into out (at least n * 3 / 4 + 3
 * bytes). Returns the decoded length, or -1 if it is not base64. */
static long base64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int v;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad) /* data after padding */
			return -1;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6 || acc || (pad && (n % 4)))
		return -1; /* a dangling 6 bits, nonzero leftover bits, or bad padding */
	return (long)o;
}

/* ------------------------------------------------------------------ output queues */

/* What a socket still has to send: a, then b, both owned. */
struct out {
	char *a, *b;
	size_t alen, blen, off;
};

static int out_pending(const struct out *o)
{
	return o->off < o->alen + o->blen;
}

static void out_free(struct out *o)
{
	free(o->a);
	free(o->b);
	memset(o, 0, sizeof(*o));
}

/* Queue a message (taking a and b); what is still pending goes first. */
static void out_queue(struct out *o, char *a, size_t alen, char *b, size_t blen)
{
	if (!out_pending(o)) {
		out_free(o);
		*o = (struct out){.a = a, .b = b, .alen = alen, .blen = blen};
		return;
	}
	size_t rest = o->alen + o->blen - o->off, k = 0;
	char *n = xmalloc(rest + alen + blen);
	if (o->off < o->alen) {
		memcpy(n, o->a + o->off, o->alen - o->off);
		k = o->alen - o->off;
		memcpy(n + k, o->b, o->blen);
		k += o->blen;
	} else {
		memcpy(n, o->b + (o->off - o->alen), rest);
		k = rest;
	}
	memcpy(n + k, a, alen);
	if (blen)
		memcpy(n + k + alen, b, blen);
	free(a);
	free(b);
	out_free(o);
	*o = (struct out){.a = n, .alen = rest + alen + blen};
}

/* Send what the socket takes now: 1 all sent, 0 more to send, -1 the connection failed. */
static int out_flush(int fd, struct out *o)
{
	while (out_pending(o)) {
		struct iovec v[2];
		int n = 0;
		if (o->off < o->alen) {
			v[n++] = (struct iovec){o->a + o->off, o->alen - o->off};
			if (o->blen)
				v[n++] = (struct iovec){o->b, o->blen};
		} else {
			v[n++] = (struct iovec){o->b + (o->off - o->alen), o->blen - (o->off - o->alen)};
		}
		ssize_t w = writev(fd, v, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		o->off += (size_t)w;
	}
	out_free(o);
	return 1;
}

/* Flush, waiting up to ms milliseconds: 1 all sent, 0 not in time, -1 failed. */
static int out_flush_wait(int fd, struct out *o, int ms)
{
	long long end = now_ms() + ms;
	for (;;) {
		int r = out_flush(fd, o);
		long long left = end - now_ms();
		if (r != 0 || left <= 0)
			return r;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		poll(&p, 1, (int)left);
	}
}

/* ------------------------------------------------------------------------ state */

static int warm;            /* hf.lambda=warm: no fork, invocation after invocation */
static int init_done;       /* the runtime asked for its first invocation */
static int accepting;       /* invocations may be taken (after the fork, or warm) */
static pid_t runtime_pid = -1;
static char **runtime_argv;
static int tcp_fd = -1, vlisten = -1;
static int sig_pipe[2] = {-1, -1};

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
	char *data; /* client context, then payload */
	size_t ctxlen, paylen, have;
	struct out out;
} vc = {.fd = -1};

/* HTTP connections from the runtime. */
enum hstate {
	H_HEAD,   /* reading a request's head */
	H_BODY,   /* reading its body */
	H_PARKED, /* a /next waiting for an invocation */
	H_LINGER, /* closing: answer sent, discarding input until the client closes */
};
enum route { R_NONE, R_NEXT, R_RESPONSE, R_ERROR, R_INIT_ERROR };
enum chunk { C_SIZE, C_DATA, C_DATA_END, C_TRAILER };
struct hconn {
	int fd;
	enum hstate st;
	unsigned long long seq; /* accept order */
	char *in;               /* HEAD_MAX bytes */
	size_t inlen;
	/* the request being read */
	enum route route;
	char id[TARGET_MAX];
	char errtype[ERRTYPE_MAX + 1];
	int close;   /* Connection: close or HTTP/1.0 */
	int chunked; /* else clen bytes */
	size_t clen;
	char *body;
	size_t blen, bcap;
	enum chunk cst;
	size_t cleft;
	/* output */
	struct out out;
	int close_after; /* once out is sent */
	int dead;        /* to be closed by the main loop */
	long long linger_end;
	size_t lingered;
};
static struct hconn *conns[MAX_CONNS];
static unsigned long long conn_seq;

/* ---------------------------------------------------------------- ending the VM */

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

/* Give what is queued a moment to leave, then end the VM with hf-done 1. */
static void end_vm(void)
{
	if (vc.fd >= 0 && !vc.gone && out_pending(&vc.out))
		out_flush_wait(vc.fd, &vc.out, 10000);
	if (vc.fd >= 0 && !vc.gone && !out_pending(&vc.out) && vc.st == V_ANSWERING)
		wait_peer_close(vc.fd, 5000);
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] && out_pending(&conns[i]->out))
			out_flush_wait(conns[i]->fd, &conns[i]->out, 500);
	char *argv[] = {"hf-done", "1", NULL};
	execvp(argv[0], argv);
	say("%s: cannot run hf-done: %s", prog, strerror(errno));
	exit(1);
}

/* Send the host an answer line (and take body) on the connection of the invocation. */
static void host_answer(const char *kind, const char *type, char *body, size_t blen)
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

/* An error type as it may stand in an answer line: visible ASCII (others become '_'),
 * at most ERRTYPE_MAX bytes, "-" if none. */
static void clean_type(char *out, const char *in)
{
	size_t n = 0;
	for (; in[n] && n < ERRTYPE_MAX; n++)
		out[n] = in[n] >= 0x21 && in[n] <= 0x7e ? in[n] : '_';
	out[n] = 0;
	if (!n)
		strcpy(out, "-");
}

/* The runtime failed its init: say so, tell a host already waiting (warm mode), end. */
static void init_error(const char *type, char *body, size_t blen)
{
	char shown[SHOW_MAX + 4];
	size_t n = blen < SHOW_MAX ? blen : SHOW_MAX;
	for (size_t i = 0; i < n; i++)
		shown[i] = (unsigned char)body[i] >= 0x20 && body[i] != 0x7f ? body[i] : ' ';
	strcpy(shown + n, blen > SHOW_MAX ? "..." : "");
	say("HF-LAMBDA-INIT-ERROR %s %s", type, shown);
	if (vc.fd >= 0 && !vc.gone)
		host_answer("INIT_ERROR", type, body, blen);
	else
		free(body);
	end_vm();
}

/* How a process ended, as Go's os/exec says it (what Lambda reports). */
static void exit_reason(int status, char *out, size_t n)
{
	if (WIFEXITED(status)) {
		snprintf(out, n, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(out, n, "signal: %s", strsignal(WTERMSIG(status)));
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	} else {
		snprintf(out, n, "status 0x%x", status);
	}
}

static void runtime_exited(int status)
{
	char why[128], msg[256];
	size_t blen;
	runtime_pid = -1;
	exit_reason(status, why, sizeof(why));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		snprintf(msg, sizeof(msg), "Runtime exited without providing a reason");
	else
		snprintf(msg, sizeof(msg), "Runtime exited with error: %s", why);
	if (!init_done) {
		char *b = error_json("Runtime.ExitError", &blen, "%s", msg);
		init_error("Runtime.ExitError", b, blen);
	}
	say("HF-LAMBDA-RUNTIME-EXIT %s", why);
	if (vc.fd >= 0 && (vc.st == V_LINE || vc.st == V_DATA)) {
		vc_close(); /* no invocation yet: the host sees the connection close */
	} else if (vc.fd >= 0 && (vc.st == V_READY || vc.st == V_DELIVERED)) {
		char *b = error_json("Runtime.ExitError", &blen, "RequestId: %s Error: %s", vc.id, msg);
		host_answer("ERROR", "Runtime.ExitError", b, blen);
	}
	end_vm();
}

static void reap(void)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == runtime_pid)
			runtime_exited(st);
}

/* ----------------------------------------------------------------------- fork */

/* hf-fork: returns in the original (0) and in each clone (N). Fails: the VM ends. */
static void run_fork(void)
{
	int p[2];
	char out[64];
	size_t n = 0;
	int st = 0;
	if (pipe2(p, O_CLOEXEC) < 0) {
		say("HF-LAMBDA-FORK-FAILED pipe: %s", strerror(errno));
		end_vm();
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		char *argv[] = {"hf-fork", NULL};
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run hf-fork: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		say("HF-LAMBDA-FORK-FAILED fork: %s", strerror(errno));
		end_vm();
	}
	for (;;) {
		ssize_t r = read(p[0], out + n, sizeof(out) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof(out) - 1)
			break;
	}
	close(p[0]);
	out[n] = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	size_t clone;
	if (n && out[n - 1] == '\n')
		out[--n] = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || parse_len(out, 0xffffffffu, &clone) < 0) {
		char why[64];
		exit_reason(st, why, sizeof(why));
		say("HF-LAMBDA-FORK-FAILED hf-fork: %s, printed '%s'", why, out);
		end_vm();
	}
}

/* ------------------------------------------------------------- HTTP responses */

static const char *status_text(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Request Entity Too Large";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

/* Queue a response (taking body) and send what can be sent. With close set, or if the
 * request asked for it, the connection closes after it. */
static void respond(struct hconn *c, int code, const char *headers, char *body, size_t blen,
		    int close_it)
{
	char *h = xmalloc(512 + strlen(headers));
	if (close_it)
		c->close = 1;
	int n = snprintf(h, 512 + strlen(headers),
			 "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n%s\r\n", code, status_text(code),
			 headers, blen, c->close ? "Connection: close\r\n" : "");
	out_queue(&c->out, h, (size_t)n, body, blen);
	if (c->close)
		c->close_after = 1;
	if (out_flush(c->fd, &c->out) < 0)
		c->dead = 1;
}

static void respond_json(struct hconn *c, int code, char *body, size_t blen, int close_it)
{
	respond(c, code, "Content-Type: application/json\r\n", body, blen, close_it);
}

__attribute__((format(printf, 4, 5))) static void respond_error(struct hconn *c, int code,
								 const char *type,
								 const char *fmt, ...)
{
	char msg[1024];
	size_t blen;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char *b = error_json(type, &blen, "%s", msg);
	/* After a malformed request, or one whose body is not read, nothing more can be read
	 * from the connection: it closes. */
	respond_json(c, code, b, blen, !strcmp(type, "BadRequest") || code == 413);
}

static void respond_accepted(struct hconn *c)
{
	respond_json(c, 202, xstrdup("{\"status\":\"OK\"}"), 15, 0);
}

/* -------------------------------------------------------------- the invocation */

/* Give the invocation to the oldest parked /next, if both are there. */
static void try_deliver(void)
{
	if (vc.st != V_READY)
		return;
	struct hconn *c = NULL;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct hconn *k = conns[i];
		if (!k || k->dead || k->st != H_PARKED || (c && k->seq > c->seq))
			continue;
		/* not to a /next whose client has gone since the last poll */
		struct pollfd p = {.fd = k->fd, .events = POLLRDHUP};
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			k->dead = 1;
		else
			c = k;
	}
	if (!c)
		return;
	char *ctx = NULL;
	if (vc.ctxlen) { /* the X-Amz-Client-Context value decoded, as real runtimes expect */
		ctx = xmalloc(vc.ctxlen + 4);
		long k = base64_decode(vc.data, vc.ctxlen, (unsigned char *)ctx);
		for (long i = 0; i < k; i++) /* a header value: no CR, LF or other controls */
			if ((unsigned char)ctx[i] < 0x20 || ctx[i] == 0x7f)
				ctx[i] = ' ';
		ctx[k < 0 ? 0 : k] = 0;
	}
	size_t hmax = 1024 + 3 * HF_LAMBDA_LINE_MAX + (ctx ? strlen(ctx) : 0);
	char *h = xmalloc(hmax);
	int n = snprintf(h, hmax,
			 "Content-Type: application/json\r\n"
			 "Lambda-Runtime-Aws-Request-Id: %s\r\n"
			 "Lambda-Runtime-Deadline-Ms: %s\r\n"
			 "Lambda-Runtime-Invoked-Function-Arn: %s\r\n",
			 vc.id, vc.deadline, vc.arn);
	if (strcmp(vc.trace, "-"))
		n += snprintf(h + n, hmax - (size_t)n, "Lambda-Runtime-Trace-Id: %s\r\n", vc.trace);
	if (ctx && *ctx)
		n += snprintf(h + n, hmax - (size_t)n, "Lambda-Runtime-Client-Context: %s\r\n", ctx);
	free(ctx);
	/* The payload goes to the runtime as it is: move it out of vc.data. */
	char *payload = xmalloc(vc.paylen);
	memcpy(payload, vc.data + vc.ctxlen, vc.paylen);
	free(vc.data);
	vc.data = NULL;
	vc.st = V_DELIVERED;
	c->st = H_HEAD;
	respond(c, 200, h, payload, vc.paylen, 0);
	free(h);
}

/* The INVOKE line: "INVOKE id deadline arn trace ctxlen paylen". 0 if valid. */
static int parse_invoke(char *l)
{
	char *f[8];
	int n = 0;
	for (char *p = l;; p++) {
		if (n == 8)
			return -1;
		f[n++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p = 0;
	}
	if (n != 7 || strcmp(f[0], "INVOKE"))
		return -1;
	for (int i = 1; i < 7; i++)
		if (!visible(f[i]))
			return -1;
	/* The request id stands in a URL path and in JSON: none of / ? # % " \ there. */
	if (strpbrk(f[1], "/?#%\"\\"))
		return -1;
	size_t dl;
	if (parse_len(f[2], ~0ull, &dl) < 0 || parse_len(f[5], CTX_MAX, &vc.ctxlen) < 0 ||
	    parse_len(f[6], HF_LAMBDA_MAX_PAYLOAD, &vc.paylen) < 0)
		return -1;
	strcpy(vc.id, f[1]);
	strcpy(vc.deadline, f[2]);
	strcpy(vc.arn, f[3]);
	strcpy(vc.trace, f[4]);
	return 0;
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
			if (!warm && vlisten >= 0) { /* one invocation per clone */
				close(vlisten);
				vlisten = -1;
			}
			return 0;
		}
	}
}

/* ----------------------------------------------------------- runtime requests */

/* GET .../invocation/next */
static void on_next(struct hconn *c)
{
	if (vc.st == V_DELIVERED) {
		respond_error(c, 403, "InvalidStateTransition",
			      "State transition from RuntimeInvocationNext to InvocationNext failed "
			      "for runtime: invocation %s has not been answered", vc.id);
		return;
	}
	if (!init_done) {
		init_done = 1;
		if (!warm)
			run_fork(); /* returns in each clone */
		accepting = 1;
	}
	c->st = H_PARKED;
	try_deliver();
}

/* POST .../invocation/ID/response or /error, the body read (or too large). */
static void on_answer(struct hconn *c, int is_error, int too_large)
{
	char *body = c->body;
	size_t blen = c->blen;
	c->body = NULL;
	c->blen = c->bcap = 0;
	if (vc.st != V_DELIVERED) {
		free(body);
		respond_error(c, 403, "InvalidStateTransition",
			      "State transition to %s failed for runtime: no invocation awaits an "
			      "answer", is_error ? "InvocationErrorResponse" : "InvocationResponse");
		return;
	}
	if (strcmp(c->id, vc.id)) {
		free(body);
		respond_error(c, 400, "InvalidRequestID", "Invalid request ID");
		return;
	}
	if (too_large) {
		free(body);
		size_t n;
		char *b = error_json("Function.ResponseSizeTooLarge", &n,
				     "Response payload size exceeded maximum allowed payload size "
				     "(%u bytes).", HF_LAMBDA_MAX_PAYLOAD);
		host_answer("ERROR", "Function.ResponseSizeTooLarge", b, n);
		respond_error(c, 413, "RequestEntityTooLarge",
			      "Exceeded maximum allowed payload size (%u bytes).",
			      HF_LAMBDA_MAX_PAYLOAD);
		return;
	}
	if (is_error) {
		char type[ERRTYPE_MAX + 2];
		clean_type(type, c->errtype);
		host_answer("ERROR", type, body, blen);
	} else {
		host_answer("RESPONSE", NULL, body, blen);
	}
	respond_accepted(c);
}

/* POST .../init/error */
static void on_init_error(struct hconn *c, int too_large)
{
	if (init_done) {
		respond_error(c, 403, "InvalidStateTransition",
			      "State transition from RuntimeReady to InitError failed for runtime: "
			      "init is over");
		return;
	}
	if (too_large) {
		respond_error(c, 413, "RequestEntityTooLarge",
			      "Exceeded maximum allowed payload size (%u bytes).",
			      HF_LAMBDA_MAX_PAYLOAD);
		return;
	}
	char type[ERRTYPE_MAX + 2];
	clean_type(type, c->errtype);
	char *body = c->body;
	size_t blen = c->blen;
	c->body = NULL;
	c->blen = c->bcap = 0;
	if (!body)
		body = xstrdup("");
	respond_accepted(c);
	init_error(type, body, blen);
}

/* The whole request is in: act on it. */
static void dispatch(struct hconn *c, int too_large)
{
	c->st = H_HEAD;
	switch (c->route) {
	case R_NEXT:
		on_next(c);
		break;
	case R_RESPONSE:
	case R_ERROR:
		on_answer(c, c->route == R_ERROR, too_large);
		break;
	case R_INIT_ERROR:
		on_init_error(c, too_large);
		break;
	default:
		break;
	}
	free(c->body);
	c->body = NULL;
	c->blen = c->bcap = 0;
}

/* ----------------------------------------------------------------- HTTP parsing */

static int tchar(int ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Which API path and method; sets c->route and c->id. Returns 0, 404 or 405. */
static int route(struct hconn *c, const char *method, const char *path)
{
	const char *p;
	size_t n;
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	c->route = R_NONE;
	if (!strcmp(path, API "invocation/next")) {
		c->route = R_NEXT;
		return get ? 0 : 405;
	}
	if (!strcmp(path, API "init/error")) {
		c->route = R_INIT_ERROR;
		return post ? 0 : 405;
	}
	if (strncmp(path, API "invocation/", strlen(API "invocation/")))
		return 404;
	p = path + strlen(API "invocation/");
	n = strcspn(p, "/");
	if (!n || n >= sizeof(c->id))
		return 404;
	if (!strcmp(p + n, "/response"))
		c->route = R_RESPONSE;
	else if (!strcmp(p + n, "/error"))
		c->route = R_ERROR;
	else
		return 404;
	memcpy(c->id, p, n);
	c->id[n] = 0;
	return post ? 0 : 405;
}

/* The head is in c->in[0..len) (without the blank line). 0: go on reading the body (or
 * dispatch); otherwise a response was queued. */
static int parse_head(struct hconn *c, char *head, size_t len)
{
	char *lines[HEADERS_MAX + 1];
	int nl = 0;
	head[len] = 0;
	if (memchr(head, 0, len)) {
		respond_error(c, 400, "BadRequest", "NUL in the request head");
		return -1;
	}
	/* Split into lines (CRLF, or a bare LF); no other control characters. */
	for (char *p = head; p < head + len;) {
		char *e = strchr(p, '\n');
		if (!e)
			e = head + len;
		*e = 0;
		if (e > p && e[-1] == '\r')
			e[-1] = 0;
		for (char *q = p; *q; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) {
				respond_error(c, 400, "BadRequest", "control character in the request head");
				return -1;
			}
		if (nl == HEADERS_MAX + 1) {
			respond_error(c, 431, "BadRequest", "more than %d header lines", HEADERS_MAX);
			return -1;
		}
		lines[nl++] = p;
		p = e + 1;
	}
	if (!nl) {
		respond_error(c, 400, "BadRequest", "empty request");
		return -1;
	}
	/* METHOD SP TARGET SP VERSION */
	char *method = lines[0], *target = strchr(method, ' '), *version;
	if (!target || !(version = strchr(target + 1, ' ')) || strchr(version + 1, ' ')) {
		respond_error(c, 400, "BadRequest", "malformed request line");
		return -1;
	}
	*target++ = 0;
	*version++ = 0;
	for (char *q = method; *q; q++)
		if (!tchar(*q)) {
			respond_error(c, 400, "BadRequest", "malformed method");
			return -1;
		}
	if (!*method || target[0] != '/' || strlen(target) >= TARGET_MAX) {
		respond_error(c, 400, "BadRequest", "malformed request target");
		return -1;
	}
	if (!strcmp(version, "HTTP/1.1")) {
		c->close = 0;
	} else if (!strcmp(version, "HTTP/1.0")) {
		c->close = 1;
	} else if (!strncmp(version, "HTTP/", 5)) {
		respond_error(c, 505, "BadRequest", "HTTP/1.1 only");
		return -1;
	} else {
		respond_error(c, 400, "BadRequest", "malformed HTTP version");
		return -1;
	}
	int have_clen = 0, expect100 = 0;
	c->chunked = 0;
	c->clen = 0;
	c->errtype[0] = 0;
	for (int i = 1; i < nl; i++) {
		char *name = lines[i], *colon = strchr(name, ':'), *v, *end;
		if (name[0] == ' ' || name[0] == '\t') {
			respond_error(c, 400, "BadRequest", "folded header line");
			return -1;
		}
		if (!colon || colon == name) {
			respond_error(c, 400, "BadRequest", "malformed header line");
			return -1;
		}
		*colon = 0;
		for (char *q = name; *q; q++)
			if (!tchar(*q)) {
				respond_error(c, 400, "BadRequest", "malformed header name");
				return -1;
			}
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = 0;
		if (!strcasecmp(name, "Content-Length")) {
			size_t n;
			if (parse_len(v, ~0ull >> 1, &n) < 0 || (have_clen && n != c->clen)) {
				respond_error(c, 400, "BadRequest", "bad Content-Length");
				return -1;
			}
			have_clen = 1;
			c->clen = n;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			if (strcasecmp(v, "chunked") || c->chunked) {
				respond_error(c, 501, "BadRequest", "Transfer-Encoding: chunked only");
				return -1;
			}
			c->chunked = 1;
		} else if (!strcasecmp(name, "Expect")) {
			if (strcasecmp(v, "100-continue")) {
				respond_error(c, 417, "BadRequest", "Expect: 100-continue only");
				return -1;
			}
			expect100 = 1;
		} else if (!strcasecmp(name, "Connection")) {
			/* a token list: close anywhere in it */
			for (char *t = v; *t;) {
				size_t k = strcspn(t, ", \t");
				if (k == 5 && !strncasecmp(t, "close", 5))
					c->close = 1;
				t += k;
				t += strspn(t, ", \t");
			}
		} else if (!strcasecmp(name, "Lambda-Runtime-Function-Error-Type")) {
			snprintf(c->errtype, sizeof(c->errtype), "%s", v);
		}
	}
	if (have_clen && c->chunked) {
		respond_error(c, 400, "BadRequest", "both Content-Length and Transfer-Encoding");
		return -1;
	}
	/* Route (the query string, if any, is not part of it). */
	target[strcspn(target, "?")] = 0;
	int has_body = c->chunked || c->clen > 0;
	int r = route(c, method, target);
	if (r) {
		char *b;
		size_t blen;
		b = error_json(r == 404 ? "NotFound" : "MethodNotAllowed", &blen, "%s %s: %s",
			       method, target, r == 404 ? "no such path" : "method not allowed");
		respond_json(c, r, b, blen, has_body);
		return -1;
	}
	if (c->clen > HF_LAMBDA_MAX_PAYLOAD) { /* no 100 Continue: answered at once, closed */
		c->close = 1; /* the body is not read */
		if (c->route == R_NEXT)
			respond_error(c, 413, "RequestEntityTooLarge",
				      "Exceeded maximum allowed payload size (%u bytes).",
				      HF_LAMBDA_MAX_PAYLOAD);
		else
			dispatch(c, 1);
		c->close_after = 1;
		return -1;
	}
	c->body = NULL;
	c->blen = c->bcap = 0;
	c->cst = C_SIZE;
	if (has_body && expect100) {
		out_queue(&c->out, xstrdup("HTTP/1.1 100 Continue\r\n\r\n"), 25, NULL, 0);
		if (out_flush(c->fd, &c->out) < 0)
			c->dead = 1;
	}
	return 0;
}

/* Append n bytes to the body. -1 if that makes it too large. */
static int body_add(struct hconn *c, const char *p, size_t n)
{
	if (!n)
		return 0;
	if (c->blen + n > HF_LAMBDA_MAX_PAYLOAD)
		return -1;
	if (c->blen + n > c->bcap) {
		size_t cap = c->bcap ? c->bcap * 2 : 64 * 1024;
		while (cap < c->blen + n)
			cap *= 2;
		if (cap > HF_LAMBDA_MAX_PAYLOAD)
			cap = HF_LAMBDA_MAX_PAYLOAD;
		char *b = realloc(c->body, cap);
		if (!b) {
			say("%s: out of memory", prog);
			exit(1);
		}
		c->body = b;
		c->bcap = cap;
	}
	memcpy(c->body + c->blen, p, n);
	c->blen += n;
	return 0;
}

/* A line of the chunked framing from c->in at *pos: its length, or -1 (incomplete),
 * -2 (too long). */
static long chunk_line(struct hconn *c, size_t pos, char **line)
{
	char *e = memchr(c->in + pos, '\n', c->inlen - pos);
	if (!e)
		return c->inlen - pos > 4096 ? -2 : -1;
	*line = c->in + pos;
	return e - (c->in + pos) + 1;
}

/* Take body bytes from c->in. 1 the body is complete, 0 more needed, -1 a response was
 * queued (the connection closes). */
static int read_body(struct hconn *c, size_t *used)
{
	size_t pos = 0;
	int ret = 0;
	if (!c->chunked) {
		size_t n = c->inlen < c->clen - c->blen ? c->inlen : c->clen - c->blen;
		body_add(c, c->in, n); /* clen was checked */
		pos = n;
		ret = c->blen == c->clen;
		*used = pos;
		return ret;
	}
	while (!ret) {
		char *l;
		long ln;
		if (c->cst == C_SIZE || c->cst == C_DATA_END || c->cst == C_TRAILER) {
			ln = chunk_line(c, pos, &l);
			if (ln == -1)
				break;
			if (ln == -2)
				goto bad;
			pos += (size_t)ln;
			size_t k = (size_t)ln - 1; /* without the LF; and a CR before it */
			if (k && l[k - 1] == '\r')
				k--;
			if (c->cst == C_DATA_END) {
				if (k)
					goto bad;
				c->cst = C_SIZE;
			} else if (c->cst == C_TRAILER) {
				if (!k)
					ret = 1; /* the end of the trailers */
			} else {
				size_t v = 0, d = 0;
				for (; d < k && isxdigit((unsigned char)l[d]); d++) {
					if (d >= 8)
						goto bad;
					v = v * 16 + (size_t)(isdigit((unsigned char)l[d])
								  ? l[d] - '0'
								  : (tolower((unsigned char)l[d]) - 'a' + 10));
				}
				if (!d || (d < k && l[d] != ';' && l[d] != ' ' && l[d] != '\t'))
					goto bad;
				if (c->blen + v > HF_LAMBDA_MAX_PAYLOAD) {
					*used = pos;
					c->close = 1; /* the rest is not read */
					if (c->route == R_NEXT)
						respond_error(c, 413, "RequestEntityTooLarge",
							      "Exceeded maximum allowed payload size "
							      "(%u bytes).", HF_LAMBDA_MAX_PAYLOAD);
					else
						dispatch(c, 1);
					c->close_after = 1;
					return -1;
				}
				c->cleft = v;
				c->cst = v ? C_DATA : C_TRAILER;
			}
		} else { /* C_DATA */
			size_t n = c->inlen - pos < c->cleft ? c->inlen - pos : c->cleft;
			if (!n)
				break;
			body_add(c, c->in + pos, n);
			pos += n;
			c->cleft -= n;
			if (!c->cleft)
				c->cst = C_DATA_END;
		}
	}
	*used = pos;
	return ret;
bad:
	*used = pos;
	respond_error(c, 400, "BadRequest", "malformed chunked body");
	return -1;
}

static void consume(struct hconn *c, size_t n)
{
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
}

/* Act on what c->in holds, as far as the connection's state allows. */
static void process(struct hconn *c)
{
	for (;;) {
		if (c->dead || c->close_after || c->st == H_PARKED || c->st == H_LINGER)
			return;
		if (c->st == H_HEAD) {
			if (out_pending(&c->out)) /* answer the previous request first */
				return;
			/* skip empty lines before a request (RFC 9112 2.2) */
			while (c->inlen && (c->in[0] == '\r' || c->in[0] == '\n'))
				consume(c, 1);
			char *e = NULL;
			size_t hl = 0;
			for (size_t i = 0; i + 1 < c->inlen; i++) {
				if (c->in[i] == '\n' && c->in[i + 1] == '\n') {
					e = c->in + i;
					hl = i + 2;
					break;
				}
				if (c->in[i] == '\n' && c->in[i + 1] == '\r' && i + 2 < c->inlen &&
				    c->in[i + 2] == '\n') {
					e = c->in + i;
					hl = i + 3;
					break;
				}
			}
			if (!e) {
				if (c->inlen >= HEAD_MAX - 1)
					respond_error(c, 431, "BadRequest", "request head over %d bytes",
						      HEAD_MAX);
				return;
			}
			size_t len = (size_t)(e - c->in);
			char *head = xmalloc(len + 1);
			memcpy(head, c->in, len);
			consume(c, hl);
			int r = parse_head(c, head, len);
			free(head);
			if (r < 0)
				return;
			c->st = H_BODY;
		}
		if (c->st == H_BODY) {
			size_t used = 0;
			int r = read_body(c, &used);
			if (r < 0)
				return;
			consume(c, used);
			if (!r)
				return;
			dispatch(c, 0);
			continue;
		}
		return;
	}
}

/* ------------------------------------------------------------- connections */

static void conn_close(struct hconn *c)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	close(c->fd);
	free(c->in);
	free(c->body);
	out_free(&c->out);
	free(c);
}

static void conn_accept(void)
{
	int i;
	for (i = 0; i < MAX_CONNS && conns[i]; i++)
		;
	int fd = accept4(tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (i == MAX_CONNS) {
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct hconn *c = xmalloc(sizeof(*c));
	*c = (struct hconn){.fd = fd, .seq = ++conn_seq, .in = xmalloc(HEAD_MAX)};
	conns[i] = c;
}

static void linger(struct hconn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->st = H_LINGER;
	c->linger_end = now_ms() + LINGER_MS;
}

static void conn_io(struct hconn *c, short rev)
{
	if (out_pending(&c->out) && (rev & (POLLOUT | POLLERR | POLLHUP)) &&
	    out_flush(c->fd, &c->out) < 0) {
		c->dead = 1;
		return;
	}
	if (c->st == H_PARKED) {
		if (rev & (POLLRDHUP | POLLHUP | POLLERR)) /* the runtime gave up waiting */
			c->dead = 1;
		return;
	}
	if (c->st == H_LINGER) {
		if (rev & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) {
			char junk[16384];
			ssize_t r = read(c->fd, junk, sizeof(junk));
			if (r > 0)
				c->lingered += (size_t)r;
			if ((r < 0 && errno != EAGAIN && errno != EINTR) || r == 0 ||
			    c->lingered > LINGER_BYTES)
				c->dead = 1;
		}
		return;
	}
	if (!(rev & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)))
		return;
	while (!c->dead && !c->close_after && (c->st == H_HEAD || c->st == H_BODY) &&
	       c->inlen < HEAD_MAX - 1) {
		ssize_t r = read(c->fd, c->in + c->inlen, HEAD_MAX - 1 - c->inlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) { /* the client closed (or failed): answer what came, then close */
			c->close = 1;
			process(c);
			if (out_pending(&c->out) && r == 0)
				c->close_after = 1;
			else
				c->dead = 1;
			break;
		}
		c->inlen += (size_t)r;
		process(c);
	}
}

/* After a turn of the main loop: deliver an invocation to a waiting /next; close what is
 * over; go on with requests a response held back; start closing what was answered for the
 * last time. */
static void after_io(void)
{
	try_deliver();
	for (int i = 0; i < MAX_CONNS; i++) {
		struct hconn *c = conns[i];
		if (c && !c->dead && c->st == H_HEAD && c->inlen && !out_pending(&c->out))
			process(c);
		if (c && c->dead)
			conn_close(c);
		else if (c && c->close_after && !out_pending(&c->out) && c->st != H_LINGER)
			linger(c);
	}
}

/* Built without what follows (-DHF_LAMBDA_NO_MAIN), the agent is a library of the above for
 * tests/fuzz/fuzz_runtime_api.c, which drives the connections itself. */
#ifndef HF_LAMBDA_NO_MAIN

/* ------------------------------------------------------------------- setup */

static void on_sigchld(int sig)
{
	(void)sig;
	int e = errno;
	if (write(sig_pipe[1], "c", 1) < 0) {
		/* the pipe is full: a wakeup is pending anyway */
	}
	errno = e;
}

/* A non-blocking listening socket of family at address a, or -1. */
static int listener(int family, const void *a, socklen_t alen, int backlog)
{
	int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	if (s < 0)
		return -1;
	if (family == AF_INET)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (const struct sockaddr *)a, alen) < 0 || listen(s, backlog) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int listen_tcp(void)
{
	char host[64];
	const char *colon = strrchr(HF_LAMBDA_RUNTIME_API, ':');
	struct sockaddr_in a = {.sin_family = AF_INET};
	snprintf(host, sizeof(host), "%.*s", (int)(colon - HF_LAMBDA_RUNTIME_API),
		 HF_LAMBDA_RUNTIME_API);
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -1;
	return listener(AF_INET, &a, sizeof(a), 64);
}

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

/* hf.lambda=warm|fork on the kernel command line (HF_LAMBDA_MODE overrides it). */
static int read_mode(void)
{
	char b[4096], *mode = getenv("HF_LAMBDA_MODE");
	if (!mode) {
		int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, b, sizeof(b) - 1) : -1;
		if (fd >= 0)
			close(fd);
		b[n > 0 ? n : 0] = 0;
		for (char *t = strtok(b, " \t\n"); t; t = strtok(NULL, " \t\n"))
			if (!strncmp(t, "hf.lambda=", 10))
				mode = t + 10;
	}
	if (!mode || !strcmp(mode, "fork"))
		return 0;
	if (!strcmp(mode, "warm"))
		return 1;
	say("%s: unknown hf.lambda=%s (warm or fork)", prog, mode);
	exit(1);
}

/* Start the runtime; its exec failing is an init error. */
static void start_runtime(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		say("%s: pipe: %s", prog, strerror(errno));
		exit(1);
	}
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		int fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
		execvp(runtime_argv[0], runtime_argv);
		int e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		say("%s: fork: %s", prog, strerror(errno));
		exit(1);
	}
	runtime_pid = pid;
	int e = 0;
	ssize_t r;
	while ((r = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (r == (ssize_t)sizeof(e)) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		runtime_pid = -1;
		char err[128];
		snprintf(err, sizeof(err), "%s", strerror(e));
		err[0] = (char)tolower((unsigned char)err[0]);
		size_t blen;
		char *b = error_json("Runtime.InvalidEntrypoint", &blen, "fork/exec %s: %s",
				     runtime_argv[0], err);
		init_error("Runtime.InvalidEntrypoint", b, blen);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: hf-lambda BOOTSTRAP [ARG...]\n");
		return 2;
	}
	runtime_argv = argv + 1;
	warm = read_mode();
	const char *unix_path = getenv("HF_LAMBDA_LISTEN");
	char *up = unix_path ? xstrdup(unix_path) : NULL;
	unsetenv("HF_LAMBDA_LISTEN");
	unsetenv("HF_LAMBDA_MODE");

	signal(SIGPIPE, SIG_IGN);
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		say("%s: pipe: %s", prog, strerror(errno));
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
	sigaction(SIGCHLD, &sa, NULL);

	tcp_fd = listen_tcp();
	if (tcp_fd < 0) {
		say("%s: cannot listen on %s: %s", prog, HF_LAMBDA_RUNTIME_API, strerror(errno));
		return 1;
	}
	vlisten = listen_host(up);
	if (vlisten < 0) {
		say("%s: cannot listen on %s %u: %s", prog, up ? up : "vsock port",
		    up ? 0 : HF_LAMBDA_PORT, strerror(errno));
		return 1;
	}
	accepting = warm;
	say("HF-LAMBDA-READY");
	start_runtime();

	for (;;) {
		struct pollfd p[MAX_CONNS + 4];
		struct hconn *pc[MAX_CONNS];
		int n = 0, ntcp, nvl = -1, nvc = -1, nconn = 0, timeout = -1;
		p[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
		ntcp = n;
		p[n++] = (struct pollfd){.fd = tcp_fd, .events = POLLIN};
		if (accepting && vlisten >= 0 && vc.fd < 0) {
			nvl = n;
			p[n++] = (struct pollfd){.fd = vlisten, .events = POLLIN};
		}
		if (vc.fd >= 0 && !vc.gone) {
			short ev = vc.st == V_LINE || vc.st == V_DATA ? POLLIN
				   : vc.st == V_ANSWERING              ? POLLOUT
									: 0;
			nvc = n;
			p[n++] = (struct pollfd){.fd = vc.fd, .events = ev};
		}
		int first = n;
		long long now = now_ms();
		for (int i = 0; i < MAX_CONNS; i++) {
			struct hconn *c = conns[i];
			if (!c)
				continue;
			short ev = 0;
			if (out_pending(&c->out))
				ev |= POLLOUT;
			if (c->st == H_PARKED)
				ev |= POLLRDHUP;
			else if (c->st == H_LINGER || (!c->close_after && c->inlen < HEAD_MAX - 1))
				ev |= POLLIN | POLLRDHUP;
			if (c->st == H_LINGER) {
				long long left = c->linger_end - now;
				if (left <= 0) {
					conn_close(c);
					continue;
				}
				if (timeout < 0 || left < timeout)
					timeout = (int)left;
			}
			pc[nconn++] = c;
			p[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			say("%s: poll: %s", prog, strerror(errno));
			end_vm();
		}
		if (p[0].revents) {
			char junk[64];
			while (read(sig_pipe[0], junk, sizeof(junk)) > 0)
				;
			reap();
		}
		if (nvc >= 0 && p[nvc].revents) {
			short rev = p[nvc].revents;
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
		}
		if (nvl >= 0 && (p[nvl].revents & POLLIN) && vc.fd < 0) {
			int fd = accept4(vlisten, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd >= 0) {
				vc = (struct vconn){.fd = fd, .st = V_LINE};
				if (vc_read() < 0)
					vc_close();
			}
		}
		for (int i = 0; i < nconn; i++)
			if (p[first + i].revents)
				conn_io(pc[i], p[first + i].revents);
		if (p[ntcp].revents & POLLIN)
			conn_accept();
		after_io();
	}
}
#endif /* HF_LAMBDA_NO_MAIN */
