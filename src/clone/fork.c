/* The parent's side of a fork: pause and capture the VM, fork() each clone (the child's
 * side is child.c), let the VM run on, and collect each clone's word that it started; a
 * template serves the request from its pool instead (template.c). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

#define READY_LINE "READY\n"

struct clones *clones_new(struct vm *vm, const struct clone_config *cfg)
{
	struct clones *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		pr_err("out of memory");
		return NULL;
	}
	cl->vm = vm;
	cl->cfg = *cfg;
	cl->requester = -1;
	cl->warm_fd = cl->ready_fd = -1;
	cl->snap = snapshot_new(vm);
	if (!cl->snap) {
		free(cl);
		return NULL;
	}
	return cl;
}

void clones_free(struct clones *cl)
{
	if (!cl)
		return;
	prefault_free(cl->prefault);
	template_release(cl);
	snapshot_free(cl->snap);
	free(cl->live);
	free(cl);
}

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
		clone_reaped(cl, res->clones[i].pid);
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

/* The clones' names must fit HF_NAME_MAX. Returns 0, or -1 with res->error set. */
static int check_names(struct clones *cl, unsigned count, struct clone_result *res)
{
	char probe[HF_NAME_MAX + 16];
	int need = clone_name(probe, sizeof(probe), cl->vm->cfg.name, cl->made + count);
	if (need > HF_NAME_MAX) {
		snprintf(res->error, sizeof(res->error), "clone name %s would exceed %d characters",
			 probe, HF_NAME_MAX);
		return -1;
	}
	return 0;
}

int pause_and_capture(struct clones *cl)
{
	struct vm *vm = cl->vm;
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

/* Child of fork number k of a request: become clone id. Returns 1, or exits if it cannot
 * (its parent hears why on channel). */
static int become_clone(struct clones *cl, unsigned id, int channel, struct vcpu *requester,
			enum console_kind console, uint64_t request_tsc)
{
	struct vm *vm = cl->vm;
	if (child_begin(cl, channel) < 0)
		_exit(HF_STATUS_ERROR);
	if (requester)
		snapshot_set_rax(cl->snap, requester->index, id);
	jail_enter_clone_cgroup(vm->cfg.name, id); /* before its KVM VM is made */
	trace_point("child-dropped");
	if (child_rebuild(cl) < 0)
		_exit(HF_STATUS_ERROR);
	trace_point("child-rebuilt");
	if (cl->cfg.prefault_sync)
		prefault_run(vm, cl->cfg.prefault);
	child_prepare_guest(cl, vm->cfg.name, id, console, request_tsc);
	child_take_identity(cl, id);
	return 1;
}

int clone_fork(struct clones *cl, unsigned count, enum console_kind console,
	       struct vcpu *requester, uint64_t request_tsc, struct clone_result *res)
{
	struct vm *vm = cl->vm;
	memset(res, 0, sizeof(*res));
	res->requested = count;
	res->clones = calloc(count ? count : 1, sizeof(*res->clones));
	int *ready = calloc(count ? count : 1, sizeof(int));
	const char *why = NULL;
	if (!res->clones || !ready)
		snprintf(res->error, sizeof(res->error), "out of memory");
	else if (check_names(cl, count, res) == 0 && (why = bus_refusal(&vm->bus)))
		snprintf(res->error, sizeof(res->error), "cannot clone: %s", why);
	else if (!res->error[0])
		admit(cl, 0, count, res->error, sizeof(res->error));
	if (res->error[0]) {
		free(ready);
		release_requester(cl, requester, true);
		return -1;
	}
	if (vm->frozen) {
		int r = pool_activate(cl, count, console, request_tsc, res, ready);
		if (r == 1) {
			free(ready);
			return 1;
		}
		collect_ready(cl, res, ready);
		res->handoff = ready;
		return res->made ? 0 : -1;
	}

	if (pause_and_capture(cl) < 0) {
		snprintf(res->error, sizeof(res->error), "cannot capture the VM state");
		goto resume;
	}

	for (unsigned k = 0; k < count; k++) {
		int p[2];
		if (k && admit(cl, 0, count - k, res->error, sizeof(res->error)) < 0)
			break; /* before each clone: the host's memory goes down as they start */
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0) {
			snprintf(res->error, sizeof(res->error), "socketpair: %s", strerror(errno));
			break;
		}
		unsigned id = next_clone_id(cl);
		pid_t pid = fork();
		if (pid < 0) {
			snprintf(res->error, sizeof(res->error), "fork: %s", strerror(errno));
			close(p[0]);
			close(p[1]);
			break;
		}
		if (pid == 0) {
			trace_point("child-start");
			for (unsigned j = 0; j < res->made; j++)
				close(ready[j]);
			free(ready);
			clone_result_free(res);
			close(p[0]);
			return become_clone(cl, id, p[1], requester, console, request_tsc);
		}
		trace_point("fork-returned");
		close(p[1]);
		cl->made = id;
		live_add(cl, pid, id);
		ready[res->made] = p[0];
		describe(cl, &res->clones[res->made++], id, pid, console);
	}

resume:
	release_requester(cl, requester, res->made == 0);
	if (!vm->user_paused)
		vcpus_resume(vm);
	else
		pthread_cond_broadcast(&vm->cond);

	/* The parent runs again; now collect each clone's word that it started. */
	if (res->made)
		prefault_start(&cl->prefault, vm, cl->cfg.prefault); /* its pages are shared
									  with the clones now, too */
	collect_ready(cl, res, ready);
	res->handoff = ready;
	return res->made ? 0 : -1;
}

int clone_fork_point(struct clones *cl, struct vcpu *c, uint64_t request_tsc,
		     struct clone_result *res)
{
	memset(res, 0, sizeof(*res));
	if (cl->cfg.template) {
		char err[256];
		int r = template_freeze(cl, c, cl->cfg.pool, err, sizeof(err));
		if (r < 0)
			pr_err("fork point on vCPU %u: cannot make a template: %s", c->index, err);
		return r == 1;
	}
	int r = clone_fork(cl, 1, cl->cfg.console, c, request_tsc, res);
	if (r < 0)
		pr_err("fork point on vCPU %u: no clone made: %s", c->index, res->error);
	return r == 1;
}

void clone_status(struct clones *cl, struct hf_vm_status *st)
{
	snprintf(st->parent, sizeof(st->parent), "%s", cl->parent);
	st->clones = cl->made;
	template_pool_status(cl, st);
}
