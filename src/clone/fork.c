/* Flash-cloning: pause, capture, fork(), and in each child rebuild the KVM VM from the
 * captured state. */
#include "clone/fork.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "clone/snapshot.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "util/log.h"

#define CLONE_READY_TIMEOUT_MS 10000
#define READY_LINE "READY\n"

void vm_socket_path(const struct vm *vm, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.sock", vm->cfg.run_dir, name);
}

void vm_console_path(const struct vm *vm, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.console", vm->cfg.run_dir, name);
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

static int child_rebuild(struct vm *vm, unsigned id, enum console_kind console,
			 struct vcpu *requester)
{
	char name[HF_NAME_MAX + 1], path[PATH_MAX];

	/* Identity */
	snprintf(vm->parent, sizeof(vm->parent), "%s", vm->cfg.name);
	snprintf(name, sizeof(name), "%s.%u", vm->cfg.name, id);
	snprintf(vm->cfg.name, sizeof(vm->cfg.name), "%s", name);
	log_set_name(name);
	vm->clone_id = id;
	vm->clones_made = 0;
	vm->parent_pid = getppid();
	setpgid(0, 0); /* the parent's terminal signals (^C) are not the clone's */

	/* Threads are gone: reset what they shared. */
	vm_init_sync(vm);
	vm->nparked = 0;
	vm->pause_req = vm->user_paused; /* a clone of a paused VM starts paused */
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		c->thread_running = c->parked = c->self_park = c->fork_pending = false;
		vcpu_close(c); /* the parent's vCPU fds and run areas */
	}
	close(vm->vm_fd);
	close(vm->notify_fd);
	vm->vm_fd = -1;
	vm->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->notify_fd < 0) {
		pr_err("eventfd: %s", strerror(errno));
		return -1;
	}

	/* Console: opened once the vCPUs run (clone_child_started). */
	console_close(&vm->console);
	vm_console_path(vm, name, path, sizeof(path));
	console_defer(&vm->console, console, path);

	/* KVM: a new VM over the inherited RAM mapping, then the captured state. */
	if (vm_kvm_setup(vm) < 0 || snapshot_restore_vm(vm) < 0)
		return -1;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		if (vcpu_create(vm, c) < 0 || cpu_set_cpuid(vm, c) < 0)
			return -1;
		if (c == requester)
			c->snap->regs.rax = id;
		if (snapshot_restore_vcpu(vm, c) < 0)
			return -1;
	}
	if (snapshot_restore_clock(vm) < 0)
		return -1;
	for (unsigned i = 0; i < vm->bus.ndevices; i++) {
		struct device *d = vm->bus.devices[i];
		if (d->ops->post_fork && d->ops->post_fork(d) < 0)
			return -1;
	}
	vm->start_ns = now_ns();
	return 0;
}

static int ready_fd = -1; /* clone: pipe to the parent until clone_child_started */

int clone_child_started(struct vm *vm)
{
	if (ready_fd < 0)
		return 0;
	if (console_attach(&vm->console) < 0)
		return -1; /* the parent hears why through the pipe */
	child_redirect_stdio(vm);
	ssize_t w = write(ready_fd, READY_LINE, strlen(READY_LINE));
	(void)w;
	close(ready_fd);
	ready_fd = -1;
	log_set_fd(STDERR_FILENO);
	return 0;
}

/* Parent: wait until the clone says READY (or reports an error, or dies). */
static int wait_ready(int fd, pid_t pid, char *err, size_t errlen)
{
	char buf[1024];
	size_t len = 0;
	int remaining = CLONE_READY_TIMEOUT_MS;
	uint64_t t0 = now_ns();

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, remaining);
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
		if (len >= strlen(READY_LINE) &&
		    !strcmp(buf + len - strlen(READY_LINE), READY_LINE))
			return 0;
		if (len == sizeof(buf) - 1)
			len = 0; /* keep only the tail of a long error */
		remaining = CLONE_READY_TIMEOUT_MS - (int)((now_ns() - t0) / 1000000);
		if (remaining < 0)
			remaining = 0;
	}
	buf[len] = 0;
	while (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	snprintf(err, errlen, "clone pid %d failed to start: %s", (int)pid,
		 len ? buf : "it exited without a word");
	return -1;
}

