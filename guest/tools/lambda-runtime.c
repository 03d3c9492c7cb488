/* hf-lambda's child, the function's runtime (BOOTSTRAP): starting it (stdin /dev/null,
 * stdout and stderr inherited: the console) and noticing its end through SIGCHLD. Its exec
 * failing, or its exit before its first /next, is an init error; its exit later fails the
 * invocation in progress. Either ends the VM. */
#define _GNU_SOURCE /* pipe2 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lambda-agent.h"
#include "lambda-host.h"
#include "lambda-runtime.h"
#include "lambda-util.h"

static pid_t runtime_pid = -1;
static int sig_pipe[2] = {-1, -1};

/* ---------------------------------------------------------------- its end */

static void on_sigchld(int sig)
{
	(void)sig;
	int e = errno;
	if (write(sig_pipe[1], "c", 1) < 0) {
		/* the pipe is full: a wakeup is pending anyway */
	}
	errno = e;
}

int runtime_watch(void)
{
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	struct sigaction sa = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
	sigaction(SIGCHLD, &sa, NULL);
	return 0;
}

int runtime_fd(void)
{
	return sig_pipe[0];
}

static void runtime_exited(int status)
{
	char why[128], msg[256];
	size_t blen;
	runtime_pid = -1;
	exit_reason(status, why, sizeof(why));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		snprintf(msg, sizeof(msg), "Runtime exited without providing a reason");
	else
		snprintf(msg, sizeof(msg), "Runtime exited with error: %s", why);
	if (!agent_init_done()) {
		char *b = error_json("Runtime.ExitError", &blen, "%s", msg);
		agent_init_error("Runtime.ExitError", b, blen);
	}
	say("HF-LAMBDA-RUNTIME-EXIT %s", why);
	host_runtime_exited(msg);
	agent_end_vm();
}

void runtime_reap(void)
{
	char junk[64];
	while (read(sig_pipe[0], junk, sizeof(junk)) > 0)
		;
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == runtime_pid)
			runtime_exited(st);
}

/* --------------------------------------------------------------- its start */

void runtime_start(char **argv)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		say("%s: pipe: %s", prog, strerror(errno));
		exit(1);
	}
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		int fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
		execvp(argv[0], argv);
		int e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		say("%s: fork: %s", prog, strerror(errno));
		exit(1);
	}
	runtime_pid = pid;
	int e = 0;
	ssize_t r;
	while ((r = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (r == (ssize_t)sizeof(e)) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		runtime_pid = -1;
		char err[128];
		snprintf(err, sizeof(err), "%s", strerror(e));
		err[0] = (char)tolower((unsigned char)err[0]);
		size_t blen;
		char *b = error_json("Runtime.InvalidEntrypoint", &blen, "fork/exec %s: %s",
				     argv[0], err);
		agent_init_error("Runtime.InvalidEntrypoint", b, blen);
	}
}
