/* The VMM's main thread: runs the VM until it ends (see runloop.h). */
#include "vmm/runloop.h"

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
#include "core/marks.h"
#include "core/seccomp.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/trace.h"
#include "vmm/status.h"

struct runloop {
	const struct vmm_config *cfg;
	struct vm *vm;
	struct clones *clones;
	struct marks *marks;
	struct loop loop;
	struct watch sig, notify, timer;
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

static void reap_children(struct runloop *rl)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		clone_reaped(rl->clones, pid); /* no longer counts against --max-clones */
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
			reap_children(rl);
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
				(double)rl->cfg->timeout_ns / 1e9);
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

/* Serve the fork points vCPUs have reached: clone, or freeze into a template. Returns 1 in
 * a new clone. */
static int fork_points(struct runloop *rl)
{
	struct vm *vm = rl->vm;
	for (unsigned i = 0; i < vm->ncpus && !vm->frozen; i++) {
		struct vcpu *c = &vm->vcpus[i];
		if (!vcpu_loop_called(c))
			continue;
		uint64_t tsc = __rdtsc(), t_request = now_ns();
		struct clone_result res;
		if (clone_fork_point(rl->clones, c, tsc, &res) == 1)
			return 1;
		for (unsigned k = 0; k < res.made; k++)
			marks_record_at(rl->marks, HF_MARK_FORK_REQUEST, t_request,
					res.clones[k].name);
		clone_handed_out(&res); /* the guest's own fork point: no one else to tell */
		clone_result_free(&res);
		if (!res.requested)
			return 0; /* a template's fork point: frozen, or it could not be */
	}
	return 0;
}

/* A fork or template asked through the control socket (rl->ctl), at the top of the loop.
 * Returns 1 in a new clone (which does not answer: the client is the parent's). */
static int control_fork(struct runloop *rl)
{
	struct vm *vm = rl->vm;
	struct clones *cl = rl->clones;
	const struct hf_request *req = &rl->ctl.req;
	struct hf_response resp = {.ok = true};
	rl->ctl.asked = false;
	if (req->cmd == CMD_TEMPLATE) {
		char err[200];
		switch (template_freeze(cl, NULL, req->pool, err, sizeof(err))) {
		case 1:
			return 1;
		case -1:
			resp.ok = false;
			snprintf(resp.error, sizeof(resp.error), "cannot make a template: %s", err);
		}
		server_answer(&rl->server, rl->ctl.client, &resp);
		return 0;
	}
	enum console_kind kind = rl->cfg->clone.console;
	const char *unused;
	if (req->console[0])
		console_parse(req->console, &kind, &unused);
	struct clone_result res;
	int r = clone_fork(cl, req->count, kind, NULL, rl->ctl.tsc, &res);
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
			marks_record_at(rl->marks, HF_MARK_FORK_REQUEST, rl->ctl.t_request,
					res.clones[i].name);
		trace_point("fork-answer"); /* clones made, not yet handed out */
	}
	server_answer(&rl->server, rl->ctl.client, &resp);
	clone_handed_out(&res);
	if (vm->frozen)
		vm_notify(vm); /* refill the pool, now that the answer is out */
	return 0;
}

/* A device asked for the VM to go back to its start (a worker's answer is out): reset,
 * with a number of its own. A VM that cannot be, ends: its device promised the reset. */
static void asked_reset(struct runloop *rl)
{
	char err[256];
	if (clone_reset(rl->clones, CLONE_RESET_NEXT_ID, __rdtsc(), err, sizeof(err)) < 0)
		vm_request_exit(rl->vm, HF_STATUS_ERROR, "the reset a device asked for failed: %s",
				err);
}

/* What the loop does at its top. Returns 1 if this process is now a clone. */
static int top_of_loop(struct runloop *rl)
{
	if (rl->ctl.asked && control_fork(rl) == 1)
		return 1;
	if (!rl->notified || rl->vm->exiting)
		return 0;
	rl->notified = false;
	if (vm_reset_asked(rl->vm))
		asked_reset(rl);
	return fork_points(rl) == 1 || template_refill(rl->clones) == 1;
}