static void set_fork_result(struct vcpu *c, uint32_t value)
{
	struct kvm_regs regs;
	if (ioctl(c->fd, KVM_GET_REGS, &regs) == 0) {
		regs.rax = value;
		if (ioctl(c->fd, KVM_SET_REGS, &regs) == 0)
			return;
	}
	pr_err("cannot set the fork result on vCPU %u: %s", c->index, strerror(errno));
}

int clone_fork(struct vm *vm, unsigned count, enum console_kind console, struct vcpu *requester,
	       struct clone_result *res)
{
	memset(res, 0, sizeof(*res));
	res->requested = count;
	res->clones = calloc(count ? count : 1, sizeof(*res->clones));
	int *ready = calloc(count ? count : 1, sizeof(int));
	if (!res->clones || !ready) {
		free(ready);
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	char probe[HF_NAME_MAX + 16];
	int need = snprintf(probe, sizeof(probe), "%s.%u", vm->cfg.name,
			    vm->clones_made + count);
	if (need > HF_NAME_MAX) {
		snprintf(res->error, sizeof(res->error),
			 "clone name %s would exceed %d characters", probe, HF_NAME_MAX);
		free(ready);
		return -1;
	}

	vm_pause_all(vm);
	console_flush(&vm->console);
	int rc = 0;
	for (unsigned i = 0; i < vm->bus.ndevices; i++) {
		struct device *d = vm->bus.devices[i];
		if (d->ops->pre_fork && d->ops->pre_fork(d) < 0)
			rc = -1;
	}
	if (rc < 0 || snapshot_capture(vm) < 0) {
		snprintf(res->error, sizeof(res->error), "cannot capture the VM state");
		goto resume;
	}

	for (unsigned k = 0; k < count; k++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0) {
			snprintf(res->error, sizeof(res->error), "pipe: %s", strerror(errno));
			break;
		}
		unsigned id = vm->clones_made + 1;
		pid_t pid = fork();
		if (pid < 0) {
			snprintf(res->error, sizeof(res->error), "fork: %s", strerror(errno));
			close(p[0]);
			close(p[1]);
			break;
		}
		if (pid == 0) {
			for (unsigned j = 0; j < k; j++)
				close(ready[j]);
			free(ready);
			clone_result_free(res);
			close(p[0]);
			ready_fd = p[1];
			log_set_fd(ready_fd); /* errors while rebuilding reach the parent */
			if (child_rebuild(vm, id, console, requester) < 0)
				_exit(HF_STATUS_ERROR);
			return 1;
		}
		close(p[1]);
		vm->clones_made = id;
		ready[res->made] = p[0];
		struct hf_clone_info *ci = &res->clones[res->made++];
		snprintf(ci->name, sizeof(ci->name), "%s.%u", vm->cfg.name, id);
		ci->pid = pid;
		vm_socket_path(vm, ci->name, ci->socket, sizeof(ci->socket));
		if (console == CONSOLE_FILE)
			vm_console_path(vm, ci->name, ci->console, sizeof(ci->console));
		else
			snprintf(ci->console, sizeof(ci->console), "%s",
				 console_kind_name(console));
	}

resume:
	if (requester) {
		if (res->made == 0)
			set_fork_result(requester, HF_FORK_FAILED);
		pthread_mutex_lock(&vm->lock);
		requester->fork_pending = false;
		requester->self_park = false;
		pthread_mutex_unlock(&vm->lock);
	}
	if (!vm->user_paused)
		vm_resume_all(vm);
	else
		pthread_cond_broadcast(&vm->cond);

	/* The parent runs again; now collect each clone's word that it started. */
	unsigned ok = 0;
	for (unsigned i = 0; i < res->made; i++) {
		char err[256];
		if (wait_ready(ready[i], res->clones[i].pid, err, sizeof(err)) == 0) {
			res->clones[ok++] = res->clones[i];
		} else {
			pr_err("%s", err);
			if (!res->error[0])
				snprintf(res->error, sizeof(res->error), "%s", err);
			waitpid(res->clones[i].pid, NULL, 0);
		}
		close(ready[i]);
	}
	res->made = ok;
	free(ready);
	return ok ? 0 : -1;
}

void clone_result_free(struct clone_result *res)
{
	free(res->clones);
	res->clones = NULL;
}
