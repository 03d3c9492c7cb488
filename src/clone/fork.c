/* Flash-cloning: pause, capture, fork(), and in each child rebuild the KVM VM from the
 * captured state; templates keep a pool of such children ready. */
#include "clone/fork.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "api/server.h"
#include "arch/x86/cpu.h"
#include "clone/prefault.h"
#include "clone/snapshot.h"
#include "util/loop.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "jail/jail.h"
#include "util/log.h"
#include "util/sock.h"
#include "util/trace.h"

#define CLONE_READY_TIMEOUT_MS 10000
#define READY_LINE "READY\n"
#define WARM_BYTE 'W'
#define HANDED_BYTE 'H'
#define POOL_MAX 64

/* A warm child of a template: its KVM VM is built; it waits for an activation. */
struct pool_child {
	pid_t pid;
	int sock; /* SOCK_SEQPACKET to the child */
	bool warm;
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

static int ready_fd = -1; /* clone: to the parent, until it has been handed out */
static struct watch handoff_w;
static struct loop *handoff_loop;

/* Fork child: drop this process's own channel to its parent, if it was not handed out
 * yet (the epoll instance is the parent's too: the watch is left alone). */
static void handoff_forget(void)
{
	handoff_loop = NULL;
	if (ready_fd >= 0)
		close(ready_fd);
	ready_fd = -1;
}

static void handoff_close(void)
{
	if (handoff_loop)
		loop_del(handoff_loop, &handoff_w);
	handoff_forget();
}

/* Clone: the parent's word that it was handed out, or its end before that. */
static void on_handoff(struct watch *w, uint32_t events)
{
	char b = 0;
	ssize_t n = read(w->fd, &b, 1);
	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	handoff_close();
	if (n != 1 || b != HANDED_BYTE)
		vm_request_exit(w->arg, HF_STATUS_STOPPED,
				"its parent ended before it handed this clone out (no one was told of "
				"it): the clone ends");
}

/* Clones of this VM that are alive (forked or activated, not yet reaped): what
 * --max-clones counts. A clone starts with none of its own. */
struct live_clone {
	pid_t pid;
	unsigned id;
};
static struct {
	struct live_clone *c;
	unsigned n, cap;
} live;

/* Forget clone pid; its number into *id. Returns false if it is not a live clone. */
static bool live_remove(pid_t pid, unsigned *id)
{
	for (unsigned i = 0; i < live.n; i++)
		if (live.c[i].pid == pid) {
			*id = live.c[i].id;
			live.c[i] = live.c[--live.n];
			return true;
		}
	return false;
}

/* live_add after admit() cannot fail: admit made room. */
static void live_add(pid_t pid, unsigned id)
{
	if (live.n < live.cap)
		live.c[live.n++] = (struct live_clone){pid, id};
}

unsigned clone_live_count(void)
{
	return live.n;
}

void clone_reaped(struct vm *vm, pid_t pid)
{
	unsigned id;
	if (!live_remove(pid, &id))
		return;
	/* Its names are its own (ids are never reused by this VM): whatever it left (killed
	 * by a signal), no one else will remove. */
	char name[HF_NAME_MAX + 16], path[PATH_MAX];
	clone_name(name, sizeof(name), vm->cfg.name, id);
	for (unsigned i = 0; i < ARRAY_SIZE(run_file_sockets); i++) {
		run_file(path, sizeof(path), vm->cfg.run_dir, name, run_file_sockets[i]);
		unlink(path);
	}
	if (vm->pool && vm->pool->held)
		vm_notify(vm); /* a held pool may refill now */
}

/* May count more clones of vm be made now, besides the live ones and extra (warm
 * children)? Returns 0, or -1 with why naming the limit (vm->cfg.limits). */
static int admit(struct vm *vm, unsigned extra, unsigned count, char *why, size_t whylen)
{
	if (admit_clones_now(&vm->cfg.limits, live.n + extra, count, why, whylen) != ADMIT_OK)
		return -1;
	if (count > live.cap - live.n) {
		unsigned cap = live.n + count + 64;
		struct live_clone *c = realloc(live.c, cap * sizeof(*c));
		if (!c)
			return errf(why, whylen, "out of memory counting live clones");
		live.c = c;
		live.cap = cap;
	}
	return 0;
}

/* In the clone, stderr is the console (or nothing), never the parent's terminal or pipe:
 * a clone must not keep its parent's output streams open. */
static void child_redirect_stdio(struct vm *vm)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(vm->console.out_fd >= 0 && vm->console.kind == CONSOLE_FILE
			     ? vm->console.out_fd
			     : null,
		     STDERR_FILENO);
		close(null);
	}
}

