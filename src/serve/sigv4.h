/* AWS Signature Version 4, the server's side: whether a request was signed by one of the
 * keys serve was given (`serve --credentials FILE`), as Lambda's API checks it for the
 * clients that call it (awscli, boto3, every SDK). One place decides: what the HTTP side
 * passes in is all a client controls. */
#ifndef HF_SERVE_SIGV4_H
#define HF_SERVE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_ID_MAX 128
#define SIGV4_SECRET_MAX 128
#define SIGV4_KEYS_MAX 16
/* How far a request's X-Amz-Date may be from the server's clock (AWS: 5 minutes). */
#define SIGV4_SKEW_S (5 * 60)

struct sigv4_key {
	char id[SIGV4_ID_MAX + 1];         /* the access key id */
	char secret[SIGV4_SECRET_MAX + 1]; /* the secret access key */
};

struct sigv4_keys {
	struct sigv4_key keys[SIGV4_KEYS_MAX];
	unsigned n;
};

/* Read the keys from file path: one "ACCESS_KEY_ID SECRET_ACCESS_KEY" per line (blank lines
 * and lines starting with # skipped). Returns 0, or -1 with why. */
int sigv4_keys_load(const char *path, struct sigv4_keys *k, char *why, size_t whylen);

/* A request as it came (its path and query arguments decoded, as the HTTP server gives
 * them). */
struct sigv4_request {
	const char *method;
	const char *path;
	const char *const *query; /* name, value, name, value, ...: nquery pairs */
	unsigned nquery;
	/* The value of header name (any case), or NULL if the request has none. */
	const char *(*header)(void *arg, const char *name);
	void *arg;
	const void *body;
	size_t body_len;
	time_t now;
};

enum sigv4_verdict {
	SIGV4_OK,
	SIGV4_MISSING,     /* no Authorization header: MissingAuthenticationTokenException */
	SIGV4_INCOMPLETE,  /* one that is not a whole SigV4 one: IncompleteSignatureException */
	SIGV4_UNKNOWN_KEY, /* an access key not given: UnrecognizedClientException */
	SIGV4_MISMATCH,    /* another signature, or a date too far: InvalidSignatureException */
};

/* Check request rq against keys k. Returns the verdict; why (whylen bytes) holds the
 * message Lambda gives with it. */
enum sigv4_verdict sigv4_check(const struct sigv4_request *rq, const struct sigv4_keys *k,
			       char *why, size_t whylen);
/* The exception name Lambda answers a verdict with (403). */
const char *sigv4_error_type(enum sigv4_verdict v);

/* The signature of rq with secret in the credential scope DATE/REGION/SERVICE/aws4_request
 * over signed_headers ("host;x-amz-date"), at amz_date (YYYYMMDD'T'HHMMSS'Z'), as 64 hex
 * digits into sig (65 bytes). The client's side: tests and tools sign with it. Returns 0,
 * or -1 (out of memory, or a signed header the request lacks). */
int sigv4_sign(const struct sigv4_request *rq, const char *secret, const char *scope,
	       const char *signed_headers, const char *amz_date, char *sig);

#endif
