/* The jail (`hyperfork run --jail`), on the model of Firecracker's jailer: a VM and all its
 * clones in a mount namespace holding only what the VM needs (a tmpfs root, pivot_root),
 * a PID namespace, optionally an existing network namespace, a cgroup v2 group with
 * memory and CPU limits (each VM and clone in a leaf of its own below it), and a given
 * uid/gid without capabilities once what needs root is open.
 *
 * Processes: the launcher (`hyperfork run`, in the host's namespaces) makes the cgroups
 * and starts the keeper, pid 1 of the new PID namespace but still in the host's mount
 * namespace; the keeper starts the VMM, which builds its root and pivots into it. The
 * launcher stays in the foreground until the VM ends and exits with its status; the
 * keeper reaps orphaned clones, removes each VM's cgroup and stale sockets when it ends,
 * and the jail's cgroup once nothing is left in it. */
#ifndef HF_JAIL_H
#define HF_JAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/vm.h"

#define JAIL_MAX_PATHS 48
#define JAIL_CPU_PERIOD_US 100000u
#define JAIL_CGROUP_BASE "hyperfork" /* below the cgroup2 root: one group per jailed VM */

struct jail_path {
	const char *path;
	bool writable;
	bool create; /* a file the VM writes: created (empty) if it does not exist */
	bool own;    /* a character device made anew for the jail's uid/gid (mode 0600, the
		      * host's device number), not the host's node: one each clone opens
		      * after dropping privileges (/dev/net/tun) */
};

struct jail_config {
	bool on;
	long uid, gid;         /* -1: not given */
	const char *netns;     /* a network namespace file to join (/run/netns/NAME), or NULL */
	bool host_network;     /* a device needs the host's network (a tap): without netns the
				  jail stays in the host's; otherwise it gets one of its own,
				  empty but for a loopback that is down */
	uint64_t memory;       /* memory.max of the jail in bytes, 0: no limit */
	uint64_t cpu_quota_us; /* cpu.max quota per JAIL_CPU_PERIOD_US, 0: no limit */
	unsigned pids;         /* pids.max of the jail (0: JAIL_PIDS_DEFAULT) */
	bool no_seccomp;       /* run --no-seccomp: the keeper has no filter either */
	unsigned npaths;       /* what the VM needs inside (its devices' host files: disks,
	                          vsock directories, /dev/net/tun; its image, its console) */
	struct jail_path paths[JAIL_MAX_PATHS];
};

/* pids.max of a jail unless --jail-pids says: threads and processes of its VMM and clones
 * together (a VMM has a main thread, one per vCPU and a few helpers, and KVM adds its
 * worker threads to the VM's group), enough for tens of clones, not a fork bomb. */
#define JAIL_PIDS_DEFAULT 1024u
#define JAIL_PIDS_MAX (1u << 22)

/* --jail-cpu CPUS: a decimal number of CPUs (0.01 .. 1024, e.g. 0.5 or 2) into a quota in
 * microseconds per JAIL_CPU_PERIOD_US. Returns 0 or -1. */
int jail_parse_cpu(const char *s, uint64_t *quota_us);
/* Add path to what the jail holds (read-only unless writable; create: a file the VM
 * writes, created empty if it does not exist). Returns its entry, or NULL if there is none:
 * no path (NULL or ""), or too many, which leaves the last entry's path NULL, for
 * jail_enter to report. */
struct jail_path *jail_add_path(struct jail_config *j, const char *path, bool writable,
				bool create);

/* What is wrong with jailing as uid/gid (-1: not given) from this process: NULL if
 * nothing, else the problem, for the caller to report (run, and serve before its VMs). */
const char *jail_user_problem(long uid, long gid);

enum { JAIL_INSIDE = 0, JAIL_DONE = 1 };
/* Build the jail for the VM of cfg and enter it. Returns JAIL_INSIDE in the process that
 * is to run the VM (inside the jail, still root: jail_drop_privileges, once its board is
 * built, drops them), or JAIL_DONE with *status set in the others: the launcher (the VM's
 * exit status, or HF_STATUS_ERROR with the cause logged if the jail could not be made) and
 * the keeper (0, once the jail is empty and cleaned up). */
int jail_enter(struct jail_config *j, const struct vm_config *cfg, int *status);
/* In the jailed VMM, once what needs root is open (before the guest runs): become the
 * jail's uid/gid for good, without capabilities. Returns 0 or -1 (logged). */
int jail_drop_privileges(void);

/* This process's pid (pid, a pid in the jail) as the host sees it; pid itself outside a
 * jail, 0 if it cannot be learnt (logged). Asks the keeper: one round trip. */
pid_t jail_host_pid(pid_t pid);
/* A clone of VM parent (this process, forked): move into a cgroup of its own below the
 * jail's, parent.id, or for id 0 (a template's warm clone, its number still unknown) the
 * pool's, parent.pool, until it is activated. Early, before the clone makes its KVM VM:
 * KVM's worker thread for the VM joins the cgroup its maker is in then, and stays there.
 * Does nothing outside a jail. Returns 0 or -1 (logged; the clone stays in its parent's
 * group, still under the jail's limits). */
int jail_enter_clone_cgroup(const char *parent, unsigned id);

#endif
