/* libFuzzer target: hf-lambda's Lambda Runtime API (guest/tools/hf-lambda.c, built in with
 * HF_LAMBDA_NO_MAIN for main's wiring of the parts, and the parts it drives: lambda-http.c,
 * lambda-host.c, lambda-agent.c, lambda-out.c, lambda-util.c; not lambda-runtime.c, as no
 * runtime process runs here), the agent inside Linux guests: what a function (untrusted)
 * sends it over HTTP, and the host's INVOKE line, over real sockets, in warm mode (no
 * hf-fork). The first input byte says whether the runtime's init is over; then a program:
 *   0             a new HTTP connection from the runtime (up to 4)
 *   1 L1 L2 B...  the current connection sends L (<= 4096) bytes
 *   2 I           connection I becomes the current one
 *   3             the current connection shuts its sending side
 *   4 L1 L2 B...  the host sends L bytes (its connection opened first if there is none)
 *   5             the host closes its connection
 * each followed by turns of the agent's loop. What must hold: every byte the agent sends a
 * runtime is a sequence of whole HTTP/1.1 responses (status line, header lines of a known
 * name with no control characters, each once; Content-Length and exactly that body, but for
 * 100 Continue); an invocation's 200 carries no header the agent does not set, whatever the
 * host's client context decodes to; what the host gets is a sequence of answer lines of
 * include/hyperfork/lambda.h (RESPONSE N | ERROR N TYPE | INIT_ERROR N TYPE, TYPE visible
 * ASCII of at most 256 bytes) each followed by N bytes, at most one per connection; the VM
 * ends (hf-done) only from an init error before init is over; the agent never exits. */
#include <assert.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The agent's way out: hf-done ends the VM (here: the input), exit() must not happen. */
static jmp_buf vm_ended;
static int fuzz_execvp(const char *file, char *const argv[])
{
	(void)argv;
	if (strcmp(file, "hf-done")) {
		fprintf(stderr, "the agent ran %s\n", file);
		abort();
	}
	longjmp(vm_ended, 1);
}
static void fuzz_exit(int status)
{
	fprintf(stderr, "the agent exited (status %d)\n", status);
	abort();
}
#define execvp(f, a) fuzz_execvp(f, a)
#define exit(s) fuzz_exit(s)
#undef _GNU_SOURCE
#define HF_LAMBDA_NO_MAIN
#pragma clang diagnostic ignored "-Wunused-function"
#include "../../guest/tools/hf-lambda.c"
#include "../../guest/tools/lambda-agent.c"
#include "../../guest/tools/lambda-host.c"
#include "../../guest/tools/lambda-http.c"
#include "../../guest/tools/lambda-out.c"
#include "../../guest/tools/lambda-util.c"
#undef exit
#undef execvp

#define NCLIENT 4
#define RBUF (1u << 20)

/* A peer's end of a socket and what it has received, not yet checked. */
struct peer {
	int fd;
	char *buf;
	size_t len;
	unsigned answers; /* host: answer lines seen */
};

static struct peer client[NCLIENT], host = {.fd = -1};
static unsigned nclient;
static char lpath[108];

static void bad(const char *what, const struct peer *p)
{
	fprintf(stderr, "runtime API: %s; received so far (%zu bytes): %.*s\n", what, p->len,
		(int)(p->len < 600 ? p->len : 600), p->buf);
	abort();
}

/* The header names an agent's response may carry. */
static int known_header(const char *n, size_t k)
{
	static const char *const names[] = {
		"Content-Type", "Content-Length", "Connection", "Lambda-Runtime-Aws-Request-Id",
		"Lambda-Runtime-Deadline-Ms", "Lambda-Runtime-Invoked-Function-Arn",
		"Lambda-Runtime-Trace-Id", "Lambda-Runtime-Client-Context",
		"Lambda-Runtime-Vm-Generation"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == k && !strncmp(n, names[i], k))
			return (int)i;
	return -1;
}

