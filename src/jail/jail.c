/* The jail: namespaces, a pivot_root'ed tmpfs root, a cgroup v2 group, dropped privileges
 * (see jail.h for the processes involved). */
#include "jail/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "core/seccomp.h"
#include "hyperfork/abi.h"
#include "util/log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define ASK_TIMEOUT_MS 2000

/* In the jail's processes (the VMM and its clones, which inherit it by fork). */
static struct {
	int ask_fd;              /* datagram socket to the keeper, -1 outside a jail */
	char cgroup[PATH_MAX];   /* the jail's cgroup directory */
	uid_t uid;
	gid_t gid;
} self = {.ask_fd = -1};

static const char *cgroup_root(void)
{
	const char *r = getenv("HYPERFORK_CGROUP_ROOT"); /* tests point it elsewhere */
	return r && *r ? r : "/sys/fs/cgroup";
}

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

/* Returns the path's entry, or NULL if there is none (no path, or too many: check() says). */
static struct jail_path *add_path(struct jail_config *j, const char *path, bool writable,
				  bool create)
{
	if (path && *path && j->npaths < JAIL_MAX_PATHS) {
		j->paths[j->npaths] = (struct jail_path){path, writable, create, false};
		return &j->paths[j->npaths++];
	}
	if (path && *path)
		j->paths[JAIL_MAX_PATHS - 1].path = NULL; /* reported by check() */
	return NULL;
}

