/* The parts of hf-lambda, the Lambda Runtime API agent of a Linux guest (hf-lambda.c says
 * what it does and which file does which part): what each part offers the others. Private
 * to them and to tests/fuzz/fuzz_runtime_api.c, which builds them in. Single-threaded: all
 * of it runs on the agent's main loop. */
#ifndef HF_LAMBDA_H
#define HF_LAMBDA_H

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>

#define MAX_CONNS 32    /* HTTP connections at once */
#define ERRTYPE_MAX 256 /* Lambda-Runtime-Function-Error-Type kept */

/* The agent's name, in its messages. */
extern const char prog[];

/* ------------------------------------------------- the agent's life (hf-lambda.c) */

/* Give what is queued a moment to leave (the host's answer, then the runtime's HTTP
 * responses), then end the VM with hf-done 1. Does not return; if hf-done cannot be run,
 * says so and exits 1. */
void agent_end_vm(void);
/* The runtime failed its init: say so ("HF-LAMBDA-INIT-ERROR TYPE BODY" on the console),
 * tell a host already waiting (warm mode: INIT_ERROR with body), end the VM. Takes body
 * (blen bytes); type is as it stands in an answer line. Does not return. */
void agent_init_error(const char *type, char *body, size_t blen);
/* 1 once the runtime asked for its first invocation (its init is over), else 0. */
int agent_init_done(void);
/* The runtime asked for its first invocation: its init is over. Unless warm, the VM
 * becomes a template here: hf-fork, which returns in the original and in each clone (if it
 * fails, the VM ends). From then on invocations may be taken. */
void agent_end_init(void);

/* ---------------------------------------- the Runtime API, over HTTP (lambda-http.c) */

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
/* Before the VM ends: give each connection's pending responses up to 500 ms to leave. */
void http_flush(void);

/* -------------------------------------------- the vsock channel to serve (lambda-host.c) */

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
/* 1 if a connection from the host is open and the host has not given up on it. */
int host_connected(void);
/* The runtime exited (msg says how, as Lambda does): an invocation still being read is
 * dropped (the host sees its connection close); one read or given to the runtime is
 * answered ERROR Runtime.ExitError. */
void host_runtime_exited(const char *msg);
/* Before the VM ends: give the answer being sent up to 10 s to leave, then the host up to
 * 5 s to close the connection (what a vsock write hands the kernel leaves the VM later,
 * from a worker: the host's close is the sign that it has all of it). */
void host_flush(void);

/* ------------------------------------------------ the runtime process (lambda-runtime.c) */

/* Watch for the runtime's end: SIGCHLD wakes runtime_fd(). 0, or -1 with errno. */
int runtime_watch(void);
/* What to poll (POLLIN) for SIGCHLD. */
int runtime_fd(void);
/* After runtime_fd() woke: reap children. The runtime's end ends the VM: an init error
 * before its first /next, else ERROR Runtime.ExitError to the invocation in progress and
 * "HF-LAMBDA-RUNTIME-EXIT REASON" on the console. */
void runtime_reap(void);
/* Start the runtime, argv[0] with argv (NULL-terminated), stdin /dev/null, stdout and
 * stderr inherited. Its exec failing is an init error (Runtime.InvalidEntrypoint: the VM
 * ends); if no pipe or process can be made, says so and exits 1. */
void runtime_start(char **argv);

/* ---------------------------------------------------------- output queues (lambda-out.c) */

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

/* ---------------------------------------------------------------- helpers (lambda-util.c) */

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