/* Child, first thing: drop the kernel objects inherited from the parent (its KVM VM and
 * vCPUs, its eventfd) and the state its threads shared. */
static int drop_inherited(struct vm *vm)
{
	vm_init_sync(vm);
	vm->nparked = 0;
	vm->pause_req = vm->user_paused; /* a clone of a paused VM starts paused */
	vm->threads_stop = false;
	free(live.c); /* the parent's clones are not this clone's */
	memset(&live, 0, sizeof(live));
	prefault_forget(vm);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		c->thread_running = c->parked = c->self_park = c->fork_pending = false;
	}
	vm_kvm_close(vm);
	close(vm->notify_fd);
	vm->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->notify_fd < 0) {
		pr_err("eventfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Child: a new KVM VM over the inherited guest RAM, loaded with the captured state.
 * (Adding the memory slots on a second thread, beside the vCPU work, was measured slower
 * here: the thread's first wakeup costs more than it saves.) */
static int rebuild_kvm(struct vm *vm)
{
	if (vm_kvm_setup(vm) < 0 || snapshot_restore_vm(vm) < 0)
		return -1;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		if (vcpu_create(vm, c) < 0 || cpu_set_cpuid(vm, c) < 0 ||
		    snapshot_restore_vcpu(vm, c) < 0)
			return -1;
	}
	if (snapshot_restore_clock(vm) < 0)
		return -1;
	return bus_post_fork(&vm->bus);
}

/* Child: take the name, number and process group of clone id of the VM whose name it
 * still carries. */
static void take_identity(struct vm *vm, unsigned id)
{
	snprintf(vm->parent, sizeof(vm->parent), "%s", vm->cfg.name);
	clone_name(vm->cfg.name, sizeof(vm->cfg.name), vm->parent, id);
	log_set_name(vm->cfg.name);
	vm->clone_id = id;
	vm->clones_made = 0;
	vm->is_template = false;
	vm->output_marked = 0;
	vm->parent_pid = getppid();
	setpgid(0, 0); /* the parent's terminal signals (^C) are not the clone's */
	vm->start_ns = now_ns();
}

/* Child, before its guest runs: the console of clone id (opened once the vCPUs run) and,
 * for a bare guest, its boot info. May run on vCPU 0's thread. */
static void prepare_guest(struct vm *vm, const char *parent, unsigned id,
			  enum console_kind console, uint64_t request_tsc)
{
	char name[HF_NAME_MAX + 16], path[PATH_MAX];
	clone_name(name, sizeof(name), parent, id);
	run_file(path, sizeof(path), vm->cfg.run_dir, name, RUN_FILE_CONSOLE);
	console_close(&vm->console);
	console_defer(&vm->console, console, path);
	vm->output_marked = 0;
	if (vm->cfg.kind == VM_BARE) {
		struct hf_boot_info *bi = mem_ptr(&vm->mem, HF_BOOT_INFO_ADDR, sizeof(*bi));
		if (bi) {
			bi->clone_id = id;
			bi->clone_request_tsc = snapshot_guest_tsc(vm, request_tsc);
		}
	}
}

int clone_child_started(struct vm *vm, struct loop *l)
{
	if (ready_fd < 0)
		return 0;
	if (console_attach(&vm->console) < 0)
		return -1; /* the parent hears why through ready_fd */
	child_redirect_stdio(vm);
	if (!vm->cfg.cow_prefault_sync)
		prefault_start(vm);
	ssize_t w = write(ready_fd, READY_LINE, strlen(READY_LINE));
	(void)w;
	log_set_fd(STDERR_FILENO);
	/* Now wait on the main loop for the parent to hand this clone out. */
	handoff_w = (struct watch){.fd = ready_fd, .fn = on_handoff, .arg = vm};
	if (loop_add(l, &handoff_w, EPOLLIN) == 0)
		handoff_loop = l;
	else
		handoff_close();
	return 0;
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

static void describe(struct vm *vm, struct hf_clone_info *ci, unsigned id, pid_t pid,
		     enum console_kind console)
{
	clone_name(ci->name, sizeof(ci->name), vm->cfg.name, id);
	ci->pid = pid;
	run_file(ci->socket, sizeof(ci->socket), vm->cfg.run_dir, ci->name, RUN_FILE_SOCKET);
	if (console == CONSOLE_FILE)
		run_file(ci->console, sizeof(ci->console), vm->cfg.run_dir, ci->name,
			 RUN_FILE_CONSOLE);
	else
		snprintf(ci->console, sizeof(ci->console), "%s", console_kind_name(console));
}

/* Keep the clones that said READY, with their channels (fds, compacted like res->clones),
 * drop the others (reporting the first failure). */
static void collect_ready(struct vm *vm, struct clone_result *res, int *fds)
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
		clone_reaped(vm, res->clones[i].pid);
		close(fds[i]);
	}
	res->made = ok;
	for (unsigned i = 0; i < ok; i++) /* as the host sees them (a jail has its own pids) */
		res->clones[i].pid = jail_host_pid(res->clones[i].pid);
}

/* The next clone's number: past the last one made, and past any name a live VM holds in
 * the run directory (clones of an earlier VM of this name, e.g. a template serve booted
 * again while they ran). A stale socket there is taken over as usual. */
static unsigned next_clone_id(struct vm *vm)
{
	unsigned id = vm->clones_made + 1;
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

static int check_names(struct vm *vm, unsigned count, struct clone_result *res)
{
	char probe[HF_NAME_MAX + 16];
	int need = clone_name(probe, sizeof(probe), vm->cfg.name, vm->clones_made + count);
	if (need > HF_NAME_MAX) {
		snprintf(res->error, sizeof(res->error), "clone name %s would exceed %d characters",
			 probe, HF_NAME_MAX);
		return -1;
	}
	return 0;
}

/* Pause every vCPU (exits in flight completed), flush the console, let each device
 * capture what lives outside this process, and capture the KVM state. Returns 0 or -1
 * (the vCPUs stay paused either way). */
static int pause_and_capture(struct vm *vm)
{
	trace_point("fork-request");
	vm_pause_all(vm);
	trace_point("fork-paused");
	console_flush(&vm->console);
	if (bus_pre_fork(&vm->bus) < 0)
		return -1;
	int r = snapshot_capture(vm);
	trace_point("fork-captured");
	return r;
}

static int pool_serve(struct vm *vm, unsigned count, enum console_kind console,
		      uint64_t request_tsc, struct clone_result *res, int *fds);

/* Let the vCPU stopped at a fork point go on; its fork point returns HF_FORK_FAILED if
 * failed (otherwise the value already in its RAX). */
static void release_requester(struct vm *vm, struct vcpu *requester, bool failed)
{
	if (!requester)
		return;
	if (failed)
		vcpu_set_rax(requester, HF_FORK_FAILED);
	pthread_mutex_lock(&vm->lock);
	requester->fork_pending = false;
	requester->self_park = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

int clone_fork(struct vm *vm, unsigned count, enum console_kind console, struct vcpu *requester,
	       uint64_t request_tsc, struct clone_result *res)
{
	memset(res, 0, sizeof(*res));
	res->requested = count;
	res->clones = calloc(count ? count : 1, sizeof(*res->clones));
	int *ready = calloc(count ? count : 1, sizeof(int));
	const char *why = NULL;
	if (!res->clones || !ready)
		snprintf(res->error, sizeof(res->error), "out of memory");
	else if (check_names(vm, count, res) == 0 && (why = bus_refusal(&vm->bus)))
		snprintf(res->error, sizeof(res->error), "cannot clone: %s", why);
	else if (!res->error[0])
		admit(vm, 0, count, res->error, sizeof(res->error));
	if (res->error[0]) {
		free(ready);
		release_requester(vm, requester, true);
		return -1;
	}
	if (vm->is_template) {
		int r = pool_serve(vm, count, console, request_tsc, res, ready);
		if (r == 1) {
			free(ready);
			return 1;
		}
		collect_ready(vm, res, ready);
		res->handoff = ready;
		return res->made ? 0 : -1;
	}

	if (pause_and_capture(vm) < 0) {
		snprintf(res->error, sizeof(res->error), "cannot capture the VM state");
		goto resume;
	}

	for (unsigned k = 0; k < count; k++) {
		int p[2];
		if (k && admit(vm, 0, count - k, res->error, sizeof(res->error)) < 0)
			break; /* before each clone: the host's memory goes down as they start */
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0) {
			snprintf(res->error, sizeof(res->error), "socketpair: %s", strerror(errno));
			break;
		}
		unsigned id = next_clone_id(vm);
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
			handoff_forget();
			ready_fd = p[1];
			log_set_fd(ready_fd); /* errors while rebuilding reach the parent */
			if (requester)
				requester->snap->regs.rax = id;
			jail_enter_clone_cgroup(vm->cfg.name, id); /* before its KVM VM is made */
			if (drop_inherited(vm) < 0)
				_exit(HF_STATUS_ERROR);
			trace_point("child-dropped");
			if (rebuild_kvm(vm) < 0)
				_exit(HF_STATUS_ERROR);
			trace_point("child-rebuilt");
			if (vm->cfg.cow_prefault_sync)
				prefault_run(vm);
			prepare_guest(vm, vm->cfg.name, id, console, request_tsc);
			take_identity(vm, id);
			return 1;
		}
		trace_point("fork-returned");
		close(p[1]);
		vm->clones_made = id;
		live_add(pid, id);
		ready[res->made] = p[0];
		describe(vm, &res->clones[res->made++], id, pid, console);
	}

resume:
	release_requester(vm, requester, res->made == 0);
	if (!vm->user_paused)
		vm_resume_all(vm);
	else
		pthread_cond_broadcast(&vm->cond);

	/* The parent runs again; now collect each clone's word that it started. */
	if (res->made)
		prefault_start(vm); /* its pages are shared with the clones now, too */
	collect_ready(vm, res, ready);
	res->handoff = ready;
	return res->made ? 0 : -1;
}

static void handoff_send(struct clone_result *res, bool handed)
{
	char b = HANDED_BYTE;
	for (unsigned i = 0; res->handoff && i < res->made; i++) {
		if (handed && write(res->handoff[i], &b, 1) != 1) /* (res->clones may be gone) */
			pr_debug("clone %u of the request was not told it was handed out: %s", i + 1,
				 strerror(errno));
		close(res->handoff[i]);
	}
	free(res->handoff);
	res->handoff = NULL;
}

void clone_handed_out(struct clone_result *res)
{
	handoff_send(res, true);
}

void clone_result_free(struct clone_result *res)
{
	handoff_send(res, false);
	free(res->clones);
	res->clones = NULL;
}

/* ---- templates ---------------------------------------------------------------------- */

bool clone_warm_activate(struct vcpu *c)
{
	struct vm *vm = c->vm;
	struct activation a;
	ssize_t n;
	do
		n = read(vm->warm_fd, &a, sizeof(a));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(a)) { /* the template is gone: this warm clone was never used */
		vm_request_exit(vm, 0, "template gone");
		return false;
	}
	trace_point("warm-activated");
	/* On this vCPU's thread, so the guest runs without waiting for another wakeup; the
	 * main thread does the rest (name, socket, console) meanwhile. */
	if (vm->template_requester >= 0)
		vcpu_set_rax_on_entry(&vm->vcpus[vm->template_requester], a.id);
	prepare_guest(vm, vm->cfg.name, a.id, (enum console_kind)a.console, a.request_tsc);
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
static int warm_child(struct vm *vm, int sock)
{
	char w = WARM_BYTE;
	vm->warm_fd = sock;
	vm->pause_req = true;
	if (vm_start_vcpus(vm) < 0 || write(sock, &w, 1) != 1)
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
	jail_enter_clone_cgroup(vm->cfg.name, vm->clone_id);
	take_identity(vm, vm->clone_id);
	vm->warm_fd = -1; /* sock stays open as ready_fd */
	return 1;
}

/* Template: fork one warm child. Returns 0 (parent), 1 (activated child), -1 on error. */
static int pool_spawn(struct vm *vm)
{
	struct pool *pl = vm->pool;
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
		pl->n = 0;
		close(sv[0]);
		handoff_forget();
		ready_fd = sv[1];
		log_set_fd(ready_fd);
		jail_enter_clone_cgroup(vm->cfg.name, 0); /* waits in the pool's group */
		if (drop_inherited(vm) < 0 || rebuild_kvm(vm) < 0)
			_exit(HF_STATUS_ERROR);
		/* Copy the boot info page now, not when the clone is waited for. */
		struct hf_boot_info *bi = mem_ptr(&vm->mem, HF_BOOT_INFO_ADDR, sizeof(*bi));
		if (bi && vm->cfg.kind == VM_BARE)
			bi->clone_request_tsc = 0;
		prefault_run(vm); /* while it waits: the clone then starts with private pages */
		vm->cfg.cow_prefault_sync = true; /* done: not again once activated */
		return warm_child(vm, sv[1]);
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

bool template_refill_held(struct vm *vm)
{
	return vm->is_template && vm->pool && vm->pool->held;
}

int template_refill(struct vm *vm)
{
	struct pool *pl = vm->pool;
	if (!vm->is_template || !pl)
		return 0;
	while (pl->n < pl->target) {
		/* A warm child is a clone to be: it counts against the limits. */
		char why[256];
		if (admit(vm, pl->n, 1, why, sizeof(why)) < 0) {
			if (!pl->held)
				pr_warn("warm pool held at %u of %u clones: %s; it refills when the "
					"limit allows", pl->n, pl->target, why);
			pl->held = true;
			return 0;
		}
		if (pl->held)
			pr_info("warm pool refilling again (%u of %u clones)", pl->n, pl->target);
		pl->held = false;
		int r = pool_spawn(vm);
		if (r != 0)
			return r == 1 ? 1 : 0;
	}
	return 0;
}

/* Template: activate count warm children (making more if the pool runs dry). */
static int pool_serve(struct vm *vm, unsigned count, enum console_kind console,
		      uint64_t request_tsc, struct clone_result *res, int *fds)
{
	struct pool *pl = vm->pool;
	for (unsigned k = 0; k < count; k++) {
		int pick = -1;
		if (k && admit(vm, 0, count - k, res->error, sizeof(res->error)) < 0)
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
				int r = pool_spawn(vm);
				if (r == 1)
					return 1;
				if (r < 0)
					break;
			}
			pick = pool_first_warm(pl, CLONE_READY_TIMEOUT_MS);
		}
		if (pick < 0) {
			snprintf(res->error, sizeof(res->error), "no warm clone could be made");
			break;
		}
		struct pool_child kid = pl->kids[pick];
		pl->kids[pick] = pl->kids[--pl->n];
		unsigned id = next_clone_id(vm);
		struct activation a = {.id = id, .console = console, .request_tsc = request_tsc};
		trace_point("pool-activate");
		if (write(kid.sock, &a, sizeof(a)) != sizeof(a)) {
			snprintf(res->error, sizeof(res->error), "warm clone pid %d is gone",
				 (int)kid.pid);
			close(kid.sock);
			continue;
		}
		vm->clones_made = id;
		live_add(kid.pid, id);
		fds[res->made] = kid.sock;
		pl->on_demand += on_demand;
		res->clones[res->made].on_demand = on_demand;
		describe(vm, &res->clones[res->made++], id, kid.pid, console);
	}
	return 0;
}

