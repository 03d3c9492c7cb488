/* `hyperfork serve`: the functions of a configuration file behind the AWS Lambda Invoke
 * API, every invocation in a fresh clone of its function's template. */
#ifndef HF_SERVE_H
#define HF_SERVE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* What a function's template may take to boot and initialise, by default (seconds). */
#define SERVE_INIT_TIMEOUT_S 300

/* How serve runs (its command line). */
struct serve_opts {
	const char *listen;      /* ADDR:PORT */
	const char *config_path; /* functions to preload; NULL: none */
	const char *run_dir;     /* where serve makes its run directory; NULL: the default */
	uint64_t reserve_bytes;
	bool jail;               /* every function's VMs jailed, function i as uid + i */
	long uid, gid;
	const char *credentials; /* --credentials FILE: invocations signed with its keys */
	const char *runtimes_dir; /* the managed runtimes' images; NULL: the default */
	const char *state_dir;    /* the management API's functions; NULL: for this run only */
	const char *linux_dir;    /* their bzImage and initramfs.cpio; NULL: the default */
	uint64_t code_storage_bytes; /* what their code may take in all; 0: Lambda's 75 GB */
	unsigned init_timeout_s;     /* a function's boot and init; 0: SERVE_INIT_TIMEOUT_S */
};

/* Run until SIGINT or SIGTERM: boot every function's template, serve, then end them all.
 * Returns an exit status (0, or HF_STATUS_ERROR with the reason logged). */
int serve_run(const struct serve_opts *o);

/* Parse "ADDR:PORT" (IPv4) into a. Returns 0 or -1. */
int serve_parse_listen(const char *s, struct sockaddr_in *a);

#endif