void jail_note_device(struct jail_config *j, const char *opt, const char *arg)
{
	if (!strcmp(opt, "net")) {
		j->net = true;
	} else if (!strcmp(opt, "disk")) { /* FILE[,ro|,persist] (devices/virtio_blk.c) */
		size_t len = strlen(arg);
		bool persist = len > 8 && !strcmp(arg + len - 8, ",persist");
		if (len > 3 && !strcmp(arg + len - 3, ",ro"))
			len -= 3;
		else if (persist)
			len -= 8;
		add_path(j, strndup(arg, len), persist, false);
	} else if (!strcmp(opt, "vsock")) { /* CID[,uds=PATH][,...]: PATH's directory */
		const char *u = strstr(arg, ",uds=");
		if (!u)
			return;
		char *p = strndup(u + 5, strcspn(u + 5, ","));
		char *slash = p ? strrchr(p, '/') : NULL;
		if (slash && slash != p)
			*slash = 0;
		else if (p)
			strcpy(p, slash ? "/" : ".");
		add_path(j, p, true, false);
	}
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

static int check_cgroup2(void)
{
	const char *root = cgroup_root();
	struct statfs sf;
	char path[PATH_MAX];
	if (statfs(root, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		pr_err("--jail: no cgroup2 file system at %s (mount -t cgroup2 none %s)", root, root);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	static const char *const need[] = {"memory", "cpu"};
	for (unsigned i = 0; i < ARRAY_SIZE(need); i++)
		if (!file_has_word(path, need[i])) {
			pr_err("--jail: the cgroup2 root %s offers no %s controller", root, need[i]);
			return -1;
		}
	return 0;
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
static int check(struct jail_config *j, struct vm_config *cfg)
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
	return check_cgroup2();
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

/* ROOT/hyperfork/NAME with the limits, delegated to the jail's user, and its leaf NAME
 * for the VM itself (cgroup v2 keeps processes in leaves only). */
static int make_cgroups(struct jail_config *j, const char *name, char *jail_cg, size_t len)
{
	const char *root = cgroup_root();
	char base[PATH_MAX], leaf[PATH_MAX], v[64];
	if (write_file(root, "cgroup.subtree_control", "+memory +cpu") < 0 ||
	    cg_mkdir(base, sizeof(base), root, JAIL_CGROUP_BASE) < 0 ||
	    write_file(base, "cgroup.subtree_control", "+memory +cpu") < 0) {
		pr_err("--jail: cannot enable the memory and cpu controllers below %s: %s", root,
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
	char procs[PATH_MAX];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", jail_cg);
	if (write_file(jail_cg, "cgroup.subtree_control", "+memory +cpu") < 0 ||
	    cg_mkdir(leaf, sizeof(leaf), jail_cg, name) < 0 ||
	    chown(jail_cg, (uid_t)j->uid, (gid_t)j->gid) < 0 ||
	    chown(procs, (uid_t)j->uid, (gid_t)j->gid) < 0) {
		pr_err("--jail: cannot prepare cgroup %s: %s", jail_cg, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	rmdir(leaf);
	rmdir(jail_cg);
	return -1;
}

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

static int drop_privileges(void)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			pr_err("--jail: cannot drop capability %d: %s", cap, strerror(errno));
			return -1;
		}
	if (setgroups(0, NULL) < 0 || setresgid(self.gid, self.gid, self.gid) < 0 ||
	    setresuid(self.uid, self.uid, self.uid) < 0) {
		pr_err("--jail: cannot become uid %u gid %u: %s", (unsigned)self.uid,
		       (unsigned)self.gid, strerror(errno));
		return -1;
	}
	/* No way back to privileges; and /proc/self stays the VMM's own (prefault reads its
	 * pagemap), which dropping them had given to root. */
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_capget, &h, d) < 0 || d[0].effective || d[0].permitted || d[1].effective ||
	    d[1].permitted || getuid() != self.uid || getegid() != self.gid) {
		pr_err("--jail: privileges could not be dropped entirely");
		return -1;
	}
	pr_debug("jailed: uid %u gid %u, no capabilities", (unsigned)self.uid, (unsigned)self.gid);
	return 0;
}

/* ---- host pids ------------------------------------------------------------------------ */

pid_t jail_host_pid(pid_t pid)
{
	static pid_t cached_for, cached;
	if (self.ask_fd < 0)
		return pid;
	pid_t me = getpid();
	if (pid == me && cached_for == me)
		return cached;
	int sv[2];
	int32_t q = pid, a = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c = {0};
	struct iovec iov = {.iov_base = &q, .iov_len = sizeof(q)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			   .msg_controllen = sizeof(c.buf)};
	struct cmsghdr *ch = CMSG_FIRSTHDR(&m);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(ch), &sv[1], sizeof(int));
	struct pollfd p = {.fd = sv[0], .events = POLLIN};
	bool ok = sendmsg(self.ask_fd, &m, MSG_NOSIGNAL) == sizeof(q);
	close(sv[1]);
	ok = ok && poll(&p, 1, ASK_TIMEOUT_MS) == 1 && read(sv[0], &a, sizeof(a)) == sizeof(a);
	close(sv[0]);
	if (ok && a > 0) {
		if (pid == me)
			cached_for = me, cached = a;
		return a;
	}
fail:
	pr_warn("jail: the host pid of pid %d is unknown (the jail's keeper does not answer)",
		(int)pid);
	return 0;
}

/* The keeper: pid's pid in the host's PID namespace (the keeper's /proc is the host's),
 * through a pidfd's fdinfo. 0 if it is gone. */
static pid_t host_pid_of(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return 0;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = f >= 0 ? read(f, buf, sizeof(buf) - 1) : -1;
	if (f >= 0)
		close(f);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	const char *l = strstr(buf, "\nPid:");
	return l ? (pid_t)atoi(l + 5) : 0;
}

/* The keeper: answer one question on the ask socket (an int32 pid and a reply socket;
 * anything else is dropped). */
static void answer(int fd)
{
	int32_t q = 0;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} c;
	struct iovec iov = {.iov_base = &q, .iov_len = sizeof(q)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			   .msg_controllen = sizeof(c.buf)};
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int reply = -1;
	for (struct cmsghdr *h = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int f;
			memcpy(&f, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			if (reply < 0)
				reply = f;
			else
				close(f);
		}
	}
	if (reply < 0)
		return;
	int32_t a = n == sizeof(q) && q > 0 ? host_pid_of(q) : 0;
	if (send(reply, &a, sizeof(a), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pr_debug("jail keeper: cannot answer: %s", strerror(errno));
	close(reply);
}

/* ---- clones --------------------------------------------------------------------------- */

int jail_enter_clone_cgroup(const char *parent, unsigned id)
{
	char dir[PATH_MAX], name[HF_NAME_MAX + 16];
	if (self.ask_fd < 0)
		return 0;
	if (id)
		snprintf(name, sizeof(name), "%s.%u", parent, id);
	else
		snprintf(name, sizeof(name), "%s.pool", parent);
	if (cg_mkdir(dir, sizeof(dir), self.cgroup, name) < 0)
		return -1;
	if (write_file(dir, "cgroup.procs", "0") < 0) {
		pr_err("jail: cannot enter cgroup %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the keeper (pid 1 of the jail, in the host's mount namespace) -------------------- */

struct keeper {
	const char *cgroup, *run_dir;
	int inotify;
	struct { int wd; bool populated; char name[HF_NAME_MAX + 1]; } *w;
	unsigned nw;
};

/* VM name has ended: its cgroup goes, and its sockets if it left them (nothing listens). */
static void vm_gone(struct keeper *k, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", k->cgroup, name);
	if (rmdir(path) < 0 && errno != ENOENT)
		pr_debug("jail keeper: rmdir %s: %s", path, strerror(errno));
	for (unsigned i = 0; i < ARRAY_SIZE(run_file_sockets); i++) {
		struct stat st;
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		run_file(a.sun_path, sizeof(a.sun_path), k->run_dir, name, run_file_sockets[i]);
		if (lstat(a.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 &&
		    errno == ECONNREFUSED)
			unlink(a.sun_path);
		if (s >= 0)
			close(s);
	}
}

/* cgroup.events of VM name's leaf says it has processes. */
static bool populated(const char *cgroup, const char *name)
{
	char path[PATH_MAX], buf[256];
	snprintf(path, sizeof(path), "%s/%s/cgroup.events", cgroup, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return strstr(buf, "populated 1") != NULL;
}

static void watch_vm(struct keeper *k, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s/cgroup.events", k->cgroup, name);
	int wd = inotify_add_watch(k->inotify, path, IN_MODIFY);
	void *w = wd >= 0 ? realloc(k->w, (k->nw + 1) * sizeof(*k->w)) : NULL;
	if (!w)
		return;
	k->w = w;
	k->w[k->nw].wd = wd;
	k->w[k->nw].populated = populated(k->cgroup, name); /* it may have entered already */
	snprintf(k->w[k->nw++].name, sizeof(k->w->name), "%s", name);
}

/* Cgroups made and emptied: a VM's leaf that had processes and has none is removed. */
static void on_inotify(struct keeper *k)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(k->inotify, buf, sizeof(buf));
	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *e = (struct inotify_event *)p;
		p += sizeof(*e) + e->len;
		if ((e->mask & IN_CREATE) && e->len && valid_vm_name(e->name)) {
			watch_vm(k, e->name);
			continue;
		}
		for (unsigned i = 0; i < k->nw; i++) {
			if (k->w[i].wd != e->wd)
				continue;
			bool pop = populated(k->cgroup, k->w[i].name);
			if (e->mask & IN_IGNORED) { /* its cgroup is gone */
				k->w[i] = k->w[--k->nw];
			} else if (pop) {
				k->w[i].populated = true;
			} else if (k->w[i].populated) {
				inotify_rm_watch(k->inotify, k->w[i].wd);
				vm_gone(k, k->w[i].name);
				k->w[i].populated = false;
			}
			break;
		}
	}
}

/* The keeper's life: reap, watch the cgroups, answer pid questions, until the jail is
 * empty; then clean up. vmm is the VMM's pid, out where its status goes. */
/* Whatever is left once the jail is empty: every VM's leaf and sockets, then the jail's
 * group. Returns 0, or -1 if the jail's group is still there (errno set). */
static int clean_all(struct keeper *k)
{
	char name[PATH_MAX];
	DIR *d = opendir(k->cgroup);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_type == DT_DIR && e->d_name[0] != '.')
			snprintf(name, sizeof(name), "%s", e->d_name), vm_gone(k, name);
	if (d)
		closedir(d);
	return rmdir(k->cgroup) < 0 && errno != ENOENT ? -1 : 0;
}

static int keeper(const char *cgroup, const char *run_dir, pid_t vmm, int out, int ask,
		  int sigfd)
{
	struct keeper k = {.cgroup = cgroup, .run_dir = run_dir};
	k.inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (k.inotify < 0 || inotify_add_watch(k.inotify, cgroup, IN_CREATE) < 0)
		pr_warn("jail keeper: cannot watch %s: %s", cgroup, strerror(errno));
	const char *leaf = strrchr(cgroup, '/') + 1;
	watch_vm(&k, leaf);
	if (k.nw)
		k.w[0].populated = true; /* the VMM enters it first thing */
	for (bool vmm_done = false;;) {
		struct pollfd p[3] = {{.fd = sigfd, .events = POLLIN},
				      {.fd = k.inotify, .events = POLLIN},
				      {.fd = ask, .events = POLLIN}};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			on_inotify(&k);
		if (p[2].revents)
			answer(ask);
		if (!p[0].revents)
			continue;
		struct signalfd_siginfo si;
		while (read(sigfd, &si, sizeof(si)) == sizeof(si))
			;
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid != vmm)
				continue;
			int32_t code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			if (write(out, &code, sizeof(code)) < 0)
				pr_debug("jail keeper: the launcher is gone");
			vmm_done = true;
		}
		if (pid < 0 && errno == ECHILD && vmm_done)
			break; /* no process is left in the jail */
	}
	if (clean_all(&k) < 0)
		pr_warn("jail keeper: cannot remove %s: %s", cgroup, strerror(errno));
	free(k.w);
	return 0;
}

/* ---- the launcher --------------------------------------------------------------------- */

/* The keeper ended before the VMM's status came (its own filter, or killed): the kernel
 * ends every process of the jail with it; say so and clean up after them. */
static int keeper_lost(pid_t keeper_pid, const char *run_dir)
{
	int st = 0;
	struct keeper k = {.cgroup = self.cgroup, .run_dir = run_dir};
	if (waitpid(keeper_pid, &st, 0) == keeper_pid && WIFSIGNALED(st))
		pr_err("--jail: the jail's keeper was killed (%s); its VMs end with it",
		       strsignal(WTERMSIG(st)));
	else
		pr_err("--jail: the jail's keeper ended (status %d) before the VM; its VMs end with it",
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	for (int i = 0; i < 50 && clean_all(&k) < 0; i++) /* while its processes die */
		usleep(100 * 1000);
	return HF_STATUS_ERROR;
}

/* Wait for the VMM's status from the keeper, passing on the signals that would stop it. */
static int launcher_wait(int in, pid_t keeper_pid, const char *run_dir)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	int32_t msg[2] = {0, 0}; /* the VMM's host pid, then its status */
	unsigned got = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = in, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		struct signalfd_siginfo si;
		if (p[1].revents && read(sigfd, &si, sizeof(si)) == sizeof(si) && msg[0] > 0)
			kill(msg[0], (int)si.ssi_signo);
		if (!p[0].revents)
			continue;
		if (read(in, &msg[got], sizeof(msg[got])) != sizeof(msg[got]))
			break;
		if (++got == 2) {
			waitpid(keeper_pid, NULL, WNOHANG); /* it goes on while clones run */
			return msg[1];
		}
	}
	return keeper_lost(keeper_pid, run_dir);
}

/* The keeper, just started: start the VMM. Returns JAIL_INSIDE in the VMM, JAIL_DONE in
 * the keeper once the jail is empty. */
static int keeper_start(struct jail_config *j, struct vm_config *cfg, int out, int ask[2])
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	pid_t vmm = fork();
	if (vmm == 0) { /* the VMM */
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		close(sigfd);
		close(out);
		close(ask[0]);
		self.ask_fd = ask[1];
		char leaf[PATH_MAX];
		snprintf(leaf, sizeof(leaf), "%s/%s", self.cgroup, cfg->name);
		if (write_file(leaf, "cgroup.procs", "0") < 0) {
			pr_err("--jail: cannot enter cgroup %s: %s", leaf, strerror(errno));
			return -1;
		}
		if (build_root(j->paths, j->npaths, j->uid, j->gid) < 0)
			return -1;
		cfg->before_guest = drop_privileges;
		return JAIL_INSIDE;
	}
	close(ask[1]);
	if (vmm < 0 || sigfd < 0) {
		pr_err("--jail: cannot start the VMM in its jail: %s", strerror(errno));
		int32_t code = HF_STATUS_ERROR, none = 0;
		if (write(out, &none, sizeof(none)) < 0 || write(out, &code, sizeof(code)) < 0)
			return JAIL_DONE;
		return JAIL_DONE;
	}
	int32_t host = host_pid_of(vmm);
	if (write(out, &host, sizeof(host)) < 0)
		pr_debug("jail keeper: the launcher is gone");
	/* The keeper stays root: from here it is held to what it does (the VMM, forked
	 * already, loads its own filters). If its filter cannot be loaded, the jail ends. */
	if (!cfg->no_seccomp) {
		if (seccomp_prepare(true) < 0 || seccomp_enter(SECCOMP_KEEPER) < 0) {
			kill(vmm, SIGKILL);
			return JAIL_DONE;
		}
		seccomp_test_hook(SECCOMP_KEEPER, false);
	}
	/* Like a clone, the keeper keeps none of the launcher's streams open. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	setsid();
	keeper(self.cgroup, cfg->run_dir, vmm, out, ask[0], sigfd);
	return JAIL_DONE;
}

int jail_enter(struct jail_config *j, struct vm_config *cfg, int *status)
{
	*status = HF_STATUS_ERROR;
	const char *kvm = getenv("HYPERFORK_KVM") ? getenv("HYPERFORK_KVM") : "/dev/kvm";
	add_path(j, kvm, false, false);
	add_path(j, "/dev/null", true, false);
	add_path(j, "/dev/urandom", false, false);
	add_path(j, "/sys/module", false, false); /* which KVM module serves (core/host.c) */
	struct jail_path *tun = j->net ? add_path(j, "/dev/net/tun", false, false) : NULL;
	if (tun) /* each clone opens it anew, as the jail's user */
		tun->own = true;
	add_path(j, cfg->image, false, false);
	add_path(j, cfg->initrd, false, false);
	add_path(j, cfg->run_dir, true, false);
	add_path(j, cfg->marks_path, true, true);
	if (cfg->console == CONSOLE_FILE)
		add_path(j, cfg->console_path, true, true);
	for (unsigned i = 0; i < j->npaths; i++)
		if (j->paths[i].path)
			j->paths[i].path = absolute(j->paths[i].path);
	if (check(j, cfg) < 0)
		return JAIL_DONE;
	for (unsigned i = 0; i < j->npaths; i++) { /* files the VM writes, made beforehand */
		int fd = j->paths[i].create ? open(j->paths[i].path, O_WRONLY | O_CREAT | O_CLOEXEC,
						   0644)
					    : -2;
		if (fd == -1) {
			pr_err("--jail: cannot create %s: %s", j->paths[i].path, strerror(errno));
			return JAIL_DONE;
		}
		if (fd >= 0)
			close(fd);
	}
	int netns = -1;
	if (j->netns && ((netns = open(j->netns, O_RDONLY | O_CLOEXEC)) < 0 ||
			 setns(netns, CLONE_NEWNET) < 0)) {
		pr_err("--netns %s: %s", j->netns, strerror(errno));
		if (netns >= 0)
			close(netns);
		return JAIL_DONE;
	}
	if (netns >= 0)
		close(netns);
	if (make_cgroups(j, cfg->name, self.cgroup, sizeof(self.cgroup)) < 0)
		return JAIL_DONE;
	self.uid = (uid_t)j->uid;
	self.gid = (gid_t)j->gid;
	add_path(j, self.cgroup, true, false);
	if (!j->paths[j->npaths - 1].path) {
		pr_err("--jail: too many files for the jail");
		goto fail;
	}

	int pipefd[2], ask[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ask) < 0) {
		pr_err("--jail: %s", strerror(errno));
		goto fail;
	}
	fflush(NULL);
	if (unshare(CLONE_NEWPID) < 0) {
		pr_err("--jail: cannot make a PID namespace: %s", strerror(errno));
		goto fail;
	}
	pid_t keeper_pid = fork();
	if (keeper_pid < 0) {
		pr_err("--jail: fork: %s", strerror(errno));
		goto fail;
	}
	if (keeper_pid == 0) {
		close(pipefd[0]);
		int r = keeper_start(j, cfg, pipefd[1], ask);
		if (r == JAIL_DONE)
			*status = 0;
		return r < 0 ? JAIL_DONE : r;
	}
	close(pipefd[1]);
	close(ask[0]);
	close(ask[1]);
	*status = launcher_wait(pipefd[0], keeper_pid, cfg->run_dir);
	close(pipefd[0]);
	return JAIL_DONE;
fail: {
	char leaf[PATH_MAX];
	snprintf(leaf, sizeof(leaf), "%s/%s", self.cgroup, cfg->name);
	rmdir(leaf);
	rmdir(self.cgroup);
	return JAIL_DONE;
}
}
