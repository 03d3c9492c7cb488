/* The jail's cgroup v2 groups: the launcher checks cgroup2 and makes the jail's group
 * (ROOT/hyperfork/NAME, with the memory and CPU limits, delegated to the jail's user) and
 * the VMM's leaf in it; the VMM enters its leaf first thing, and each of its clones (in the
 * jail, forked) a leaf of its own. The keeper removes them (keeper.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "jail/internal.h"
#include "jail/jail.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The cgroup2 root the jails' groups are made below. */
static const char *cgroup_root(void)
{
	const char *r = getenv("HYPERFORK_CGROUP_ROOT"); /* tests point it elsewhere */
	return r && *r ? r : "/sys/fs/cgroup";
}

/* Write text to dir/file. Returns 0, or -1 with errno set. */
static int write_file(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = write_all(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

/* ---- the check (the launcher, before anything is made) -------------------------------- */

static bool file_has_word(const char *path, const char *word)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
		if (!strcmp(t, word))
			return true;
	return false;
}

int jail_cgroup_check(void)
{
	const char *root = cgroup_root();
	struct statfs sf;
	char path[PATH_MAX];
	if (statfs(root, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		pr_err("--jail: no cgroup2 file system at %s (mount -t cgroup2 none %s)", root, root);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	static const char *const need[] = {"memory", "cpu", "pids"};
	for (unsigned i = 0; i < ARRAY_SIZE(need); i++)
		if (!file_has_word(path, need[i])) {
			pr_err("--jail: the cgroup2 root %s offers no %s controller", root, need[i]);
			return -1;
		}
	return 0;
}

/* ---- cgroups (the launcher) ----------------------------------------------------------- */

/* dir/name, made (mode 0755) if it does not exist. */
static int cg_mkdir(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		pr_err("--jail: cannot create cgroup %s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}

int jail_cgroup_make(struct jail_config *j, const char *name, char *jail_cg, size_t len)
{
	const char *root = cgroup_root();
	char base[PATH_MAX], leaf[PATH_MAX] = "", v[64];
	if (write_file(root, "cgroup.subtree_control", "+memory +cpu +pids") < 0 ||
	    cg_mkdir(base, sizeof(base), root, JAIL_CGROUP_BASE) < 0 ||
	    write_file(base, "cgroup.subtree_control", "+memory +cpu +pids") < 0) {
		pr_err("--jail: cannot enable the memory, cpu and pids controllers below %s: %s", root,
		       strerror(errno));
		return -1;
	}
	snprintf(jail_cg, len, "%s/%s", base, name);
	rmdir(jail_cg); /* left by a jail that was killed: empty, so it goes */
	if (mkdir(jail_cg, 0755) < 0) {
		pr_err("--jail: cannot create cgroup %s: %s%s", jail_cg, strerror(errno),
		       errno == EEXIST || errno == EBUSY ? " (a jailed VM of that name runs)" : "");
		return -1;
	}
	snprintf(v, sizeof(v), "%llu", (unsigned long long)j->memory);
	if (j->memory && write_file(jail_cg, "memory.max", v) < 0) {
		pr_err("--jail-memory: cannot set %s/memory.max: %s", jail_cg, strerror(errno));
		goto fail;
	}
	snprintf(v, sizeof(v), "%llu %u", (unsigned long long)j->cpu_quota_us, JAIL_CPU_PERIOD_US);
	if (j->cpu_quota_us && write_file(jail_cg, "cpu.max", v) < 0) {
		pr_err("--jail-cpu: cannot set %s/cpu.max: %s", jail_cg, strerror(errno));
		goto fail;
	}
	snprintf(v, sizeof(v), "%u", j->pids ? j->pids : JAIL_PIDS_DEFAULT);
	if (write_file(jail_cg, "pids.max", v) < 0) {
		pr_err("--jail-pids: cannot set %s/pids.max: %s", jail_cg, strerror(errno));
		goto fail;
	}
	char procs[PATH_MAX];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", jail_cg);
	if (write_file(jail_cg, "cgroup.subtree_control", "+memory +cpu +pids") < 0 ||
	    cg_mkdir(leaf, sizeof(leaf), jail_cg, name) < 0 ||
	    chown(jail_cg, (uid_t)j->uid, (gid_t)j->gid) < 0 ||
	    chown(procs, (uid_t)j->uid, (gid_t)j->gid) < 0) {
		pr_err("--jail: cannot prepare cgroup %s: %s", jail_cg, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (leaf[0]) /* (made only in the last step) */
		rmdir(leaf);
	rmdir(jail_cg);
	return -1;
}

void jail_cgroup_remove(const char *name)
{
	char leaf[PATH_MAX];
	snprintf(leaf, sizeof(leaf), "%s/%s", jail_self()->cgroup, name);
	rmdir(leaf);
	rmdir(jail_self()->cgroup);
}

/* ---- entering (the jail's VMM and its clones) ----------------------------------------- */

/* Move this process into cgroup dir; who begins the message if it cannot. Returns 0 or -1
 * (logged). */
static int enter(const char *dir, const char *who)
{
	if (write_file(dir, "cgroup.procs", "0") < 0) {
		pr_err("%s: cannot enter cgroup %s: %s", who, dir, strerror(errno));
		return -1;
	}
	return 0;
}

int jail_cgroup_enter_vm(const char *name)
{
	char leaf[PATH_MAX];
	snprintf(leaf, sizeof(leaf), "%s/%s", jail_self()->cgroup, name);
	return enter(leaf, "--jail");
}

int jail_enter_clone_cgroup(const char *parent, unsigned id)
{
	char dir[PATH_MAX], name[HF_NAME_MAX + 16];
	if (jail_self()->ask_fd < 0)
		return 0;
	if (id)
		clone_name(name, sizeof(name), parent, id);
	else
		snprintf(name, sizeof(name), "%s.pool", parent);
	if (cg_mkdir(dir, sizeof(dir), jail_self()->cgroup, name) < 0)
		return -1;
	return enter(dir, "jail");
}
