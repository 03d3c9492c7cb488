/* The parent's side, common to a fork (fork.c) and a template's activation of a warm
 * child (template.c): capturing the VM, numbering, naming and describing each clone,
 * waiting for its word that it started, and telling it once it has been handed out. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clone/internal.h"
#include "hyperfork/abi.h"
#include "jail/jail.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"
#include "util/trace.h"

/* Parent: wait until the clone says READY (or reports an error, or dies). */
static int wait_ready(int fd, pid_t pid, char *err, size_t errlen)
{
	char buf[1024];
	size_t len = 0;
	uint64_t t0 = now_ns();

	for (;;) {
		int remaining = CLONE_READY_TIMEOUT_MS - (int)((now_ns() - t0) / 1000000);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, remaining > 0 ? remaining : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "clone pid %d did not start within %d ms", (int)pid,
				 CLONE_READY_TIMEOUT_MS);
			kill(pid, SIGKILL);
			return -1;
		}
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		if (len >= strlen(READY_LINE) && !strcmp(buf + len - strlen(READY_LINE), READY_LINE))
			return 0;
		if (len == sizeof(buf) - 1)
			len = 0; /* keep only the tail of a long error */
	}
	buf[len] = 0;
	while (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	snprintf(err, errlen, "clone pid %d failed to start: %s", (int)pid,
		 len ? buf : "it exited without a word");
	return -1;
}

void describe(struct clones *cl, struct hf_clone_info *ci, unsigned id, pid_t pid,
	      enum console_kind console)
{
	const struct vm *vm = cl->vm;
	clone_name(ci->name, sizeof(ci->name), vm->cfg.name, id);
	ci->pid = pid;
	run_file(ci->socket, sizeof(ci->socket), vm->cfg.run_dir, ci->name, RUN_FILE_SOCKET);
	if (console == CONSOLE_FILE)
		run_file(ci->console, sizeof(ci->console), vm->cfg.run_dir, ci->name,
			 RUN_FILE_CONSOLE);
	else
		snprintf(ci->console, sizeof(ci->console), "%s", console_kind_name(console));
}

void collect_ready(struct clones *cl, struct clone_result *res, int *fds)
{
	unsigned ok = 0;
	for (unsigned i = 0; i < res->made; i++) {
		char err[256];
		if (wait_ready(fds[i], res->clones[i].pid, err, sizeof(err)) == 0) {
			fds[ok] = fds[i]; /* open until the clone is handed out */
			res->clones[ok++] = res->clones[i];
			continue;
		}
		pr_err("%s", err);
		if (!res->error[0])
			snprintf(res->error, sizeof(res->error), "%s", err);
		waitpid(res->clones[i].pid, NULL, 0);
		clone_forget(cl, res->clones[i].pid);
		close(fds[i]);
	}
	res->made = ok;
	for (unsigned i = 0; i < ok; i++) /* as the host sees them (a jail has its own pids) */
		res->clones[i].pid = jail_host_pid(res->clones[i].pid);
}

/* The next clone's number: past the last one made, and past any name a live VM holds in
 * the run directory (clones of an earlier VM of this name, e.g. a template serve booted
 * again while they ran). A stale socket there is taken over as usual. */
unsigned next_clone_id(struct clones *cl)
{
	const struct vm *vm = cl->vm;
	unsigned id = cl->made + 1;
	for (unsigned tries = 0; tries < 4096; tries++, id++) {
		char name[HF_NAME_MAX + 16], path[PATH_MAX];
		struct stat st;
		clone_name(name, sizeof(name), vm->cfg.name, id);
		run_file(path, sizeof(path), vm->cfg.run_dir, name, RUN_FILE_SOCKET);
		if (lstat(path, &st) < 0)
			break;
		int fd = unix_connect(path, 0);
		if (fd < 0)
			break;
		close(fd);
	}
	return id;
}

int pause_and_capture(struct clones *cl)
{
	struct vm *vm = cl->vm;
	reset_forget(cl); /* its snapshot is its own from now on, no longer its template's */
	trace_point("fork-request");
	vcpus_pause(vm);
	trace_point("fork-paused");
	console_flush(&vm->console);
	if (bus_pre_fork(&vm->bus) < 0)
		return -1;
	int r = snapshot_capture(cl->snap, vm);
	trace_point("fork-captured");
	return r;
}

void release_requester(struct clones *cl, struct vcpu *requester, bool failed)
{
	(void)cl;
	if (!requester)
		return;
	if (failed)
		vcpu_set_rax(requester, HF_FORK_FAILED);
	vcpu_loop_done(requester);
}

void clone_handed_out(struct clone_result *res)
{
	char b = HANDED_BYTE;
	for (unsigned i = 0; res->handoff && i < res->made; i++) {
		if (write(res->handoff[i], &b, 1) != 1) /* (res->clones may be gone) */
			pr_debug("clone %u of the request was not told it was handed out: %s", i + 1,
				 strerror(errno));
		close(res->handoff[i]);
	}
	free(res->handoff);
	res->handoff = NULL;
}

void clone_result_free(struct clone_result *res)
{
	for (unsigned i = 0; res->handoff && i < res->made; i++)
		close(res->handoff[i]); /* not handed out: the clone ends by itself */
	free(res->handoff);
	res->handoff = NULL;
	free(res->clones);
	res->clones = NULL;
}
