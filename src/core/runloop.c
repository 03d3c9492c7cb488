/* The VMM main thread: runs a VM until it ends, serving its control socket, signals,
 * timeout, console input and fork points. */
#include "core/runloop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "api/server.h"
#include "clone/fork.h"
#include "clone/prefault.h"
#include "core/seccomp.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "jail/jail.h"
#include "util/log.h"
#include "util/trace.h"

struct runloop {
	struct vm *vm;
	struct loop loop;
	struct watch sig, notify, timer, input;
	struct server server;
	/* Work done at the top of the loop, outside any callback, because it forks: a fork or
	 * template asked through the control socket (its client waits for the answer), and
	 * the fork points and pool refills the notify eventfd announced. */
	struct {
		bool asked;
		struct hf_request req;
		struct server_client *client;
		uint64_t tsc, t_request; /* when it was asked */
	} ctl;
	bool notified;
};

static void read_smaps_rollup(struct hf_vm_status *st)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "re");
	char line[256];
	unsigned long long v, priv = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %llu kB", &v) == 1)
			st->rss_kb = v;
		else if (sscanf(line, "Pss: %llu kB", &v) == 1)
			st->pss_kb = v;
		else if (sscanf(line, "Private_Clean: %llu kB", &v) == 1 ||
			 sscanf(line, "Private_Dirty: %llu kB", &v) == 1)
			priv += v;
	}
	st->private_kb = priv;
	fclose(f);
}

void vm_status(struct vm *vm, struct hf_vm_status *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", vm->cfg.name);
	snprintf(st->parent, sizeof(st->parent), "%s", vm->parent);
	pthread_mutex_lock(&vm->lock);
	snprintf(st->state, sizeof(st->state), "%s", vm_state_name(vm));
	pthread_mutex_unlock(&vm->lock);
	snprintf(st->kind, sizeof(st->kind), "%s", vm->cfg.kind == VM_BARE ? "bare" : "linux");
	snprintf(st->console, sizeof(st->console), "%s", console_kind_name(vm->console.kind));
	snprintf(st->console_path, sizeof(st->console_path), "%s", vm->console.path);
	snprintf(st->net, sizeof(st->net), "%s", vm->net_tap);
	st->pid = (int)jail_host_pid(getpid()); /* a jail has a PID namespace of its own */
	st->cpus = vm->ncpus;
	st->clone_id = vm->clone_id;
	st->clones = vm->clones_made;
	st->mem_bytes = vm->mem.ram_size;
	st->uptime_ms = (now_ns() - vm->start_ns) / 1000000;
	read_smaps_rollup(st);
	template_pool_status(vm, st);
}

static void reap_children(struct vm *vm)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		clone_reaped(vm, pid); /* no longer counts against --max-clones */
		if (WIFEXITED(status))
			pr_debug("clone pid %d exited with status %d", (int)pid,
				 WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			pr_debug("clone pid %d killed by signal %d", (int)pid, WTERMSIG(status));
	}
}

static void on_signal(struct watch *w, uint32_t events)
{
	struct runloop *rl = w->arg;
	struct signalfd_siginfo si;
	(void)events;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap_children(rl->vm);
		else
			vm_request_exit(rl->vm, HF_STATUS_STOPPED, "stopped by signal %s",
					strsignal((int)si.ssi_signo));
	}
}

static void on_timer(struct watch *w, uint32_t events)
{
	struct runloop *rl = w->arg;
	uint64_t n;
	(void)events;
	if (read(w->fd, &n, sizeof(n)) == sizeof(n))
		vm_request_exit(rl->vm, HF_STATUS_TIMEOUT, "timed out after %.3g s",
				(double)rl->vm->cfg.timeout_ns / 1e9);
}

static void on_input(struct watch *w, uint32_t events)
{
	struct runloop *rl = w->arg;
	uint8_t buf[256];
	ssize_t n = read(w->fd, buf, sizeof(buf));
	if (n > 0) {
		serial_input(rl->vm, buf, (size_t)n);
		return;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || (events & EPOLLHUP)) {
		/* End of input (or a pty nobody has opened): stop watching. */
		loop_del(&rl->loop, w);
	}
}

/* Serve the fork points vCPUs have reached: clone, or freeze into a template. Returns 1 in
 * a new clone. */
static int serve_fork_points(struct runloop *rl)
{
	struct vm *vm = rl->vm;
	for (unsigned i = 0; i < vm->ncpus && !vm->is_template; i++) {
		struct vcpu *c = &vm->vcpus[i];
		pthread_mutex_lock(&vm->lock);
		bool pending = c->fork_pending && c->parked;
		pthread_mutex_unlock(&vm->lock);
		if (!pending)
			continue;
		uint64_t tsc = __rdtsc(), t_request = now_ns();
		if (vm->cfg.template) {
			char err[256];
			int r = template_freeze(vm, c, vm->cfg.template_pool, err, sizeof(err));
			if (r < 0)
				pr_err("fork point on vCPU %u: cannot make a template: %s", i, err);
			return r == 1;
		}
		struct clone_result res;
		int r = clone_fork(vm, 1, vm->cfg.clone_console, c, tsc, &res);
		if (r == 1)
			return 1;
		if (r < 0)
			pr_err("fork point on vCPU %u: no clone made: %s", i, res.error);
		else
			marks_record_at(vm, HF_MARK_FORK_REQUEST, t_request, res.clones[0].name);
		clone_handed_out(&res); /* the guest's own fork point: no one else to tell */
		clone_result_free(&res);
	}
	return 0;
}

