/* hf-lambda's output queues (lambda-out.c): what a non-blocking socket still has to send,
 * sent as the socket takes it. */
#ifndef LAMBDA_OUT_H
#define LAMBDA_OUT_H

#include <stddef.h>

/* What a socket still has to send: a, then b, both owned. */
struct out {
	char *a, *b;
	size_t alen, blen, off;
};

/* 1 if o holds bytes not yet sent. */
int out_pending(const struct out *o);
/* Free what o holds and empty it. */
void out_free(struct out *o);
/* Queue a message (taking a and b, alen and blen bytes; b may be NULL if blen is 0); what
 * is still pending goes first. */
void out_queue(struct out *o, char *a, size_t alen, char *b, size_t blen);
/* Send what the socket takes now: 1 all sent, 0 more to send, -1 the connection failed. */
int out_flush(int fd, struct out *o);
/* Flush, waiting up to ms milliseconds: 1 all sent, 0 not in time, -1 failed. */
int out_flush_wait(int fd, struct out *o, int ms);

#endif
