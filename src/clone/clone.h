/* Flash-cloning. Two ways, one mechanism (capture the KVM state, fork(), rebuild the KVM VM
 * in the child over the inherited copy-on-write guest RAM):
 *  - fork: the VM pauses, is captured and fork()ed; each child rebuilds its VM and runs;
 *    the parent runs on.
 *  - template: the VM freezes for good (at its fork point, or on request). Its process
 *    keeps guest RAM and the captured state, no KVM VM, and a pool of warm children that
 *    have already rebuilt their VM from that state; a request only activates one.
 * The main loop (vmm/runloop.c) asks for clones at the top of its loop, outside any
 * callback, and a call that makes clones returns 1 in each clone: that process is then the
 * clone, with its KVM state restored, and its main loop must be made anew.
 *
 * Files: fork.c (the parent's side of a fork), child.c (the clone's side: its KVM VM
 * rebuilt, its identity, its word to its parent), template.c (templates and their warm
 * pools), admission.c (the live clones --max-clones counts), prefault.c (breaking
 * copy-on-write ahead of the guest). */
#ifndef HF_CLONE_H
#define HF_CLONE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/proto.h"
#include "clone/prefault.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "util/admit.h"
#include "util/loop.h"

/* How a VM is cloned (`hyperfork run`'s options). */
/* Which of the guest's fork points (HF_PORT_FORK) are honoured (--fork-points). A refused
 * one returns HF_FORK_FAILED to the guest. */
enum fork_points {
	FORK_POINTS_ALL,   /* each: a clone, or (--template) the first freezes the VM */
	FORK_POINTS_FIRST, /* only the VM's first (a clone has passed its parent's) */
	FORK_POINTS_NONE,  /* none: code in the guest makes no VM */
};

struct clone_config {
	enum console_kind console;   /* console of the clones it makes (--clone-console) */
	enum fork_points fork_points; /* which guest fork points are honoured */
	bool template;               /* at its first fork point, freeze as a template (--template) */
	unsigned pool;               /* warm clones that template keeps ready (--pool) */
	struct clone_limits limits;  /* admission (--max-clones, --reserve-memory) */
	enum prefault_mode prefault; /* breaking copy-on-write ahead of the guest (--cow-prefault) */
	bool prefault_sync;          /* ... in a clone, before its guest runs */
};

/* What clone/ keeps for the VM of this process (clone/internal.h). */
struct clones;

/* Before the guest first runs (its vCPUs have their CPUID): clone/'s state for vm, with
 * its snapshot prepared (probed on vCPU 0). Returns it, or NULL (logged). */
struct clones *clones_new(struct vm *vm, const struct clone_config *cfg);
/* The VM has ended (its vCPU threads too): stop a prefault pass, let a template's pool go
 * (its children end when they see the template gone), free cl. */
void clones_free(struct clones *cl);
/* fd (the VM's control socket listener) is the VM's, never its clones': each clone lets go
 * of it the moment it is forked, before any code of its guest runs (it becomes /dev/null
 * there, so that what closes it later closes nothing of the clone's). */
void clones_child_drops(struct clones *cl, int fd);

struct clone_result {
	unsigned requested;
	unsigned made;                /* clones running */
	struct hf_clone_info *clones; /* made entries */
	char error[256];              /* first failure, "" if none */
	int *handoff; /* each clone's channel, open until clone_handed_out (or free) */
};

/* Make count clones, each with a console of the given kind, if the limits admit them
 * (checked before each clone: a refusal names the limit, the figure and the flag).
 * requester, if not NULL, is the vCPU stopped at HF_PORT_FORK: each clone's copy of it
 * returns the clone number. request_tsc is the host TSC when the request was taken (for a
 * bare guest's boot info). Main thread only. A template serves the clones from its pool.
 * Returns 0 in the parent (res filled in; res->made may be less than count, with
 * res->error saying why), -1 in the parent if no clone could be made, and 1 in a clone,
 * whose KVM state is then fully restored and whose caller must rebuild its event loop and
 * start the vCPUs, then call clone_child_started. */
int clone_fork(struct clones *cl, unsigned count, enum console_kind console,
	       struct vcpu *requester, uint64_t request_tsc, struct clone_result *res);
/* The caller has told whoever asked of the clones (the answer is out): tell each clone.
 * A clone whose parent ends before this (killed between making it and answering) ends by
 * itself, since no one would ever know of it. */
void clone_handed_out(struct clone_result *res);
/* Free res; clones not handed out yet end by themselves. */
void clone_result_free(struct clone_result *res);

/* vCPU c stopped at its fork point (HF_PORT_FORK): freeze into a template if the VM was
 * started as one, else make one clone with the VM's clone console. Returns 1 in a new
 * clone (as clone_fork), 0 otherwise, with res filled in: for a fork res->requested is 1
 * and res->made 0 or 1; for a template res->requested is 0 (nothing to hand out). What
 * failed is logged; the guest's fork point then returns HF_FORK_FAILED. */
int clone_fork_point(struct clones *cl, struct vcpu *c, uint64_t request_tsc,
		     struct clone_result *res);

/* Freeze the running VM into a template: capture it, end its vCPUs and KVM VM (vm->frozen),
 * and start filling a pool of pool_size warm children. requester as for clone_fork.
 * Returns 0, -1 (why in err; the VM runs on), or 1 in a warm child that has just been
 * activated (as clone_fork). */
int template_freeze(struct clones *cl, struct vcpu *requester, unsigned pool_size, char *err,
		    size_t errlen);
/* Template: start warm children until the pool is full. Returns 0, or 1 in an activated
 * child (as clone_fork). Nothing for a VM that is not a template. */
int template_refill(struct clones *cl);
/* Template: true while its pool is below target because the limits refuse more (the main
 * loop then retries template_refill every second: memory may come back). */
bool template_refill_held(struct clones *cl);

/* A clone of a template started with --reusable goes back to the exact state it started
 * in, its template's, and runs again from there as clone id (0: its own number again):
 * guest RAM as the template left it (only the pages written since are put back), vCPUs
 * and devices as they started, the guest's clocks moved on, its boot info (a bare guest)
 * naming id and request_tsc (host TSC when the request was taken). Main thread. Returns
 * the pages of guest RAM put back, or -1 with why in err (the clone runs on unchanged, or,
 * if it failed midway, ends). */
long clone_reset(struct clones *cl, unsigned id, uint64_t request_tsc, char *err, size_t errlen);
/* clone_reset's id for a number no clone of the template had: the next of a counter the
 * template's family shares, from CLONE_RESET_ID_BASE on (above the numbers clones are
 * named after). */
#define CLONE_RESET_NEXT_ID (~0u)
#define CLONE_RESET_ID_BASE (1u << 20)

/* What clone/ tells of the VM in its status: its parent's name, the clones made, and a
 * template's pool (pool_ready, pool_target, on_demand). */
void clone_status(struct clones *cl, struct hf_vm_status *st);

/* The main loop reaped child pid. If it was a live clone of this VM: it no longer counts
 * against --max-clones, its sockets (control, function, vsock) are removed, since a
 * killed clone cannot, and a held pool may refill (the loop is notified). */
void clone_reaped(struct clones *cl, pid_t pid);

/* Clone: the vCPU threads and event loop l run; open the console, tell the parent the
 * clone is ready, and wait on l for its word that the clone was handed out (if the parent
 * ends first, the clone ends). Nothing in a VM that is not a new clone. Returns 0, or -1
 * if the clone cannot go on (the parent is told why). */
int clone_child_started(struct clones *cl, struct loop *l);

#endif