static void on_notify(struct watch *w, uint32_t events)
{
	struct runloop *rl = w->arg;
	uint64_t n;
	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	rl->notified = true;
}

/* A fork or template asked through the control socket (rl->ctl), at the top of the loop.
 * Returns 1 in a new clone (which does not answer: the client is the parent's). */
static int serve_control_fork(struct runloop *rl)
{
	struct vm *vm = rl->vm;
	const struct hf_request *req = &rl->ctl.req;
	struct hf_response resp = {.ok = true};
	rl->ctl.asked = false;
	if (req->cmd == CMD_TEMPLATE) {
		char err[200];
		switch (template_freeze(vm, NULL, req->pool, err, sizeof(err))) {
		case 1:
			return 1;
		case -1:
			resp.ok = false;
			snprintf(resp.error, sizeof(resp.error), "cannot make a template: %s", err);
		}
		server_answer(&rl->server, rl->ctl.client, &resp);
		return 0;
	}
	enum console_kind kind = vm->cfg.clone_console;
	const char *unused;
	if (req->console[0])
		console_parse(req->console, &kind, &unused);
	struct clone_result res;
	int r = clone_fork(vm, req->count, kind, NULL, rl->ctl.tsc, &res);
	if (r == 1)
		return 1;
	if (r < 0) {
		resp.ok = false;
		snprintf(resp.error, sizeof(resp.error), "no clone made: %s", res.error);
		clone_result_free(&res);
	} else {
		if (res.made < res.requested) {
			/* Report the clones made: they exist and the caller must know them. */
			pr_warn("made %u of %u clones: %s", res.made, res.requested, res.error);
			snprintf(resp.error, sizeof(resp.error), "made %u of %u clones: %s",
				 res.made, res.requested, res.error);
		}
		resp.nclones = res.made;
		resp.clones = res.clones; /* freed with the response */
		for (unsigned i = 0; i < res.made; i++)
			marks_record_at(vm, HF_MARK_FORK_REQUEST, rl->ctl.t_request,
					res.clones[i].name);
	}
	/* Test-only: a parent killed between making its clones and answering (the environment
	 * is read once, not on every fork). */
	static int kill_before_answer = -1;
	if (kill_before_answer < 0)
		kill_before_answer = getenv("HYPERFORK_TEST_KILL_BEFORE_ANSWER") != NULL;
	if (res.made && kill_before_answer)
		raise(SIGKILL);
	server_answer(&rl->server, rl->ctl.client, &resp);
	clone_handed_out(&res);
	if (vm->is_template)
		vm_notify(vm); /* refill the pool, now that the answer is out */
	return 0;
}

/* What the loop does at its top. Returns 1 if this process is now a clone. */
static int serve_forks(struct runloop *rl)
{
	if (rl->ctl.asked && serve_control_fork(rl) == 1)
		return 1;
	if (!rl->notified || rl->vm->exiting)
		return 0;
	rl->notified = false;
	return serve_fork_points(rl) == 1 || template_refill(rl->vm) == 1;
}

static int control(void *arg, struct server_client *client, const struct hf_request *req,
		   struct hf_response *resp)
{
	struct runloop *rl = arg;
	struct vm *vm = rl->vm;

	resp->ok = true;
	switch (req->cmd) {
	case CMD_STATUS:
		vm_status(vm, &resp->vm);
		break;
	case CMD_PAUSE:
		if (vm->is_template) {
			resp->ok = false;
			snprintf(resp->error, sizeof(resp->error), "a template does not run");
		} else if (!vm->user_paused) {
			vm_pause_all(vm);
			console_flush(&vm->console);
			vm->user_paused = true;
		}
		break;
	case CMD_RESUME:
		if (vm->user_paused) {
			vm->user_paused = false;
			vm_resume_all(vm);
		}
		break;
	case CMD_STOP:
		vm_request_exit(vm, HF_STATUS_STOPPED, "stopped through the control socket");
		break;
	case CMD_TEMPLATE:
		if (vm->is_template) {
			resp->ok = false;
			snprintf(resp->error, sizeof(resp->error), "already a template");
			break;
		}
		if (req->pool == 0) {
			resp->ok = false;
			snprintf(resp->error, sizeof(resp->error), "a template needs a pool of 1 or more");
			break;
		}
		__attribute__((fallthrough)); /* frozen at the top of the loop */
	case CMD_FORK:
		rl->ctl.asked = true;
		rl->ctl.req = *req;
		rl->ctl.client = client;
		rl->ctl.tsc = __rdtsc();
		rl->ctl.t_request = now_ns();
		return SERVER_LATER;
	}
	return SERVER_ANSWER;
}