/* Whole responses at the start of p->buf: checked and dropped. */
static void check_http(struct peer *p)
{
	for (;;) {
		char *end = memmem(p->buf, p->len, "\r\n\r\n", 4);
		if (!end) {
			if (p->len > HEAD_MAX)
				bad("a response head without an end", p);
			return;
		}
		size_t hl = (size_t)(end - p->buf) + 4;
		if (p->len < 13 || memcmp(p->buf, "HTTP/1.1 ", 9) || !isdigit((unsigned char)p->buf[9]) ||
		    !isdigit((unsigned char)p->buf[10]) || !isdigit((unsigned char)p->buf[11]) || p->buf[12] != ' ')
			bad("not a status line", p);
		int code = atoi(p->buf + 9);
		char *line = memchr(p->buf, '\n', hl) + 1;
		long clen = -1;
		unsigned seen = 0;
		while (line < end + 2) {
			char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
			char *colon = memchr(line, ':', (size_t)(eol - line));
			if (!colon || colon[1] != ' ')
				bad("a malformed header line", p);
			int h = known_header(line, (size_t)(colon - line));
			if (h < 0 || (seen & 1u << h))
				bad("an unknown or repeated header", p);
			seen |= 1u << h;
			for (char *q = colon + 2; q < eol; q++)
				if ((unsigned char)*q < 0x20 || *q == 0x7f)
					bad("a control character in a header value", p);
			if (h == 1)
				clen = strtol(colon + 2, NULL, 10);
			line = eol + 2;
		}
		if (code == 100) {
			if (clen >= 0)
				bad("a 100 Continue with a body", p);
			clen = 0;
		} else if (clen < 0) {
			bad("a response without Content-Length", p);
		}
		if (p->len < hl + (size_t)clen)
			return; /* the body is still coming */
		memmove(p->buf, p->buf + hl + clen, p->len - hl - (size_t)clen);
		p->len -= hl + (size_t)clen;
	}
}

/* Whole answer lines (and their bodies) at the start of the host's buffer. */
static void check_host(struct peer *p)
{
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->len);
		if (!nl) {
			if (p->len >= HF_LAMBDA_LINE_MAX)
				bad("an answer line too long", p);
			return;
		}
		char kind[16], type[HF_LAMBDA_LINE_MAX];
		size_t n;
		int k = 0;
		*nl = 0;
		if (sscanf(p->buf, "%15s %zu%n", kind, &n, &k) != 2 || n > HF_LAMBDA_MAX_PAYLOAD)
			bad("a malformed answer line", p);
		const char *rest = p->buf + k;
		if (!strcmp(kind, "RESPONSE")) {
			if (*rest)
				bad("RESPONSE with more", p);
		} else if (!strcmp(kind, "ERROR") || !strcmp(kind, "INIT_ERROR")) {
			if (rest[0] != ' ' || !visible(rest + 1) || strlen(rest + 1) > ERRTYPE_MAX)
				bad("an error type that is not visible ASCII of 1-256 bytes", p);
			snprintf(type, sizeof(type), "%s", rest + 1);
		} else {
			bad("an unknown answer", p);
		}
		*nl = '\n';
		size_t hl = (size_t)(nl - p->buf) + 1;
		if (p->len < hl + n)
			return;
		if (++p->answers > 1)
			bad("two answers on one connection", p);
		memmove(p->buf, p->buf + hl + n, p->len - hl - n);
		p->len -= hl + n;
	}
}

static void drain(struct peer *p, void (*check)(struct peer *))
{
	ssize_t r;
	while (p->fd >= 0 && p->len < RBUF &&
	       (r = recv(p->fd, p->buf + p->len, RBUF - p->len, MSG_DONTWAIT)) > 0) {
		p->len += (size_t)r;
		check(p);
	}
}

