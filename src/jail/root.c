/* The VMM's jail from inside: the VMM (forked by the keeper, still root) enters its cgroup,
 * builds its root (a new mount namespace: a tmpfs holding only what the VM needs, bound
 * from the host, pivot_root'ed into) and, once its board is built, drops its privileges
 * for good (the jail's uid/gid, no capabilities). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "jail/internal.h"
#include "jail/jail.h"
#include "util/log.h"

/* ---- the root (the VMM, root, in its new mount namespace) ----------------------------- */

/* mkdir -p of path's directories (and path itself if dir). */
static int mkdirs(char *path, bool dir)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int r = mkdir(path, 0755);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -1;
	}
	return dir && mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Bind host path p->path at the same path below root, read-only unless writable; or for
 * p->own, make there a node of the same character device owned by uid/gid (bound onto
 * itself, as the root's tmpfs allows no devices). */
static int bind_path(const char *root, const struct jail_path *p, long uid, long gid)
{
	char target[PATH_MAX];
	struct stat st;
	const char *abs = p->path;
	if (stat(abs, &st) < 0) {
		pr_err("--jail: %s: %s", abs, strerror(errno));
		return -1;
	}
	snprintf(target, sizeof(target), "%s%s", root, abs);
	bool dir = S_ISDIR(st.st_mode);
	if (mkdirs(target, dir) < 0) {
		pr_err("--jail: cannot make %s: %s", target, strerror(errno));
		return -1;
	}
	if (p->own) {
		if (!S_ISCHR(st.st_mode) || mknod(target, S_IFCHR | 0600, st.st_rdev) < 0 ||
		    chown(target, (uid_t)uid, (gid_t)gid) < 0) {
			pr_err("--jail: cannot make device %s for the jail's user: %s", abs,
			       S_ISCHR(st.st_mode) ? strerror(errno) : "not a character device");
			return -1;
		}
		abs = target;
	} else if (!dir && access(target, F_OK) < 0) {
		int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			pr_err("--jail: cannot make %s: %s", target, strerror(errno));
			return -1;
		}
		close(fd);
	}
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC;
	if (!p->writable)
		flags |= MS_RDONLY;
	if (!S_ISCHR(st.st_mode))
		flags |= MS_NODEV;
	if (mount(abs, target, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, target, NULL, flags, NULL) < 0) {
		pr_err("--jail: cannot bind %s into the jail: %s", abs, strerror(errno));
		return -1;
	}
	return 0;
}

static int by_length(const void *a, const void *b)
{
	const struct jail_path *x = a, *y = b;
	size_t lx = strlen(x->path), ly = strlen(y->path);
	return lx < ly ? -1 : lx > ly;
}

/* A new mount namespace whose root is a tmpfs holding only paths (each at its host path),
 * /proc of the jail's PID namespace, and the current directory (so relative paths work). */
static int build_root(struct jail_path *paths, unsigned n, long uid, long gid)
{
	char root[] = "/tmp/hf-jail.XXXXXX", old[PATH_MAX], cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "/");
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		pr_err("--jail: cannot make a mount namespace: %s", strerror(errno));
		return -1;
	}
	if (!mkdtemp(root) ||
	    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=1m") < 0) {
		pr_err("--jail: cannot make the jail's root %s: %s", root, strerror(errno));
		rmdir(root);
		return -1;
	}
	qsort(paths, n, sizeof(*paths), by_length); /* a directory before what is below it */
	for (unsigned i = 0; i < n; i++)
		if (bind_path(root, &paths[i], uid, gid) < 0)
			goto fail;
	snprintf(old, sizeof(old), "%s/.old", root);
	char here[PATH_MAX], proc[PATH_MAX];
	snprintf(here, sizeof(here), "%s%s", root, cwd);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	if (mkdirs(here, true) < 0 || mkdir(old, 0700) < 0 || mkdir(proc, 0555) < 0) {
		pr_err("--jail: cannot lay out the jail's root: %s", strerror(errno));
		goto fail;
	}
	if (syscall(SYS_pivot_root, root, old) < 0 || chdir("/") < 0) {
		pr_err("--jail: pivot_root into %s: %s", root, strerror(errno));
		goto fail;
	}
	/* The host's directory the root was mounted on is no mount point now: it goes. */
	snprintf(old, sizeof(old), "/.old%s", root);
	rmdir(old);
	if (umount2("/.old", MNT_DETACH) < 0 || rmdir("/.old") < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0) {
		pr_err("--jail: cannot finish the jail's root: %s", strerror(errno));
		return -1;
	}
	if (chdir(cwd) < 0)
		return chdir("/");
	return 0;
fail:
	umount2(root, MNT_DETACH);
	rmdir(root);
	return -1;
}

/* ---- privileges (the VMM, once its board is built) ------------------------------------ */

int jail_drop_privileges(void)
{
	uid_t uid = jail_self()->uid;
	gid_t gid = jail_self()->gid;
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			pr_err("--jail: cannot drop capability %d: %s", cap, strerror(errno));
			return -1;
		}
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		pr_err("--jail: cannot become uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
		       strerror(errno));
		return -1;
	}
	/* No way back to privileges; and not dumpable: no other process of this uid (a
	 * sibling clone of the same function, taken over) may read this one's memory or
	 * trace it (its /proc/PID files stay root's; mem_pagemap_open reads its own). */
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    syscall(SYS_capget, &h, d) < 0 || d[0].effective || d[0].permitted || d[1].effective ||
	    d[1].permitted || getuid() != uid || getegid() != gid) {
		pr_err("--jail: privileges could not be dropped entirely");
		return -1;
	}
	pr_debug("jailed: uid %u gid %u, no capabilities", (unsigned)uid, (unsigned)gid);
	return 0;
}

/* ---- the VMM, just forked ------------------------------------------------------------- */

int jail_vmm_enter(struct jail_config *j, const struct vm_config *cfg, int ask_fd)
{
	jail_self_set_ask_fd(ask_fd);
	if (jail_cgroup_enter_vm(cfg->name) < 0)
		return -1;
	if (build_root(j->paths, j->npaths, j->uid, j->gid) < 0)
		return -1;
	return JAIL_INSIDE;
}