static int setup(struct runloop *rl, struct vm *vm)
{
	sigset_t set;
	char path[PATH_MAX];

	memset(rl, 0, sizeof(*rl));
	rl->vm = vm;
	vm->runloop = rl;
	rl->sig.fd = rl->timer.fd = rl->input.fd = -1;
	rl->server.listen.fd = -1;
	if (loop_init(&rl->loop) < 0)
		return -1;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	rl->sig = (struct watch){.fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK),
				 .fn = on_signal,
				 .arg = rl};
	if (rl->sig.fd < 0 || loop_add(&rl->loop, &rl->sig, EPOLLIN) < 0) {
		pr_err("signalfd: %s", strerror(errno));
		return -1;
	}
	rl->notify = (struct watch){.fd = vm->notify_fd, .fn = on_notify, .arg = rl};
	if (loop_add(&rl->loop, &rl->notify, EPOLLIN) < 0)
		return -1;
	if (vm->cfg.timeout_ns) {
		struct itimerspec its = {
			.it_value = {.tv_sec = (time_t)(vm->cfg.timeout_ns / 1000000000ull),
				     .tv_nsec = (long)(vm->cfg.timeout_ns % 1000000000ull)}};
		rl->timer = (struct watch){.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC),
					   .fn = on_timer,
					   .arg = rl};
		if (rl->timer.fd < 0 || timerfd_settime(rl->timer.fd, 0, &its, NULL) < 0 ||
		    loop_add(&rl->loop, &rl->timer, EPOLLIN) < 0) {
			pr_err("timerfd: %s", strerror(errno));
			return -1;
		}
	}
	if (vm->console.in_fd >= 0 && vm->cfg.kind == VM_LINUX) {
		rl->input = (struct watch){.fd = vm->console.in_fd, .fn = on_input, .arg = rl};
		if (loop_add(&rl->loop, &rl->input, EPOLLIN) < 0)
			rl->input.fd = -1;
	}
	if (bus_attach(&vm->bus, &rl->loop) < 0)
		return -1;
	run_file(path, sizeof(path), vm->cfg.run_dir, vm->cfg.name, RUN_FILE_SOCKET);
	if (server_open(&rl->server, &rl->loop, path, control, rl) < 0)
		return -1;
	return 0;
}

/* Release what setup() made. In a clone (abandon), the objects are shared with the parent:
 * drop the fds only. */
static void teardown(struct runloop *rl, bool abandon)
{
	if (abandon)
		server_abandon(&rl->server);
	else
		server_close(&rl->server);
	if (rl->sig.fd >= 0)
		close(rl->sig.fd);
	if (rl->timer.fd >= 0)
		close(rl->timer.fd);
	loop_close(&rl->loop);
}

int vm_run(struct vm *vm)
{
	struct runloop rl;

	vcpu_install_kick_handler();
	if (setup(&rl, vm) < 0 || seccomp_enter(SECCOMP_MAIN) < 0) {
		teardown(&rl, false);
		return HF_STATUS_ERROR;
	}
	seccomp_test_hook(SECCOMP_MAIN, vm->clone_id != 0);
	if (vm_start_vcpus(vm) < 0) {
		teardown(&rl, false);
		return HF_STATUS_ERROR;
	}
	for (;;) {
		if (serve_forks(&rl) == 1) {
			/* This process is now a clone: its KVM state is restored; give it its own
			 * loop, socket and timer, and let its vCPUs run (a warm clone's already
			 * do). */
			trace_point("clone-loop");
			teardown(&rl, true);
			bool ok = vm_start_vcpus(vm) == 0;
			trace_point("clone-vcpus-started");
			if (!ok || setup(&rl, vm) < 0 || clone_child_started(vm, &rl.loop) < 0) {
				vm_join_vcpus(vm);
				teardown(&rl, false);
				return HF_STATUS_ERROR;
			}
			trace_point("clone-ready");
			seccomp_test_hook(SECCOMP_MAIN, true);
		}
		pthread_mutex_lock(&vm->lock);
		bool done = vm->exiting;
		pthread_mutex_unlock(&vm->lock);
		if (done)
			break;
		/* A pool the admission limits hold back is retried every second. */
		bool held = template_refill_held(vm);
		if (loop_once(&rl.loop, held ? 1000 : -1) < 0)
			vm_request_exit(vm, HF_STATUS_ERROR, "event loop failed");
		rl.notified |= held;
	}
	vm_join_vcpus(vm);
	prefault_stop(vm);
	console_flush(&vm->console);
	template_release(vm);
	teardown(&rl, false);
	vm->runloop = NULL;
	return vm->exit_status;
}
