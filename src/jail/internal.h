/* What the jail's files share, private to src/jail/ (the rest of the tree uses jail.h): the
 * state of the jail this process is in, and each file's part in making, running and cleaning
 * up the jail. Which process calls what: jail.h (launcher, keeper, VMM). */
#ifndef HF_JAIL_INTERNAL_H
#define HF_JAIL_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "jail/jail.h"

/* ---- this process's jail (state.c owns it) -------------------------------------------- */

/* The jail's processes' state: the launcher fills in cgroup, uid and gid once it made the
 * jail's cgroup (the keeper and the VMM inherit them by fork), the VMM its ask_fd; the
 * VMM's clones inherit it all by fork. */
struct jail_self {
	int ask_fd;            /* datagram socket to the keeper, -1 outside a jail */
	char cgroup[PATH_MAX]; /* the jail's cgroup directory */
	uid_t uid;
	gid_t gid;
};
/* This process's jail (the launcher fills it in; the others read it). */
struct jail_self *jail_self(void);
/* The VMM, just forked by the keeper: fd is its end of the socket to the keeper (from now
 * on, this process and its clones are in a jail). */
void jail_self_set_ask_fd(int fd);

/* ---- paths and checks (config.c; the launcher) ---------------------------------------- */

/* Complete j's paths for the VM of cfg (KVM, /dev/null, /dev/urandom, /sys/module, the tun
 * device for a network card, the kernel, initrd, run directory, marks and console files),
 * each made absolute; check everything the jail needs (the user, the paths, the run
 * directory, cgroup2); create the files the VM writes. Returns 0 or -1 (logged). */
int jail_paths_prepare(struct jail_config *j, const struct vm_config *cfg);

/* ---- cgroups (cgroup.c) --------------------------------------------------------------- */

/* The launcher's check: a cgroup2 file system at the cgroup root offering the memory and
 * cpu controllers. Returns 0 or -1 (logged). */
int jail_cgroup_check(void);
/* The launcher: make ROOT/hyperfork/NAME (name: the VM's) with j's limits, delegated to the
 * jail's user, and its leaf NAME for the VM itself (cgroup v2 keeps processes in leaves
 * only); the jail's group's path into jail_cg (len bytes). Returns 0 or -1 (logged; nothing
 * left made below ROOT/hyperfork). */
int jail_cgroup_make(struct jail_config *j, const char *name, char *jail_cg, size_t len);
/* The launcher, failing after jail_cgroup_make: remove the leaf of VM name and the jail's
 * group (both empty still). */
void jail_cgroup_remove(const char *name);
/* The VMM, first thing: enter the leaf of VM name in the jail's group. Returns 0 or -1
 * (logged). */
int jail_cgroup_enter_vm(const char *name);

/* ---- the VMM's jail from inside (root.c) ---------------------------------------------- */

/* The VMM, just forked by the keeper (its inherited fds closed but ask_fd, its end of the
 * socket to the keeper): enter its cgroup, build its root (a new mount namespace) and have
 * jail_drop_privileges drop its privileges. Returns JAIL_INSIDE, or -1 (logged). */
int jail_vmm_enter(struct jail_config *j, const struct vm_config *cfg, int ask_fd);

/* ---- host pids: the keeper's answers (hostpid.c) -------------------------------------- */

/* The keeper: pid's pid in the host's PID namespace (the keeper's /proc is the host's),
 * through a pidfd's fdinfo. 0 if it is gone. */
pid_t jail_host_pid_of(pid_t pid);
/* The keeper: answer one question on the ask socket fd (an int32 pid and a reply socket;
 * anything else is dropped). */
void jail_host_pid_answer(int fd);

/* ---- the keeper (keeper.c) ------------------------------------------------------------ */

/* The keeper, just started (pid 1 of the jail's PID namespace, in the host's mount
 * namespace): start the VMM, send the launcher its host pid on out, then keep the jail
 * (reap, watch the cgroups, answer pid questions on ask[0]) until it is empty, sending the
 * VMM's status on out when it ends. Returns JAIL_INSIDE in the VMM (-1 if its jail could
 * not be entered, logged), JAIL_DONE in the keeper once the jail is empty. */
int jail_keeper_start(struct jail_config *j, const struct vm_config *cfg, int out, int ask[2]);
/* Whatever is left once the jail of cgroup (its group's directory) is empty: every VM's
 * leaf and its sockets in run_dir, then the jail's group. Returns 0, or -1 if the jail's
 * group is still there (errno set). */
int jail_clean(const char *cgroup, const char *run_dir);

#endif
