/* Resetting a clone: a clone of a reusable template (its RAM a file the clone maps
 * privately) goes back to the exact state it started in, its template's, and runs anew as
 * a new clone: the pages of guest RAM written since (the guest's, from KVM's dirty log, and
 * the VMM's, from its notes) are copied back from the template's file, the vCPUs and the
 * VM-wide KVM state are loaded again from the template's snapshot (of a bare guest's, which
 * cannot leave ring 3, only what ring 3 can change: RESTORE_USER), every device goes back
 * to its state at the clone's start, and the guest's clocks move on. No fork, no new KVM
 * VM: what it costs grows with the pages written, not with the VM. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include "arch/x86/bare.h"
#include "clone/internal.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/trace.h"

static bool reset_on_vcpu(struct vcpu *c, void *arg);

int reset_prepare(struct clones *cl)
{
	struct vm *vm = cl->vm;
	for (unsigned r = 0; r < vm->mem.nregions; r++) {
		cl->dirty[r] = calloc(MEM_BITMAP_WORDS(vm->mem.regions[r].size), sizeof(uint64_t));
		if (!cl->dirty[r]) {
			pr_err("out of memory");
			return -1;
		}
	}
	vm->resettable = true;
	if (vm->log_dirty && vm->ncpus == 1) { /* (what a vCPU's thread may do: seccomp.c) */
		vm->reset_here = reset_on_vcpu;
		vm->reset_here_arg = cl;
	}
	return 0;
}

void reset_forget(struct clones *cl)
{
	for (unsigned r = 0; r < MEM_MAX_REGIONS; r++) {
		free(cl->dirty[r]);
		cl->dirty[r] = NULL;
	}
	cl->vm->resettable = false;
	cl->vm->reset_here = NULL;
}

int reset_ids_make(struct clones *cl)
{
	void *p = mmap(NULL, sizeof(*cl->reset_ids), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		pr_err("cannot map the counter of reset numbers: %s", strerror(errno));
		return -1;
	}
	cl->reset_ids = p;
	*cl->reset_ids = CLONE_RESET_ID_BASE;
	return 0;
}

/* The number a reset asked for id gives. */
static unsigned reset_id(struct clones *cl, unsigned id)
{
	if (id != CLONE_RESET_NEXT_ID)
		return id ? id : cl->vm->clone_id;
	if (!cl->reset_ids)
		return cl->vm->clone_id;
	return __atomic_fetch_add(cl->reset_ids, 1, __ATOMIC_RELAXED);
}

/* With the vCPUs paused: everything back, as clone id. Returns the pages put back, or -1
 * (logged: the VM cannot go on). */
static long rewind_vm(struct clones *cl, unsigned id, uint64_t request_tsc, bool on_vcpu)
{
	struct vm *vm = cl->vm;
	for (unsigned r = 0; vm->log_dirty && r < vm->mem.nregions; r++)
		if (vm_dirty_log(vm, r, cl->dirty[r]) < 0)
			return -1;
	trace_point("reset-logged");
	long pages = mem_restore(&vm->mem, vm->log_dirty ? cl->dirty : NULL);
	if (pages < 0)
		return -1;
	trace_point("reset-memory");
	if (cl->requester >= 0)
		snapshot_set_rax(cl->snap, (unsigned)cl->requester, id); /* its fork point returns */
	if (snapshot_restore_vm(cl->snap, vm) < 0)
		return -1;
	trace_point("reset-kvm-vm");
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (snapshot_restore_vcpu(cl->snap, &vm->vcpus[i],
					  (on_vcpu ? RESTORE_ON_ENTRY : 0) |
						  (vm->cfg.kind == VM_BARE ? RESTORE_USER : 0)) < 0)
			return -1;
	/* No KVM_SET_CLOCK: the VM's clock offset is the one the clone's start set (only the
	 * VMM sets it), so kvm-clock already reads the template's clock moved on by the time
	 * since, as setting it again would make it; the MSRs just loaded make KVM refresh the
	 * guest's copy. */
	trace_point("reset-kvm");
	vcpus_rewind(vm);
	vm->clone_id = id;
	if (vm->cfg.kind == VM_BARE)
		bare_clone_info(vm, id, snapshot_guest_tsc(cl->snap, request_tsc));
	vm->start_ns = now_ns();
	/* The devices last: a worker's is told READY (the VM's new number) once all is back. */
	if (bus_reset(&vm->bus) < 0)
		return -1;
	trace_point("reset-devices");
	return pages;
}

/* A reset asked by a device, on the one vCPU's thread after its exit (vm->reset_here): no
 * pause, no other thread involved. */
static bool reset_on_vcpu(struct vcpu *c, void *arg)
{
	struct clones *cl = arg;
	struct vm *vm = cl->vm;
	(void)c;
	trace_point("reset-request");
	console_flush(&vm->console);
	pthread_mutex_lock(&vm->lock);
	bool ending = vm->exiting;
	pthread_mutex_unlock(&vm->lock);
	if (ending)
		return false;
	if (rewind_vm(cl, reset_id(cl, CLONE_RESET_NEXT_ID), __rdtsc(), true) < 0) {
		vm_request_exit(vm, HF_STATUS_ERROR, "the reset a device asked for failed midway");
		return false;
	}
	trace_point("reset-done");
	return true;
}

long clone_reset(struct clones *cl, unsigned id, uint64_t request_tsc, char *err, size_t errlen)
{
	struct vm *vm = cl->vm;
	const char *why = bus_reset_refusal(&vm->bus);
	if (!vm->resettable) {
		errf(err, errlen, "only a clone of a template started with --reusable can be reset "
			"(and only until it forks or is frozen itself)");
		return -1;
	}
	if (why) {
		errf(err, errlen, "cannot reset: %s", why);
		return -1;
	}
	trace_point("reset-request");
	vcpus_pause(vm);
	trace_point("reset-paused");
	console_flush(&vm->console);
	pthread_mutex_lock(&vm->lock);
	bool ending = vm->exiting; /* its guest crashed, exited, or it was stopped meanwhile */
	pthread_mutex_unlock(&vm->lock);
	if (ending) {
		errf(err, errlen, "the clone is ending: %s", vm->exit_msg);
		return -1;
	}
	long pages = rewind_vm(cl, reset_id(cl, id), request_tsc, false);
	if (pages < 0) {
		errf(err, errlen, "the reset failed midway: the clone ends");
		vm_request_exit(vm, HF_STATUS_ERROR, "reset failed");
	}
	if (!vm->user_paused)
		vcpus_resume(vm);
	else
		pthread_cond_broadcast(&vm->cond);
	trace_point("reset-done");
	return pages;
}
