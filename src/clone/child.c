/* The clone's side of a fork: right after fork() it drops what it inherited of its
 * parent's kernel objects and threads, rebuilds its KVM VM over the copy-on-write guest
 * RAM from the captured state, takes its identity (name NAME.N, number, console), and once
 * it runs tells its parent it is ready, then waits for the word that it was handed out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/bare.h"
#include "arch/x86/cpu.h"
#include "clone/internal.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/trace.h"

/* Drop this process's own channel to its parent (the epoll instance that watched it is
 * the parent's in a fork child: the watch is left alone). */
static void handoff_forget(struct clones *cl)
{
	cl->handoff_loop = NULL;
	if (cl->ready_fd >= 0)
		close(cl->ready_fd);
	cl->ready_fd = -1;
}

static void handoff_close(struct clones *cl)
{
	if (cl->handoff_loop)
		loop_del(cl->handoff_loop, &cl->handoff_w);
	handoff_forget(cl);
}

/* Clone: the parent's word that it was handed out, or its end before that. */
static void on_handoff(struct watch *w, uint32_t events)
{
	struct clones *cl = w->arg;
	char b = 0;
	ssize_t n = read(w->fd, &b, 1);
	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	handoff_close(cl);
	if (n != 1 || b != HANDED_BYTE)
		vm_request_exit(cl->vm, HF_STATUS_STOPPED,
				"its parent ended before it handed this clone out (no one was told of "
				"it): the clone ends");
}

/* In the clone, stderr is the console (or nothing), never the parent's terminal or pipe:
 * a clone must not keep its parent's output streams open. */
static void redirect_stdio(struct vm *vm)
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

void clones_child_drops(struct clones *cl, int fd)
{
	cl->parent_fd = fd;
}

int child_begin(struct clones *cl, int channel)
{
	struct vm *vm = cl->vm;
	if (cl->parent_fd >= 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup3(null, cl->parent_fd, O_CLOEXEC) < 0) {
			pr_err("cannot let go of the parent's control socket: %s", strerror(errno));
			return -1;
		}
		close(null);
		cl->parent_fd = -1;
	}
	handoff_forget(cl);
	cl->ready_fd = channel;
	log_set_fd(channel); /* errors while it starts reach the parent */
	live_forget(cl);
	cl->prefaulted = false;
	vm_init_sync(vm);
	vcpus_forget(vm);
	vm->pause_req = vm->user_paused; /* a clone of a paused VM starts paused */
	vm->threads_stop = false;
	prefault_forget(cl->prefault);
	vcpus_close(vm);
	vm_kvm_close(vm);
	reset_forget(cl); /* a warm child of a reusable template takes it up again */
	vm->log_dirty = false;
	if (mem_private(&vm->mem) < 0) /* first: nothing may write to a template's file */
		return -1;
	close(vm->notify_fd);
	vm->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->notify_fd < 0) {
		pr_err("eventfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* (Adding the memory slots on a second thread, beside the vCPU work, was measured slower
 * here: the thread's first wakeup costs more than it saves.) */
int child_rebuild(struct clones *cl)
{
	struct vm *vm = cl->vm;
	if (vm_kvm_setup(vm) < 0 || snapshot_restore_vm(cl->snap, vm) < 0)
		return -1;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		if (vcpu_create(vm, c) < 0 || cpu_set_cpuid(vm, c) < 0 ||
		    snapshot_restore_vcpu(cl->snap, c, 0) < 0)
			return -1;
	}
	if (snapshot_restore_clock(cl->snap, vm) < 0)
		return -1;
	return bus_post_fork(&vm->bus);
}

void child_take_identity(struct clones *cl, unsigned id)
{
	struct vm *vm = cl->vm;
	snprintf(cl->parent, sizeof(cl->parent), "%s", vm->cfg.name);
	clone_name(vm->cfg.name, sizeof(vm->cfg.name), cl->parent, id);
	log_set_name(vm->cfg.name);
	vm->clone_id = id;
	cl->made = 0;
	vm->frozen = false;
	setpgid(0, 0); /* the parent's terminal signals (^C) are not the clone's */
	vm->start_ns = now_ns();
}

void child_prepare_guest(struct clones *cl, const char *parent, unsigned id,
			 enum console_kind console, uint64_t request_tsc)
{
	struct vm *vm = cl->vm;
	char name[HF_NAME_MAX + 16], path[PATH_MAX];
	clone_name(name, sizeof(name), parent, id);
	run_file(path, sizeof(path), vm->cfg.run_dir, name, RUN_FILE_CONSOLE);
	console_close(&vm->console);
	console_defer(&vm->console, console, path);
	if (vm->cfg.kind == VM_BARE)
		bare_clone_info(vm, id, snapshot_guest_tsc(cl->snap, request_tsc));
}

int clone_child_started(struct clones *cl, struct loop *l)
{
	struct vm *vm = cl->vm;
	if (cl->ready_fd < 0)
		return 0;
	if (console_attach(&vm->console) < 0)
		return -1; /* the parent hears why through ready_fd */
	redirect_stdio(vm);
	if (!cl->cfg.prefault_sync && !cl->prefaulted)
		prefault_start(&cl->prefault, vm, cl->cfg.prefault);
	cl->prefaulted = false; /* its own clones prefault as the VM was told */
	ssize_t w = write(cl->ready_fd, READY_LINE, strlen(READY_LINE));
	(void)w;
	log_set_fd(STDERR_FILENO);
	/* Now wait on the main loop for the parent to hand this clone out. */
	cl->handoff_w = (struct watch){.fd = cl->ready_fd, .fn = on_handoff, .arg = cl};
	if (loop_add(l, &cl->handoff_w, EPOLLIN) == 0)
		cl->handoff_loop = l;
	else
		handoff_close(cl);
	return 0;
}
