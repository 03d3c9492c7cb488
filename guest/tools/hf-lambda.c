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
 * Its parts: this file is the agent's life (its mode, its setup and main loop, the fork at
 * the end of the runtime's init, the end of the VM); lambda-http.c the Runtime API the
 * runtime talks to; lambda-host.c the vsock channel to serve (lambda.h's exchange);
 * lambda-runtime.c the runtime process, started and watched; lambda-out.c what a socket
 * still has to send; lambda-util.c the helpers they share. hf-lambda.h is what each part
 * offers the others. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hf-lambda.h"

#include "hyperfork/lambda.h"

#define SHOW_MAX 1024 /* bytes of an init error body shown on the console */

const char prog[] = "hf-lambda";

static int warm;      /* hf.lambda=warm: no fork, invocation after invocation */
static int init_done; /* the runtime asked for its first invocation */
static int accepting; /* invocations may be taken (after the fork, or warm) */

/* ---------------------------------------------------------------- ending the VM */

void agent_end_vm(void)
{
	host_flush();
	http_flush();
	char *argv[] = {"hf-done", "1", NULL};
	execvp(argv[0], argv);
	say("%s: cannot run hf-done: %s", prog, strerror(errno));
	exit(1);
}

void agent_init_error(const char *type, char *body, size_t blen)
{
	char shown[SHOW_MAX + 4];
	size_t n = blen < SHOW_MAX ? blen : SHOW_MAX;
	for (size_t i = 0; i < n; i++)
		shown[i] = (unsigned char)body[i] >= 0x20 && body[i] != 0x7f ? body[i] : ' ';
	strcpy(shown + n, blen > SHOW_MAX ? "..." : "");
	say("HF-LAMBDA-INIT-ERROR %s %s", type, shown);
	if (host_connected())
		host_answer("INIT_ERROR", type, body, blen);
	else
		free(body);
	agent_end_vm();
}

/* ----------------------------------------------------------------------- fork */

/* hf-fork: returns in the original (0) and in each clone (N). Fails: the VM ends. */
static void run_fork(void)
{
	int p[2];
	char out[64];
	size_t n = 0;
	int st = 0;
	if (pipe2(p, O_CLOEXEC) < 0) {
		say("HF-LAMBDA-FORK-FAILED pipe: %s", strerror(errno));
		agent_end_vm();
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		char *argv[] = {"hf-fork", NULL};
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run hf-fork: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		say("HF-LAMBDA-FORK-FAILED fork: %s", strerror(errno));
		agent_end_vm();
	}
	for (;;) {
		ssize_t r = read(p[0], out + n, sizeof(out) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof(out) - 1)
			break;
	}
	close(p[0]);
	out[n] = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	size_t clone;
	if (n && out[n - 1] == '\n')
		out[--n] = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || parse_len(out, 0xffffffffu, &clone) < 0) {
		char why[64];
		exit_reason(st, why, sizeof(why));
		say("HF-LAMBDA-FORK-FAILED hf-fork: %s, printed '%s'", why, out);
		agent_end_vm();
	}
}

/* --------------------------------------------------------------- the end of init */

int agent_init_done(void)
{
	return init_done;
}

void agent_end_init(void)
{
	init_done = 1;
	if (!warm)
		run_fork(); /* returns in each clone */
	accepting = 1;
}

/* Built without what follows (HF_LAMBDA_NO_MAIN), this file and the agent's other parts are
 * a library for tests/fuzz/fuzz_runtime_api.c, which drives the connections itself. */
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
	warm = read_mode();
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
	accepting = warm;
	say("HF-LAMBDA-READY");
	runtime_start(argv + 1);

	for (;;) {
		struct pollfd p[MAX_CONNS + 3];
		int n = 0, nhost = -1, timeout = -1;
		p[n++] = (struct pollfd){.fd = runtime_fd(), .events = POLLIN};
		if (host_pollfd(&p[n], accepting))
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
