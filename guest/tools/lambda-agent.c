/* hf-lambda's life: its mode (warm or fork), the fork at the end of the runtime's init, an
 * init error, the end of the VM. The parts it must act on before the VM ends (the host's
 * channel, the runtime's HTTP connections) sit above it: it reaches them only through the
 * hooks main hands it at setup (lambda-agent.h). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lambda-agent.h"
#include "lambda-util.h"

#define SHOW_MAX 1024 /* bytes of an init error body shown on the console */

static int warm;      /* hf.lambda=warm: no fork, invocation after invocation */
static int init_done; /* the runtime asked for its first invocation */
static int accepting; /* invocations may be taken (after the fork, or warm) */
static const struct agent_hooks *hooks;

void agent_setup(int warm_mode, const struct agent_hooks *h)
{
	warm = warm_mode;
	accepting = warm_mode;
	hooks = h;
}

int agent_accepting(void)
{
	return accepting;
}

/* ---------------------------------------------------------------- ending the VM */

void agent_end_vm(void)
{
	for (size_t i = 0; hooks && i < sizeof(hooks->flush) / sizeof(hooks->flush[0]); i++)
		if (hooks->flush[i])
			hooks->flush[i]();
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
	if (hooks && hooks->init_error)
		hooks->init_error(type, body, blen);
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

static char generation[33];

const char *agent_generation(void)
{
	return generation;
}

/* A new generation (see lambda-agent.h): this process's memory was copied into a clone. */
static void new_generation(void)
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		say("HF-LAMBDA-FORK-FAILED getrandom: %s", strerror(errno));
		agent_end_vm();
	}
	for (unsigned i = 0; i < sizeof(b); i++)
		snprintf(generation + 2 * i, 3, "%02x", b[i]);
}

void agent_end_init(void)
{
	init_done = 1;
	if (!warm)
		run_fork(); /* returns in each clone */
	new_generation();
	accepting = 1;
}
