/* hf-lambda's HTTP side (lambda-http.c): the AWS Lambda Runtime API the function's runtime
 * talks to, on HF_LAMBDA_RUNTIME_API. Its connections are lambda-http.c's own; main polls
 * them through what follows. */
#ifndef LAMBDA_HTTP_H
#define LAMBDA_HTTP_H

#include <poll.h>

#define MAX_CONNS 32 /* HTTP connections at once */

/* Listen for the runtime on HF_LAMBDA_RUNTIME_API. 0, or -1 with errno. */
int http_listen(void);
/* The sockets to poll, into p (at most MAX_CONNS + 1 entries): the listener first, then
 * each connection. A closing connection whose time is up is closed here instead; *timeout
 * (milliseconds, -1 none) is lowered to the nearest end of one still closing. Returns how
 * many entries were filled. */
int http_pollfds(struct pollfd *p, int *timeout);
/* After poll(), with p the entries http_pollfds() filled: each connection's requests and
 * responses, a new connection, then what that allows (an invocation to a waiting /next,
 * requests held back, connections to close). */
void http_io(const struct pollfd *p);
/* Before the VM ends: give each connection's pending responses up to 500 ms to leave. (A
 * flush hook of the agent: lambda-agent.h.) */
void http_flush(void);

#endif
