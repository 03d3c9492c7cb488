/* hf-lambda BOOTSTRAP [ARG...]: the AWS Lambda Runtime API agent of a Linux guest under
 * `hyperfork serve`. The protocol with the host is include/hyperfork/lambda.h.
 *
 * It serves the Runtime API on HF_LAMBDA_RUNTIME_API (127.0.0.1:9001) to the function's
 * runtime, BOOTSTRAP, which it starts as its child (stdin /dev/null, stdout and stderr
 * inherited: the console); lambda-http.c lists the requests it answers and its errors.
 *
 * It listens on vsock port HF_LAMBDA_PORT and prints "HF-LAMBDA-READY" on stdout (the
 * console) before starting BOOTSTRAP. The runtime's first GET .../next is the end of its
 * init: there the agent runs hf-fork (the VM becomes a template under serve; hf-fork
 * returns in each clone), then accepts one vsock connection, reads its INVOKE, answers the
 * /next, forwards the runtime's answer, and closes the listener (one invocation per
 * clone). With hf.lambda=warm on the kernel command line it never forks and serves
 * connection after connection (queued until the runtime asks for the next).
 *
 * The VM ends (hf-done 1, after forwarding what can be) when:
 *   - the runtime posts .../init/error, or exits, or cannot be started, before its first
 *     /next: "HF-LAMBDA-INIT-ERROR TYPE BODY" on the console (INIT_ERROR to a connection
 *     already waiting in warm mode);
 *   - the runtime exits later: ERROR Runtime.ExitError to the invocation in progress, and
 *     "HF-LAMBDA-RUNTIME-EXIT REASON" on the console;
 *   - hf-fork fails: "HF-LAMBDA-FORK-FAILED ...".
 *
 * For tests of the agent outside a VM: HF_LAMBDA_LISTEN=PATH listens on a Unix socket at
 * PATH instead of vsock, HF_LAMBDA_MODE=warm|fork overrides the kernel command line; hf-fork
 * and hf-done are found on PATH. Both variables are removed from the runtime's
 * environment.
 *
 * Its parts, each calling only those below it: this file is main (the agent's mode, its
 * setup and main loop); lambda-http.c the Runtime API the runtime talks to; lambda-runtime.c
 * the runtime process, started and watched; lambda-host.c the vsock channel to serve
 * (lambda.h's exchange); lambda-agent.c the agent's life (the fork at the end of the
 * runtime's init, an init error, the end of the VM), which acts on the parts above it only
 * through the hooks main hands it; lambda-out.c what a socket still has to send;
 * lambda-util.c the helpers they share. Each part's header (lambda-NAME.h) is what it
 * offers the others. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lambda-agent.h"
#include "lambda-host.h"
#include "lambda-http.h"
#include "lambda-runtime.h"
#include "lambda-util.h"

#include "hyperfork/lambda.h"

/* What the agent's life (lambda-agent.c) does to the parts above it: before the VM ends,
 * the host's answer and then the runtime's HTTP responses get a moment to leave; an init
 * error goes to a host already waiting. */
static const struct agent_hooks wiring = {
	.flush = {host_flush, http_flush},
	.init_error = host_init_error,
};

/* Built without what follows (HF_LAMBDA_NO_MAIN), this file is only the wiring above, for
 * tests/fuzz/fuzz_runtime_api.c, which builds in the agent's parts and drives the
 * connections itself. */
#ifndef HF_LAMBDA_NO_MAIN

/* ------------------------------------------------------------------- setup */

/* hf.lambda=warm|fork on the kernel command line (HF_LAMBDA_MODE overrides it). */
static int read_mode(void)
{
	char b[4096], *mode = getenv("HF_LAMBDA_MODE");
	if (!mode) {
		int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, b, sizeof(b) - 1) : -1;
		if (fd >= 0)
			close(fd);
		b[n > 0 ? n : 0] = 0;
		for (char *t = strtok(b, " \t\n"); t; t = strtok(NULL, " \t\n"))
			if (!strncmp(t, "hf.lambda=", 10))
				mode = t + 10;
	}
	if (!mode || !strcmp(mode, "fork"))
		return 0;
	if (!strcmp(mode, "warm"))
		return 1;
	say("%s: unknown hf.lambda=%s (warm or fork)", prog, mode);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: hf-lambda BOOTSTRAP [ARG...]\n");
		return 2;
	}
	int warm = read_mode();
	const char *unix_path = getenv("HF_LAMBDA_LISTEN");
	char *up = unix_path ? xstrdup(unix_path) : NULL;
	unsetenv("HF_LAMBDA_LISTEN");
	unsetenv("HF_LAMBDA_MODE");

	signal(SIGPIPE, SIG_IGN);
	if (runtime_watch() < 0) {
		say("%s: pipe: %s", prog, strerror(errno));
		return 1;
	}

	if (http_listen() < 0) {
		say("%s: cannot listen on %s: %s", prog, HF_LAMBDA_RUNTIME_API, strerror(errno));
		return 1;
	}
	if (host_listen(up, !warm) < 0) {
		say("%s: cannot listen on %s %u: %s", prog, up ? up : "vsock port",
		    up ? 0 : HF_LAMBDA_PORT, strerror(errno));
		return 1;
	}
	agent_setup(warm, &wiring);
	say("HF-LAMBDA-READY");
	runtime_start(argv + 1);

	for (;;) {
		struct pollfd p[MAX_CONNS + 3];
		int n = 0, nhost = -1, timeout = -1;
		p[n++] = (struct pollfd){.fd = runtime_fd(), .events = POLLIN};
		if (host_pollfd(&p[n], agent_accepting()))
			nhost = n++;
		int first = n;
		n += http_pollfds(&p[n], &timeout);
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			say("%s: poll: %s", prog, strerror(errno));
			agent_end_vm();
		}
		if (p[0].revents)
			runtime_reap();
		if (nhost >= 0)
			host_io(&p[nhost]);
		http_io(&p[first]);
	}
}
#endif /* HF_LAMBDA_NO_MAIN */
