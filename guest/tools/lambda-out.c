/* hf-lambda's output queues: what a non-blocking socket (the host's connection, a
 * runtime's HTTP connection) still has to send, and sending it as the socket takes it. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "lambda-out.h"
#include "lambda-util.h"

int out_pending(const struct out *o)
{
	return o->off < o->alen + o->blen;
}

void out_free(struct out *o)
{
	free(o->a);
	free(o->b);
	memset(o, 0, sizeof(*o));
}

void out_queue(struct out *o, char *a, size_t alen, char *b, size_t blen)
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

int out_flush(int fd, struct out *o)
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

int out_flush_wait(int fd, struct out *o, int ms)
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