static int control(void *arg, struct server_client *client, const struct hf_request *req,
		   struct hf_response *resp)
{
	struct runloop *rl = arg;
	struct vm *vm = rl->vm;

	resp->ok = true;
	switch (req->cmd) {
	case CMD_STATUS:
		vm_status(vm, rl->clones, &resp->vm);
		break;
	case CMD_PAUSE:
		if (vm->frozen) {
			resp->ok = false;
			snprintf(resp->error, sizeof(resp->error), "a template does not run");
		} else if (!vm->user_paused) {
			vcpus_pause(vm);
			console_flush(&vm->console);
			vm->user_paused = true;
		}
		break;
	case CMD_RESUME:
		if (vm->user_paused) {
			vm->user_paused = false;
			vcpus_resume(vm);
		}
		break;
	case CMD_STOP:
		vm_request_exit(vm, HF_STATUS_STOPPED, "stopped through the control socket");
		break;
	case CMD_RESET: {
		long pages = clone_reset(rl->clones, req->id, __rdtsc(), resp->error,
					 sizeof(resp->error));
		resp->ok = pages >= 0;
		resp->pages = pages >= 0 ? (uint64_t)pages : 0;
		break;
	}
	case CMD_TEMPLATE:
		if (vm->frozen) {
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

static int setup(struct runloop *rl)
{
	struct vm *vm = rl->vm;
	sigset_t set;
	char path[PATH_MAX];

	rl->sig.fd = rl->timer.fd = -1;
	rl->server.listen.fd = -1;
	rl->notified = false;
	memset(&rl->ctl, 0, sizeof(rl->ctl));
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
	uint64_t timeout = rl->cfg->timeout_ns;
	if (timeout) {
		struct itimerspec its = {.it_value = {.tv_sec = (time_t)(timeout / 1000000000ull),
						      .tv_nsec = (long)(timeout % 1000000000ull)}};
		rl->timer = (struct watch){.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC),
					   .fn = on_timer,
					   .arg = rl};
		if (rl->timer.fd < 0 || timerfd_settime(rl->timer.fd, 0, &its, NULL) < 0 ||
		    loop_add(&rl->loop, &rl->timer, EPOLLIN) < 0) {
			pr_err("timerfd: %s", strerror(errno));
			return -1;
		}
	}
	if (bus_attach(&vm->bus, &rl->loop) < 0)
		return -1;
	run_file(path, sizeof(path), vm->cfg.run_dir, vm->cfg.name, RUN_FILE_SOCKET);
	if (server_open(&rl->server, &rl->loop, path, control, rl) < 0)
		return -1;
	clones_child_drops(rl->clones, rl->server.listen.fd);
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

int runloop_run(struct vm *vm, struct clones *cl, struct marks *marks,
		const struct vmm_config *cfg)
{
	struct runloop rl = {.cfg = cfg, .vm = vm, .clones = cl, .marks = marks};

	vcpu_install_kick_handler();
	if (setup(&rl) < 0 || seccomp_enter(SECCOMP_MAIN) < 0) {
		teardown(&rl, false);
		return HF_STATUS_ERROR;
	}
	seccomp_test_hook(SECCOMP_MAIN, vm->clone_id != 0);
	seccomp_escape_test();
	if (vcpus_start(vm) < 0) {
		teardown(&rl, false);
		return HF_STATUS_ERROR;
	}
	for (;;) {
		if (top_of_loop(&rl) == 1) {
			/* This process is now a clone: its KVM state is restored; give it its own
			 * loop, socket and timer, and let its vCPUs run (a warm clone's already
			 * do). */
			trace_point("clone-loop");
			teardown(&rl, true);
			bool ok = vcpus_start(vm) == 0;
			trace_point("clone-vcpus-started");
			if (!ok || setup(&rl) < 0 || clone_child_started(cl, &rl.loop) < 0) {
				vcpus_join(vm);
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
		bool held = template_refill_held(cl);
		if (loop_once(&rl.loop, held ? 1000 : -1) < 0)
			vm_request_exit(vm, HF_STATUS_ERROR, "event loop failed");
		rl.notified |= held;
	}
	vcpus_join(vm);
	console_flush(&vm->console);
	teardown(&rl, false);
	return vm->exit_status;
}
