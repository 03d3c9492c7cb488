/* Templates: a VM frozen for good (vm->frozen: no KVM VM, guest RAM and its captured state
 * kept) and its pool of warm children, each already forked with its KVM VM rebuilt and its
 * vCPU 0 waiting for an activation: a request only tells one which clone it is. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/x86/bare.h"
#include "clone/internal.h"
#include "hyperfork/abi.h"
#include "jail/jail.h"
#include "util/log.h"
#include "util/trace.h"

#define WARM_BYTE 'W' /* a warm child's word: its KVM VM is built */

/* A warm child of a template: its KVM VM is built; it waits for an activation. */
struct pool_child {
	pid_t pid;
	int sock; /* SOCK_SEQPACKET to the child */
	bool warm;
	bool on_demand; /* started for a request that found the pool dry */
};

struct pool {
	unsigned target, n;
	uint64_t on_demand; /* clones made for a request that found no warm child */
	bool held;          /* below target: the limits refuse more (logged once) */
	struct pool_child kids[POOL_MAX];
};

/* What a template tells a warm child to become. */
struct activation {
	uint32_t id;
	uint32_t console;
	uint64_t request_tsc;
};

/* Warm child, vm->first_run on each vCPU thread before its first KVM_RUN: vCPU 0 waits for
 * the template's activation and prepares the guest to run as that clone (on this thread,
 * so the guest runs without waiting for another wakeup; the main thread does the rest:
 * name, socket, console). Returns false if the template has gone (the VM then ends). */
static bool warm_activate(struct vcpu *c, void *arg)
{
	struct clones *cl = arg;
	struct vm *vm = cl->vm;
	struct activation a;
	ssize_t n;
	if (c->index != 0)
		return true;
	do
		n = read(cl->warm_fd, &a, sizeof(a));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(a)) { /* the template is gone: this warm clone was never used */
		vm_request_exit(vm, 0, "template gone");
		return false;
	}
	trace_point("warm-activated");
	if (cl->requester >= 0)
		snapshot_set_rax_on_entry(cl->snap, &vm->vcpus[cl->requester], a.id);
	child_prepare_guest(cl, vm->cfg.name, a.id, (enum console_kind)a.console, a.request_tsc);
	pthread_mutex_lock(&vm->lock);
	vm->clone_id = a.id;
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vm_notify(vm);
	trace_point("warm-running");
	return true;
}

/* Warm child: start the vCPU threads (vCPU 0 awaits the activation, the others wait for
 * vCPU 0), say warm, and once activated take the clone's identity. Returns 1. */
static int warm_child(struct clones *cl, int sock)
{
	struct vm *vm = cl->vm;
	char w = WARM_BYTE;
	cl->warm_fd = sock;
	vm->pause_req = true;
	vm->first_run = warm_activate;
	vm->first_run_arg = cl;
	if (vcpus_start(vm) < 0 || write(sock, &w, 1) != 1)
		_exit(HF_STATUS_ERROR);
	struct pollfd p = {.fd = vm->notify_fd, .events = POLLIN};
	for (;;) {
		uint64_t v;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			_exit(HF_STATUS_ERROR);
		if (read(vm->notify_fd, &v, sizeof(v)) == sizeof(v))
			break;
	}
	if (!vm->clone_id)
		_exit(0); /* never activated: the template is gone */
	vm->first_run = NULL; /* its own clones start as fork children do */
	jail_enter_clone_cgroup(vm->cfg.name, vm->clone_id);
	child_take_identity(cl, vm->clone_id);
	cl->warm_fd = -1; /* sock stays open as ready_fd */
	return 1;
}

