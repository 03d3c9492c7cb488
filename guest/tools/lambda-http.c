/* hf-lambda's HTTP side: the AWS Lambda Runtime API the function's runtime talks to, on
 * HF_LAMBDA_RUNTIME_API (127.0.0.1:9001):
 *   GET  /2018-06-01/runtime/invocation/next         blocks until an invocation; 200, the
 *                                                    payload and the Lambda-Runtime-* headers
 *   POST /2018-06-01/runtime/invocation/ID/response  202, forwarded as RESPONSE
 *   POST /2018-06-01/runtime/invocation/ID/error     202, forwarded as ERROR (type from
 *                                                    Lambda-Runtime-Function-Error-Type)
 *   POST /2018-06-01/runtime/init/error              202; the VM ends (see hf-lambda.c)
 * Errors as the real Runtime API: an answer when no invocation awaits one (none delivered,
 * or already answered) 403 InvalidStateTransition; an answer naming another request id 400
 * InvalidRequestID; a body over HF_LAMBDA_MAX_PAYLOAD 413 (for the awaited invocation also
 * forwarded as ERROR Function.ResponseSizeTooLarge); an unknown path 404, a known one with
 * another method 405; a malformed request 400 (connection closed). HTTP/1.1 with keep-alive,
 * pipelining, Content-Length and chunked bodies, Expect: 100-continue.
 * An invocation from the host (lambda-host.c) goes to the oldest /next waiting; the
 * runtime's answer goes back to the host. The connections are this file's own. */
#define _GNU_SOURCE /* accept4, POLLRDHUP */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lambda-agent.h"
#include "lambda-host.h"
#include "lambda-http.h"
#include "lambda-out.h"
#include "lambda-util.h"

#include "hyperfork/lambda.h"

#define HEAD_MAX (64 * 1024)    /* request line + header lines */
#define HEADERS_MAX 100         /* header lines in a request */
#define TARGET_MAX 2048         /* request target */
#define LINGER_MS 2000          /* closing: discard what the client still sends */
#define LINGER_BYTES (16u << 20)
#define API "/2018-06-01/runtime/"

static int tcp_fd = -1;

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
static struct hconn *polled[MAX_CONNS]; /* http_pollfds()'s connections, in order */
static int npolled;

/* ---------------------------------------------------------------- the listener */

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

int http_listen(void)
{
	tcp_fd = listen_tcp();
	return tcp_fd < 0 ? -1 : 0;
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

/* Give the invocation to the oldest parked /next, if both are there. */
static void try_deliver(void)
{
	struct invocation inv;
	if (!host_ready(&inv))
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
	if (inv.ctxlen) { /* the X-Amz-Client-Context value decoded, as real runtimes expect */
		ctx = xmalloc(inv.ctxlen + 4);
		long k = base64_decode(inv.ctx, inv.ctxlen, (unsigned char *)ctx);
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
			 inv.id, inv.deadline, inv.arn);
	if (strcmp(inv.trace, "-"))
		n += snprintf(h + n, hmax - (size_t)n, "Lambda-Runtime-Trace-Id: %s\r\n",
			      inv.trace);
	if (ctx && *ctx)
		n += snprintf(h + n, hmax - (size_t)n, "Lambda-Runtime-Client-Context: %s\r\n", ctx);
	if (*agent_generation())
		n += snprintf(h + n, hmax - (size_t)n, "Lambda-Runtime-Vm-Generation: %s\r\n",
			      agent_generation());
	free(ctx);
	size_t paylen;
	char *payload = host_deliver(&paylen);
	c->st = H_HEAD;
	respond(c, 200, h, payload, paylen, 0);
	free(h);
}

/* ----------------------------------------------------------- runtime requests */

/* GET .../invocation/next */
static void on_next(struct hconn *c)
{
	const char *id = host_awaited();
	if (id) {
		respond_error(c, 403, "InvalidStateTransition",
			      "State transition from RuntimeInvocationNext to InvocationNext failed "
			      "for runtime: invocation %s has not been answered", id);
		return;
	}
	if (!agent_init_done())
		agent_end_init(); /* unless warm: hf-fork, which returns in each clone */
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
	const char *awaited = host_awaited();
	if (!awaited) {
		free(body);
		respond_error(c, 403, "InvalidStateTransition",
			      "State transition to %s failed for runtime: no invocation awaits an "
			      "answer", is_error ? "InvocationErrorResponse" : "InvocationResponse");
		return;
	}
	if (strcmp(c->id, awaited)) {
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
	if (agent_init_done()) {
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
	agent_init_error(type, body, blen);
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

/* ------------------------------------------------------------------- the loop */

int http_pollfds(struct pollfd *p, int *timeout)
{
	int n = 0;
	p[n++] = (struct pollfd){.fd = tcp_fd, .events = POLLIN};
	npolled = 0;
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
			if (*timeout < 0 || left < *timeout)
				*timeout = (int)left;
		}
		polled[npolled++] = c;
		p[n++] = (struct pollfd){.fd = c->fd, .events = ev};
	}
	return n;
}

void http_io(const struct pollfd *p)
{
	for (int i = 0; i < npolled; i++)
		if (p[1 + i].revents)
			conn_io(polled[i], p[1 + i].revents);
	if (p[0].revents & POLLIN)
		conn_accept();
	after_io();
}

void http_flush(void)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] && out_pending(&conns[i]->out))
			out_flush_wait(conns[i]->fd, &conns[i]->out, 500);
}
