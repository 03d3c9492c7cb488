/* The parent's side of a fork: pause and capture the VM, fork() each clone (the child's
 * side is child.c), let the VM run on, and collect each clone's word that it started; a
 * template serves the request from its pool instead (template.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clone/internal.h"
#include "hyperfork/abi.h"
#include "jail/jail.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/trace.h"

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
	cl->warm_fd = cl->ready_fd = cl->parent_fd = -1;
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
	reset_forget(cl);
	snapshot_free(cl->snap);
	free(cl->live);
	free(cl);
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
	else if (!res->error[0] && vm->mem.file && !vm->frozen && !vm->mem.private_view)
		snprintf(res->error, sizeof(res->error),
			 "a reusable VM (--reusable) is cloned only once frozen into a template");
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
	bool first = !cl->fork_point_seen;
	cl->fork_point_seen = true; /* (a clone inherits it: it has passed its parent's) */
	if (cl->cfg.fork_points == FORK_POINTS_NONE ||
	    (cl->cfg.fork_points == FORK_POINTS_FIRST && !first)) {
		pr_debug("fork point on vCPU %u refused (--fork-points %s)", c->index,
			 cl->cfg.fork_points == FORK_POINTS_NONE ? "none" : "first");
		release_requester(cl, c, true);
		return 0;
	}
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

void clone_reaped(struct clones *cl, pid_t pid)
{
	if (clone_forget(cl, pid) && template_refill_held(cl))
		vm_notify(cl->vm); /* a held pool may refill now */
}

void clone_status(struct clones *cl, struct hf_vm_status *st)
{
	snprintf(st->parent, sizeof(st->parent), "%s", cl->parent);
	st->clones = cl->made;
	template_pool_status(cl, st);
}
