/* The jail's configuration and its checks, in the launcher (`hyperfork run --jail`, before
 * anything is made): --jail-cpu, the paths device options and the VM need inside the jail
 * (made absolute), and everything checked at once, each problem named. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jail/internal.h"
#include "jail/jail.h"
#include "util/log.h"

int jail_parse_cpu(const char *s, uint64_t *quota_us)
{
	char *end;
	errno = 0;
	double cpus = strtod(s, &end);
	if (errno || end == s || *end || !(cpus >= 0.01 && cpus <= 1024))
		return -1;
	*quota_us = (uint64_t)(cpus * JAIL_CPU_PERIOD_US + 0.5);
	return 0;
}

struct jail_path *jail_add_path(struct jail_config *j, const char *path, bool writable, bool create)
{
	if (path && *path && j->npaths < JAIL_MAX_PATHS) {
		j->paths[j->npaths] = (struct jail_path){path, writable, create, false};
		return &j->paths[j->npaths++];
	}
	if (path && *path)
		j->paths[JAIL_MAX_PATHS - 1].path = NULL; /* reported by check() */
	return NULL;
}

/* path as an absolute path, lexically (symbolic links are followed on the host when it is
 * bound; inside the jail the same string names it). "..": resolved with realpath. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX], *out;
	if (strstr(path, "..")) /* covers every ".." component, and some harmless names */
		return realpath(path, NULL);
	if (path[0] == '/')
		out = strdup(path);
	else if (!getcwd(cwd, sizeof(cwd)) || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	if (!out)
		return NULL;
	char *w = out; /* squeeze "//" and "/./" */
	for (const char *r = out; *r;) {
		if (r[0] == '/' && (r[1] == '/' || (r[1] == '.' && (r[2] == '/' || !r[2])))) {
			r += r[1] == '/' ? 1 : 2;
			continue;
		}
		*w++ = *r++;
	}
	*w = 0;
	if (w > out + 1 && w[-1] == '/')
		w[-1] = 0;
	return out;
}

/* ---- checks (the launcher, before anything is made) ----------------------------------- */

static bool writable_by(const struct stat *st, uid_t uid, gid_t gid)
{
	return (st->st_uid == uid && (st->st_mode & S_IWUSR)) ||
	       (st->st_gid == gid && (st->st_mode & S_IWGRP)) || (st->st_mode & S_IWOTH);
}

const char *jail_user_problem(long uid, long gid)
{
	if (uid < 0 || gid < 0)
		return "--jail needs --uid UID and --gid GID: the user the VM runs as";
	if (uid == 0)
		return "--jail: --uid 0 would keep root; give an unprivileged uid";
	if (geteuid() != 0)
		return "--jail needs root (it makes namespaces, mounts and cgroups)";
	return NULL;
}

/* Everything the jail needs, checked at once; each problem named. */
static int check(struct jail_config *j, const struct vm_config *cfg)
{
	const char *problem = jail_user_problem(j->uid, j->gid);
	if (problem) {
		pr_err("%s", problem);
		return -1;
	}
	for (unsigned i = 0; i < j->npaths; i++) {
		struct stat st;
		if (!j->paths[i].path) {
			pr_err("--jail: too many files for the jail, or out of memory");
			return -1;
		}
		if (stat(j->paths[i].path, &st) < 0 && !(j->paths[i].create && errno == ENOENT)) {
			pr_err("--jail: %s: %s", j->paths[i].path, strerror(errno));
			return -1;
		}
	}
	struct stat st;
	if (stat(cfg->run_dir, &st) < 0 || !writable_by(&st, (uid_t)j->uid, (gid_t)j->gid)) {
		pr_err("--jail: run directory %s is not writable by uid %ld gid %ld (control "
		       "sockets and clones are made there after privileges are dropped): give "
		       "--run-dir a directory that user owns",
		       cfg->run_dir, j->uid, j->gid);
		return -1;
	}
	return jail_cgroup_check();
}

int jail_paths_prepare(struct jail_config *j, const struct vm_config *cfg)
{
	const char *kvm = getenv("HYPERFORK_KVM") ? getenv("HYPERFORK_KVM") : "/dev/kvm";
	jail_add_path(j, kvm, false, false);
	jail_add_path(j, "/dev/null", true, false);
	jail_add_path(j, "/dev/urandom", false, false);
	jail_add_path(j, "/sys/module", false, false); /* which KVM module serves (core/host.c) */
	jail_add_path(j, cfg->image, false, false);
	jail_add_path(j, cfg->initrd, false, false);
	jail_add_path(j, cfg->run_dir, true, false);
	if (cfg->console == CONSOLE_FILE)
		jail_add_path(j, cfg->console_path, true, true);
	for (unsigned i = 0; i < j->npaths; i++)
		if (j->paths[i].path)
			j->paths[i].path = absolute(j->paths[i].path);
	if (check(j, cfg) < 0)
		return -1;
	/* Files the VM writes, made beforehand (as root, in a directory the jail's user may
	 * write: never through a link, nor held up by a FIFO, it put there). */
	for (unsigned i = 0; i < j->npaths; i++) {
		int fd = j->paths[i].create
				 ? open(j->paths[i].path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
							  O_NONBLOCK, 0644)
				 : -2;
		if (fd == -1) {
			pr_err("--jail: cannot create %s: %s", j->paths[i].path, strerror(errno));
			return -1;
		}
		if (fd >= 0)
			close(fd);
	}
	return 0;
}
