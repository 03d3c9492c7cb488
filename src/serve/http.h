/* `hyperfork serve`'s HTTP side (http.c): the Lambda Invoke API, /metrics and /health over
 * serve's functions. It sees only what it answers with (struct serve_http), not serve. */
#ifndef HF_SERVE_HTTP_H
#define HF_SERVE_HTTP_H

#include <netinet/in.h>
#include <stdint.h>

struct fn_table;
struct manage;
struct sigv4_keys;

/* What the HTTP side serves, set by its owner before serve_http_start. */
struct serve_http {
	struct fn_table *table; /* the functions: invoked by name */
	struct manage *manage;  /* the management API's state */
	uint64_t reserve_bytes; /* host memory kept free: invocations get 429 below it (0: off) */
	uint64_t mem_available; /* the host's MemAvailable (0: unknown), kept fresh by the owner
				   (serve_http_refresh), read atomically */
	uint64_t buffered; /* bytes of request bodies held, all connections (atomic) */
	struct sockaddr_in listen;
	const struct sigv4_keys *keys; /* invocations must be signed with one (AWS Signature
					  Version 4); NULL: none asked (loopback only) */
	void *daemon; /* the HTTP daemon: serve_http_start's, NULL when stopped */
};

/* Start answering on h->listen. Returns 0 or -1 (logged). */
int serve_http_start(struct serve_http *h);
/* Read the host's MemAvailable for the reserve, off the invocations' path (the owner
 * calls it every tick). */
void serve_http_refresh(struct serve_http *h);
/* Stop answering (nothing if not started). */
void serve_http_stop(struct serve_http *h);

#endif