/* Template: fork one warm child. Returns 0 (parent), 1 (activated child), -1 on error. */
static int pool_spawn(struct clones *cl)
{
	struct vm *vm = cl->vm;
	struct pool *pl = cl->pool;
	int sv[2];

	if (pl->n == POOL_MAX)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		pr_err("socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		pr_err("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		for (unsigned i = 0; i < pl->n; i++)
			close(pl->kids[i].sock);
		free(pl); /* the template's pool is not this child's */
		cl->pool = NULL;
		close(sv[0]);
		if (child_begin(cl, sv[1]) < 0)
			_exit(HF_STATUS_ERROR);
		jail_enter_clone_cgroup(vm->cfg.name, 0); /* waits in the pool's group */
		vm->log_dirty = vm->mem.file; /* a reusable template's: what its guest writes */
		if (child_rebuild(cl) < 0 || (vm->mem.file && reset_prepare(cl) < 0))
			_exit(HF_STATUS_ERROR);
		/* Copy the boot info page now, not when the clone is waited for. */
		if (vm->cfg.kind == VM_BARE)
			bare_clone_info(vm, vm->clone_id, 0);
		prefault_run(vm, cl->cfg.prefault); /* while it waits: the clone then starts with
						      private pages */
		cl->prefaulted = true;
		return warm_child(cl, sv[1]);
	}
	close(sv[1]);
	pl->kids[pl->n++] = (struct pool_child){.pid = pid, .sock = sv[0]};
	return 0;
}

static void pool_drop(struct pool *pl, unsigned i)
{
	close(pl->kids[i].sock);
	pl->kids[i] = pl->kids[--pl->n];
}

/* Wait up to timeout_ms for warm child i to say it is warm. Returns 1 warm, 0 not yet,
 * -1 it failed (logged, dropped from the pool). */
