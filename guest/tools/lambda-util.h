/* hf-lambda's small helpers (lambda-util.c), the ground floor of its parts: the agent's
 * name, the clock, a line on the console, allocation, Lambda's JSON error body, the checks
 * and decoding of what the host and the runtime send, how a process ended, a listening
 * socket. Private to the agent's parts and to tests/fuzz/fuzz_runtime_api.c. Single-threaded:
 * all of the agent runs on its main loop. */
#ifndef LAMBDA_UTIL_H
#define LAMBDA_UTIL_H

#include <stddef.h>
#include <sys/socket.h>

#define ERRTYPE_MAX 256 /* Lambda-Runtime-Function-Error-Type kept */

/* The agent's name, in its messages. */
extern const char prog[];

/* Milliseconds of CLOCK_MONOTONIC. */
long long now_ms(void);
/* One line on the console (stdout), in one write. */
__attribute__((format(printf, 1, 2))) void say(const char *fmt, ...);
/* malloc (n 0 counts as 1); out of memory, says so and exits 1. */
void *xmalloc(size_t n);
/* s copied with xmalloc(). */
char *xstrdup(const char *s);
/* {"errorMessage":MSG,"errorType":TYPE}, malloc'ed; its length in *len. MSG is fmt's
 * (at most 1023 bytes of it), both JSON-escaped. */
__attribute__((format(printf, 3, 4))) char *error_json(const char *type, size_t *len,
						       const char *fmt, ...);
/* A field of the INVOKE line or an error type: visible ASCII, no spaces. 1 if s is one
 * (not empty), else 0. */
int visible(const char *s);
/* Decimal, no sign, no leading zeros, at most max: into *out, 0; else -1. */
int parse_len(const char *s, unsigned long long max, size_t *out);
/* Standard base64 (padding optional) of n bytes at in, into out (at least n * 3 / 4 + 3
 * bytes). Returns the decoded length, or -1 if it is not base64. */
long base64_decode(const char *in, size_t n, unsigned char *out);
/* How a process ended (status from waitpid), as Go's os/exec says it (what Lambda
 * reports), into out (n bytes). */
void exit_reason(int status, char *out, size_t n);
/* A non-blocking, close-on-exec listening stream socket of family at address a (alen
 * bytes; SO_REUSEADDR for AF_INET), or -1 with errno. */
int listener(int family, const void *a, socklen_t alen, int backlog);

#endif
