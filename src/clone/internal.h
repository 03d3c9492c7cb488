/* What the files of clone/ share: the state clone/ keeps for the VM of this process, and
 * the steps the parent's side, the child's side and templates have in common. Not for use
 * outside clone/ (clone/clone.h is its face). */
#ifndef HF_CLONE_INTERNAL_H
#define HF_CLONE_INTERNAL_H

#include "arch/x86/snapshot.h"
#include "clone/clone.h"

#define CLONE_READY_TIMEOUT_MS 10000
#define READY_LINE "READY\n" /* a new clone's word to its parent: it runs */
#define HANDED_BYTE 'H'       /* the parent's word to a clone: it was handed out */
#define POOL_MAX PROTO_POOL_MAX /* most warm children a template keeps (api/proto.h) */

/* A clone still alive (forked or activated, not reaped): what --max-clones counts. */
struct live_clone {
	pid_t pid;
	unsigned id;
};

struct pool; /* a template's warm children (template.c) */

struct clones {
	struct vm *vm;
	struct clone_config cfg;
	struct snapshot *snap;       /* the VM's captured state (arch/x86/snapshot.h) */
	struct prefault *prefault;   /* its background pass, if one was started (prefault.c) */
	unsigned made;               /* clones made from this VM so far: named NAME.1 .. NAME.made */
	char parent[HF_NAME_MAX + 1]; /* the VM this one is a clone of, "" if booted */
	bool fork_point_seen;        /* the guest reached a fork point (this VM or its parent) */
	/* a template (vm->frozen) */
	struct pool *pool;           /* its warm children, NULL if it is not a template */
	int requester;               /* vCPU stopped at the fork point that froze it, or -1 */
	int warm_fd;                 /* a warm child: where vCPU 0 awaits its activation, or -1 */
	bool prefaulted;             /* this clone's pages were made private before it was
	                                activated (a warm child does it while it waits) */
	/* reset.c: a clone of a reusable template, which can go back to its state */
	uint64_t *dirty[MEM_MAX_REGIONS]; /* KVM's dirty log, a bitmap per RAM region */
	unsigned *reset_ids;                /* the numbers resets give (reset_ids_make) */
	/* admission.c: this VM's live clones (a clone starts with none of its own) */
	struct live_clone *live;
	unsigned nlive, live_cap;
	int parent_fd;               /* the parent's own (clones_child_drops), or -1 */
	/* child.c: a new clone's channel to its parent, until it is handed out */
	int ready_fd;
	struct watch handoff_w;
	struct loop *handoff_loop;
};

/* ---- admission.c ---- */

/* May count more clones be made now, besides the live ones and extra (warm children)?
 * Returns 0, or -1 with why naming the limit (cl->cfg.limits). Makes room to count them. */
int admit(struct clones *cl, unsigned extra, unsigned count, char *why, size_t whylen);
/* Count clone id, pid as live (after admit, which made room: cannot fail). */
void live_add(struct clones *cl, pid_t pid, unsigned id);
/* Fork child: the parent's live clones are not this clone's. */
void live_forget(struct clones *cl);
/* Clone pid is gone (reaped, or it never started): if it was a live clone, it is no longer
 * counted and its sockets in the run directory (which a killed clone cannot remove) are
 * removed. Returns whether it was one. */
bool clone_forget(struct clones *cl, pid_t pid);

/* ---- child.c: the clone's side ---- */

/* Child, first thing after fork(): channel is its end of the parent's socketpair (errors
 * while it starts go there); the inherited kernel objects (the parent's KVM VM and
 * vCPUs, its eventfd) and thread state are dropped. Returns 0 or -1. */
int child_begin(struct clones *cl, int channel);
/* Child: a new KVM VM over the inherited guest RAM, loaded with the captured state, and
 * every device's post_fork hook. Returns 0 or -1 (logged). */
int child_rebuild(struct clones *cl);
/* Child, before its guest runs (may run on vCPU 0's thread): the console of clone id of
 * parent (opened once the vCPUs run) and, for a bare guest, its boot info. */
void child_prepare_guest(struct clones *cl, const char *parent, unsigned id,
			 enum console_kind console, uint64_t request_tsc);
/* Child: take the name, number and process group of clone id of the VM whose name it
 * still carries. */
void child_take_identity(struct clones *cl, unsigned id);

/* ---- parent.c: the parent's side, for a fork and a template's activation ---- */

/* Pause every vCPU (exits in flight completed), flush the console, let each device capture
 * what lives outside this process, and capture the KVM state. Returns 0 or -1 (the vCPUs
 * stay paused either way). */
int pause_and_capture(struct clones *cl);
/* Let the vCPU stopped at a fork point go on; its fork point returns HF_FORK_FAILED if
 * failed (otherwise the value already in its RAX). requester may be NULL. */
void release_requester(struct clones *cl, struct vcpu *requester, bool failed);
/* The next clone's number: past the last one made and any name a live VM holds. */
unsigned next_clone_id(struct clones *cl);
/* Fill in ci for clone id, pid, with a console of kind console. */
void describe(struct clones *cl, struct hf_clone_info *ci, unsigned id, pid_t pid,
	      enum console_kind console);
/* Keep the clones that said READY, with their channels (fds, compacted like res->clones),
 * drop the others (reporting the first failure). */
void collect_ready(struct clones *cl, struct clone_result *res, int *fds);

/* ---- reset.c ---- */

/* A warm child of a reusable template (its RAM a file it maps privately, its memory slots
 * logging what the guest writes): it can be reset. Returns 0 or -1 (logged). */
int reset_prepare(struct clones *cl);
/* It can no longer be (it captures a state of its own: a fork, a freeze; or it is a fork
 * child). */
void reset_forget(struct clones *cl);
/* A reusable template, before its first clone: the counter its clones' resets draw new
 * numbers from (CLONE_RESET_NEXT_ID), in a page they share with it and each other.
 * Returns 0 or -1 (logged). */
int reset_ids_make(struct clones *cl);

/* ---- template.c ---- */

/* Template: activate count warm children for a request (making more if the pool runs
 * dry), their channels into fds. Returns 0, or 1 in an activated child. */
int pool_activate(struct clones *cl, unsigned count, enum console_kind console,
		  uint64_t request_tsc, struct clone_result *res, int *fds);
/* Template: its pool's figures into st (pool_ready, pool_target, on_demand); nothing for
 * a VM that is not a template. */
void template_pool_status(struct clones *cl, struct hf_vm_status *st);
/* Template: forget the pool (its children end when they see the template gone). */
void template_release(struct clones *cl);

#endif