/* Turns of the agent's main loop (main() in hf-lambda.c), until nothing more happens. */
static void turn(void)
{
	for (int round = 0; round < 8; round++) {
		if (vc.fd >= 0 && (vc.st == V_LINE || vc.st == V_DATA)) {
			if (vc_read() < 0)
				vc_close();
		} else if (vc.fd >= 0 && vc.st == V_ANSWERING) {
			if (out_flush(vc.fd, &vc.out) != 0)
				vc_close();
		}
		if (vc.fd >= 0 && (vc.st == V_READY || vc.st == V_DELIVERED)) {
			struct pollfd v = {.fd = vc.fd};
			if (poll(&v, 1, 0) > 0 && (v.revents & (POLLHUP | POLLERR))) {
				vc.gone = 1; /* the host gave up on this invocation */
				if (vc.st == V_READY)
					vc_close();
			}
		}
		struct pollfd a = {.fd = tcp_fd, .events = POLLIN};
		for (int i = 0; i < NCLIENT && poll(&a, 1, 0) > 0; i++)
			conn_accept();
		for (int i = 0; i < MAX_CONNS; i++) {
			struct hconn *c = conns[i];
			if (!c)
				continue;
			struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLOUT | POLLRDHUP};
			if (poll(&p, 1, 0) > 0)
				conn_io(c, p.revents);
		}
		after_io();
		for (unsigned i = 0; i < nclient; i++)
			drain(&client[i], check_http);
		drain(&host, check_host);
	}
}

static void reset_agent(int init_over)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			conn_close(conns[i]);
	vc_close();
	agent_setup(1, &wiring); /* warm (invocations taken): hf-fork is not for a fuzzer */
	init_done = init_over;
	conn_seq = 0;
	for (unsigned i = 0; i < nclient; i++) {
		close(client[i].fd);
		client[i].fd = -1;
		client[i].len = 0;
	}
	nclient = 0;
	if (host.fd >= 0)
		close(host.fd);
	host.fd = -1;
	host.len = host.answers = 0;
}

static void host_connect(void)
{
	int sv[2];
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	vc = (struct vconn){.fd = sv[0], .st = V_LINE};
	host.fd = sv[1];
	host.len = host.answers = 0;
}

static char ldir[] = "/tmp/hf-fuzz-lambda.XXXXXX";

static void remove_listener(void)
{
	unlink(lpath);
	rmdir(ldir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	signal(SIGPIPE, SIG_IGN);
	int null = open("/dev/null", O_WRONLY); /* the console (say()) */
	dup2(null, 1);
	close(null);
	assert(mkdtemp(ldir));
	snprintf(lpath, sizeof(lpath), "%s/api", ldir);
	atexit(remove_listener);
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	snprintf(u.sun_path, sizeof(u.sun_path), "%s", lpath);
	tcp_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert(tcp_fd >= 0 && bind(tcp_fd, (struct sockaddr *)&u, sizeof(u)) == 0 &&
	       listen(tcp_fd, 64) == 0);
	for (unsigned i = 0; i < NCLIENT; i++)
		client[i] = (struct peer){.fd = -1, .buf = malloc(RBUF)};
	host.buf = malloc(RBUF);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	int init_over = data[0] & 1;
	reset_agent(init_over);
	unsigned cur = 0;
	volatile int ended = 0;
	if (setjmp(vm_ended)) {
		ended = 1;
		if (init_over)
			bad("the VM ended though init was over", &host);
	}
	for (size_t at = 1; !ended && at < size;) {
		uint8_t op = data[at++] % 6;
		size_t left = size - at;
		if (op == 0 && nclient < NCLIENT) {
			struct sockaddr_un u = {.sun_family = AF_UNIX};
			snprintf(u.sun_path, sizeof(u.sun_path), "%s", lpath);
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			assert(fd >= 0 && connect(fd, (struct sockaddr *)&u, sizeof(u)) == 0);
			cur = nclient;
			client[nclient].len = 0;
			client[nclient++].fd = fd;
		} else if ((op == 1 || op == 4) && left >= 2) {
			size_t n = ((size_t)data[at] | (size_t)data[at + 1] << 8) % 4097;
			at += 2;
			if (n > size - at)
				n = size - at;
			if (op == 4 && host.fd < 0 && vc.fd < 0)
				host_connect();
			int fd = op == 4 ? host.fd : cur < nclient ? client[cur].fd : -1;
			if (fd >= 0 && n)
				send(fd, data + at, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			at += n;
		} else if (op == 2 && left >= 1) {
			cur = data[at++] % NCLIENT;
		} else if (op == 3) {
			if (cur < nclient)
				shutdown(client[cur].fd, SHUT_WR);
		} else if (op == 5) {
			if (host.fd >= 0)
				close(host.fd);
			host.fd = -1;
		} else if (op != 0) {
			break;
		}
		turn();
	}
	if (!ended)
		turn();
	reset_agent(0);
	return 0;
}