void template_pool_status(struct vm *vm, struct hf_vm_status *st)
{
	struct pool *pl = vm->pool;
	if (!vm->is_template || !pl)
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

int template_freeze(struct vm *vm, struct vcpu *requester, unsigned pool_size, char *err,
		    size_t errlen)
{
	const char *why = bus_refusal(&vm->bus);
	if (why) {
		snprintf(err, errlen, "%s", why);
		release_requester(vm, requester, true);
		return -1;
	}
	vm->pool = calloc(1, sizeof(*vm->pool));
	if (pause_and_capture(vm) < 0 || !vm->pool)
		goto fail;
	vm->pool->target = pool_size < POOL_MAX ? pool_size : POOL_MAX;
	vm->template_requester = requester ? (int)requester->index : -1;
	/* The VM never runs again here: end its vCPU threads and its KVM VM; guest RAM and
	 * the captured state stay, frozen, for the clones. */
	vm_stop_vcpus(vm);
	vm_kvm_close(vm);
	vm->is_template = true;
	pr_info("frozen as a template; keeping %u warm clone(s) ready", vm->pool->target);
	return template_refill(vm);
fail:
	snprintf(err, errlen, "the VM state could not be captured");
	free(vm->pool);
	vm->pool = NULL;
	release_requester(vm, requester, true);
	vm_resume_all(vm);
	return -1;
}

void template_release(struct vm *vm)
{
	if (!vm->pool)
		return;
	while (vm->pool->n)
		pool_drop(vm->pool, 0);
	free(vm->pool);
	vm->pool = NULL;
}
