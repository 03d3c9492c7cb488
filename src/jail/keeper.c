/* The keeper: pid 1 of the jail's PID namespace, still in the host's mount namespace (and
 * root, held to what it does by its own filter). It starts the VMM, tells the launcher the
 * VMM's host pid and, when it ends, its status; it reaps orphaned clones, answers the
 * VMMs' host-pid questions (hostpid.c), removes each VM's cgroup and stale sockets when it
 * ends, and the jail's cgroup once nothing is left in it. The launcher cleans up with
 * jail_clean if the keeper itself is lost. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/seccomp.h"
#include "hyperfork/abi.h"
#include "jail/internal.h"
#include "jail/jail.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/util.h"

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

int jail_clean(const char *cgroup, const char *run_dir)
{
	struct keeper k = {.cgroup = cgroup, .run_dir = run_dir};
	return clean_all(&k);
}

/* The keeper's life: reap, watch the cgroups, answer pid questions, until the jail is
 * empty; then clean up. vmm is the VMM's pid, out where its status goes. */
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
			jail_host_pid_answer(ask);
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

int jail_keeper_start(struct jail_config *j, const struct vm_config *cfg, int out, int ask[2])
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
		return jail_vmm_enter(j, cfg, ask[1]);
	}
	close(ask[1]);
	if (vmm < 0 || sigfd < 0) {
		pr_err("--jail: cannot start the VMM in its jail: %s", strerror(errno));
		int32_t code = HF_STATUS_ERROR, none = 0;
		if (write(out, &none, sizeof(none)) < 0 || write(out, &code, sizeof(code)) < 0)
			return JAIL_DONE;
		return JAIL_DONE;
	}
	int32_t host = jail_host_pid_of(vmm);
	if (write(out, &host, sizeof(host)) < 0)
		pr_debug("jail keeper: the launcher is gone");
	/* The keeper stays root: from here it is held to what it does (the VMM, forked
	 * already, loads its own filters). If its filter cannot be loaded, the jail ends. */
	if (!j->no_seccomp) {
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
	keeper(jail_self()->cgroup, cfg->run_dir, vmm, out, ask[0], sigfd);
	return JAIL_DONE;
}
