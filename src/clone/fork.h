/* Flash-cloning. Two ways, one mechanism (capture KVM state, fork(), rebuild the KVM VM
 * in the child over the inherited copy-on-write guest RAM):
 *  - fork: the VM pauses, is captured and fork()ed; each child rebuilds its VM and runs;
 *    the parent runs on.
 *  - template: the VM freezes for good (at its fork point, or on request). Its process
 *    keeps guest RAM and the captured state, no KVM VM, and a pool of warm children that
 *    have already rebuilt their VM from that state; a request only activates one. */
#ifndef HF_FORK_H
#define HF_FORK_H

#include "api/proto.h"
#include "util/loop.h"
#include "core/vm.h"

struct clone_result {
	unsigned requested;
	unsigned made;                /* clones running */
	struct hf_clone_info *clones; /* made entries */
	char error[256];              /* first failure, "" if none */
	int *handoff; /* each clone's channel, open until clone_handed_out (or free) */
};

/* Make count clones of vm, each with a console of the given kind, if vm->cfg.limits admit
 * them (checked before each clone: a refusal names the limit, the figure and the flag). requester, if not NULL,
 * is the vCPU stopped at HF_PORT_FORK: each clone's copy of it returns the clone number.
 * request_tsc is the host TSC when the request was taken (for the guest's boot info).
 * Main thread only. A template serves the clones from its pool.
 * Returns 0 in the parent (res filled in; res->made may be less than count, with
 * res->error saying why), -1 in the parent if no clone could be made, and 1 in a clone,
 * whose KVM state is then fully restored and whose caller must rebuild its event loop and
 * start the vCPUs, then call clone_child_started. */
int clone_fork(struct vm *vm, unsigned count, enum console_kind console, struct vcpu *requester,
	       uint64_t request_tsc, struct clone_result *res);
/* The caller has told whoever asked of the clones (the answer is out): tell each clone.
 * A clone whose parent ends before this (killed between making it and answering) ends by
 * itself, since no one would ever know of it. */
void clone_handed_out(struct clone_result *res);
/* Free res; clones not handed out yet end by themselves. */
void clone_result_free(struct clone_result *res);


/* Freeze the running VM into a template: capture it, end its vCPUs and KVM VM, and start
 * filling a pool of pool_size warm children. requester as for clone_fork. Returns 0, -1
 * (why in err; the VM runs on), or 1 in a warm child that has just been activated (as
 * clone_fork). */
int template_freeze(struct vm *vm, struct vcpu *requester, unsigned pool_size, char *err,
		    size_t errlen);
/* Template: its pool's figures into st (pool_ready, pool_target, on_demand); nothing for
 * a VM that is not a template. */
void template_pool_status(struct vm *vm, struct hf_vm_status *st);
/* Template: start warm children until the pool is full. Returns 0, or 1 in an activated
 * child (as clone_fork). */
int template_refill(struct vm *vm);
/* Template: forget the pool (its children end when they see the template gone). */
void template_release(struct vm *vm);
/* Template: true while its pool is below target because vm->cfg.limits refuse more (the
 * main loop then retries template_refill every second: memory may come back). */
bool template_refill_held(struct vm *vm);

/* Admission (vm->cfg.limits): clones of this VM still alive count against --max-clones
 * until reaped. The main loop tells each child it reaps: a clone's sockets (control,
 * function, vsock) are removed, since a killed clone cannot, and a clone freed may let a
 * held pool refill (the loop is notified). */
void clone_reaped(struct vm *vm, pid_t pid);
/* Live clones of this VM (activated or forked, not warm, not yet reaped). */
unsigned clone_live_count(void);

/* Warm clone, on vCPU 0's thread before its first KVM_RUN: wait for the template's
 * activation and prepare the guest to run as that clone. Returns false if the template
 * has gone (the VM then ends). */
bool clone_warm_activate(struct vcpu *c);

/* Clone: the vCPU threads and event loop l run; open the console, tell the parent the
 * clone is ready, and wait on l for its word that the clone was handed out (if the parent
 * ends first, the clone ends). Returns 0, or -1 if the clone cannot go on (the parent is
 * told why). */
int clone_child_started(struct vm *vm, struct loop *l);

#endif
