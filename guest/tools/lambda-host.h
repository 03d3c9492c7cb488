/* hf-lambda's side of the vsock channel to `hyperfork serve` (lambda-host.c): the exchange
 * of include/hyperfork/lambda.h. The connection and its invocation are lambda-host.c's own;
 * the Runtime API (lambda-http.c) takes the invocation and gives the answer through what
 * follows. */
#ifndef LAMBDA_HOST_H
#define LAMBDA_HOST_H

#include <poll.h>
#include <stddef.h>

/* Listen for the host: on vsock port HF_LAMBDA_PORT, or on a Unix socket at unix_path if
 * not NULL (its old file removed). With one_invocation set, the listener closes once an
 * invocation has been read (one per clone). 0, or -1 with errno. */
int host_listen(const char *unix_path, int one_invocation);
/* The host's socket to poll, into *p: its connection while one is open and the host has
 * not given up on it, else the listener while accepting and open. 1 if *p was filled, 0 if
 * there is none. */
int host_pollfd(struct pollfd *p, int accepting);
/* After poll(), with p the entry host_pollfd() filled: read the INVOKE, send the answer or
 * learn that the host gave up (the connection); or take a new connection (the listener). */
void host_io(const struct pollfd *p);

/* An invocation read from the host: the fields of its INVOKE line, and its client context
 * (ctxlen bytes of base64, as the host sent it; none if 0). */
struct invocation {
	const char *id, *deadline, *arn, *trace;
	const char *ctx;
	size_t ctxlen;
};
/* 1 if an invocation has been read whole and waits for the runtime's /next: *inv is it
 * (valid until host_deliver()); else 0. */
int host_ready(struct invocation *inv);
/* The ready invocation goes to the runtime: returns its payload (malloc'ed, *len bytes)
 * and drops the rest; it then awaits the runtime's answer. */
char *host_deliver(size_t *len);
/* The request id of the invocation given to the runtime and not yet answered, or NULL. */
const char *host_awaited(void);
/* Send the host an answer line "KIND LEN[ TYPE]" (no TYPE if type is NULL) and body (blen
 * bytes, taken) on the invocation's connection. Without a connection the host still
 * waits on, or if the line does not fit, the body is dropped and the connection closed. */
void host_answer(const char *kind, const char *type, char *body, size_t blen);
/* The runtime failed its init: if a connection from the host is open and the host has not
 * given up on it, answer INIT_ERROR type with body (blen bytes) there; else drop body.
 * Takes body. (The agent's init_error hook: lambda-agent.h.) */
void host_init_error(const char *type, char *body, size_t blen);
/* The runtime exited (msg says how, as Lambda does): an invocation still being read is
 * dropped (the host sees its connection close); one read or given to the runtime is
 * answered ERROR Runtime.ExitError. */
void host_runtime_exited(const char *msg);
/* Before the VM ends: give the answer being sent up to 10 s to leave, then the host up to
 * 5 s to close the connection (what a vsock write hands the kernel leaves the VM later,
 * from a worker: the host's close is the sign that it has all of it). (A flush hook of the
 * agent: lambda-agent.h.) */
void host_flush(void);

#endif