static int pool_check(struct pool *pl, unsigned i, int timeout_ms)
{
	struct pool_child *k = &pl->kids[i];
	if (k->warm)
		return 1;
	struct pollfd p = {.fd = k->sock, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	char buf[512];
	ssize_t n = read(k->sock, buf, sizeof(buf) - 1);
	if (n == 1 && buf[0] == WARM_BYTE) {
		k->warm = true;
		return 1;
	}
	buf[n > 0 ? n : 0] = 0;
	pr_err("warm clone pid %d failed: %s", (int)k->pid, n > 0 ? buf : "it exited");
	pool_drop(pl, i);
	return -1;
}

/* Wait up to timeout_ms for any warm child. Returns its index or -1. */
static int pool_first_warm(struct pool *pl, int timeout_ms)
{
	uint64_t t0 = now_ns();
	while (pl->n) {
		struct pollfd p[POOL_MAX];
		for (unsigned i = 0; i < pl->n; i++) {
			if (pl->kids[i].warm)
				return (int)i;
			p[i] = (struct pollfd){.fd = pl->kids[i].sock, .events = POLLIN};
		}
		int left = timeout_ms - (int)((now_ns() - t0) / 1000000);
		if (left <= 0 || poll(p, pl->n, left) <= 0)
			return -1;
		for (unsigned i = 0; i < pl->n; i++)
			if (p[i].revents && pool_check(pl, i, 0) == 1)
				return (int)i;
	}
	return -1;
}

bool template_refill_held(struct clones *cl)
{
	return cl->vm->frozen && cl->pool && cl->pool->held;
}

int template_refill(struct clones *cl)
{
	struct pool *pl = cl->pool;
	if (!cl->vm->frozen || !pl)
		return 0;
	while (pl->n < pl->target) {
		/* A warm child is a clone to be: it counts against the limits. */
		char why[256];
		if (admit(cl, pl->n, 1, why, sizeof(why)) < 0) {
			if (!pl->held)
				pr_warn("warm pool held at %u of %u clones: %s; it refills when the "
					"limit allows", pl->n, pl->target, why);
			pl->held = true;
			return 0;
		}
		if (pl->held)
			pr_info("warm pool refilling again (%u of %u clones)", pl->n, pl->target);
		pl->held = false;
		int r = pool_spawn(cl);
		if (r != 0)
			return r == 1 ? 1 : 0;
	}
	return 0;
}

int pool_activate(struct clones *cl, unsigned count, enum console_kind console,
		  uint64_t request_tsc, struct clone_result *res, int *fds)
{
	struct pool *pl = cl->pool;
	for (unsigned k = 0; k < count; k++) {
		int pick = -1;
		if (k && admit(cl, 0, count - k, res->error, sizeof(res->error)) < 0)
			break;
		for (unsigned i = 0; i < pl->n && pick < 0; i++)
			if (pool_check(pl, i, 0) == 1)
				pick = (int)i;
		bool on_demand = pick < 0;
		for (int tries = 0; pick < 0 && tries < 3; tries++) {
			/* The pool ran dry: start children for the rest of the request at once
			 * (both cores build them), then take the first one warm. */
			unsigned want = count - k < POOL_MAX ? count - k : POOL_MAX;
			while (pl->n < want) {
				int r = pool_spawn(cl);
				if (r == 1)
					return 1;
				if (r < 0)
					break;
				pl->kids[pl->n - 1].on_demand = true;
			}
			pick = pool_first_warm(pl, CLONE_READY_TIMEOUT_MS);
		}
		if (pick < 0) {
			snprintf(res->error, sizeof(res->error), "no warm clone could be made");
			break;
		}
		struct pool_child kid = pl->kids[pick];
		pl->kids[pick] = pl->kids[--pl->n];
		on_demand |= kid.on_demand;
		unsigned id = next_clone_id(cl);
		struct activation a = {.id = id, .console = console, .request_tsc = request_tsc};
		trace_point("pool-activate");
		if (write(kid.sock, &a, sizeof(a)) != sizeof(a)) {
			snprintf(res->error, sizeof(res->error), "warm clone pid %d is gone",
				 (int)kid.pid);
			close(kid.sock);
			continue;
		}
		cl->made = id;
		live_add(cl, kid.pid, id);
		fds[res->made] = kid.sock;
		pl->on_demand += on_demand;
		res->clones[res->made].on_demand = on_demand;
		describe(cl, &res->clones[res->made++], id, kid.pid, console);
	}
	return 0;
}

void template_pool_status(struct clones *cl, struct hf_vm_status *st)
{
	struct pool *pl = cl->pool;
	if (!cl->vm->frozen || !pl)
		return;
	st->pool_target = pl->target;
	st->on_demand = pl->on_demand;
	for (unsigned i = 0; i < pl->n;) {
		int r = pool_check(pl, i, 0);
		if (r < 0)
			continue; /* dropped: another child is at i now */
		st->pool_ready += r == 1;
		i++;
	}
}

int template_freeze(struct clones *cl, struct vcpu *requester, unsigned pool_size, char *err,
		    size_t errlen)
{
	struct vm *vm = cl->vm;
	const char *why = bus_refusal(&vm->bus);
	if (why) {
		snprintf(err, errlen, "%s", why);
		release_requester(cl, requester, true);
		return -1;
	}
	cl->pool = calloc(1, sizeof(*cl->pool));
	if (pause_and_capture(cl) < 0 || !cl->pool ||
	    (vm->mem.file && !cl->reset_ids && reset_ids_make(cl) < 0))
		goto fail;
	cl->pool->target = pool_size < POOL_MAX ? pool_size : POOL_MAX;
	cl->requester = requester ? (int)requester->index : -1;
	/* The VM never runs again here: end its vCPU threads and its KVM VM; guest RAM and
	 * the captured state stay, frozen, for the clones. */
	vcpus_stop(vm);
	vcpus_close(vm);
	vm_kvm_close(vm);
	vm->frozen = true;
	pr_info("frozen as a template; keeping %u warm clone(s) ready", cl->pool->target);
	return template_refill(cl);
fail:
	snprintf(err, errlen, "the VM state could not be captured");
	free(cl->pool);
	cl->pool = NULL;
	release_requester(cl, requester, true);
	vcpus_resume(vm);
	return -1;
}

void template_release(struct clones *cl)
{
	if (!cl->pool)
		return;
	while (cl->pool->n)
		pool_drop(cl->pool, 0);
	free(cl->pool);
	cl->pool = NULL;
}
