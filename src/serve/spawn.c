/* The spawner and serve's own seccomp filter (see spawn.h). */
#include "serve/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAWN_MSG_MAX (64u << 10)
#define SPAWN_ARGS_MAX 128

struct reply {
	int32_t pid; /* -1: none */
	int32_t err; /* errno then */
};

static int chan = -1;    /* serve's end of the socketpair */
static pid_t spawner;    /* its pid, 0: none */
static pthread_mutex_t chan_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the spawner ------------------------------------------------------------------------ */

/* The new process: its files, its own process group, then exec_path with argv. */
static void child_exec(const char *exec_path, const char *log, char **argv)
{
	/* (The directory is the function's uid's: never through a link it put there.) */
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (null >= 0)
		dup2(null, 0); /* not serve's stdin */
	setpgid(0, 0);         /* serve's terminal signals are serve's to pass on */
	/* By serve's own path, so that the VMM is named hyperfork (comm), not exe, as long as
	 * that path is still serve's binary; else through the link. */
	struct stat path, self;
	if (exec_path[0] && stat(exec_path, &path) == 0 && stat("/proc/self/exe", &self) == 0 &&
	    path.st_dev == self.st_dev && path.st_ino == self.st_ino)
		execv(exec_path, argv);
	execv("/proc/self/exe", argv);
	_exit(127);
}

/* Serve requests on sock until serve's end closes: each "LOG\0ARG0\0ARG1\0...", answered
 * with a struct reply. */
static void __attribute__((noreturn)) spawner_main(int sock, const char *exec_path)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive serve */
	char *buf = malloc(SPAWN_MSG_MAX);
	char *argv[SPAWN_ARGS_MAX + 1];
	for (;;) {
		ssize_t n = buf ? recv(sock, buf, SPAWN_MSG_MAX, 0) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		struct reply r = {.pid = -1, .err = EINVAL};
		unsigned argc = 0;
		const char *log = buf;
		if (buf[n - 1] == 0) {
			for (char *p = buf + strlen(buf) + 1; p < buf + n && argc < SPAWN_ARGS_MAX;
			     p += strlen(p) + 1)
				argv[argc++] = p;
		}
		argv[argc] = NULL;
		if (argc) {
			/* serve's child, not the spawner's: serve waits for it and signals it. */
			long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
			if (pid == 0)
				child_exec(exec_path, log, argv);
			r = (struct reply){.pid = pid > 0 ? (int32_t)pid : -1,
					   .err = pid > 0 ? 0 : errno};
		}
		if (send(sock, &r, sizeof(r), MSG_NOSIGNAL) != sizeof(r))
			_exit(0);
	}
}

int spawn_start(char *why, size_t whylen)
{
	/* serve's own binary, by its path: the VMMs are started by it */
	static char exec_path[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exec_path, sizeof(exec_path) - 1);
	exec_path[len > 0 ? len : 0] = 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		spawner_main(sv[1], exec_path);
	}
	close(sv[1]);
	chan = sv[0];
	spawner = pid;
	return 0;
}

/* Append string s (with its NUL) to msg (n bytes so far). Returns false if it does not fit. */
static bool put(char *msg, size_t *n, const char *s)
{
	size_t len = strlen(s) + 1;
	if (*n + len > SPAWN_MSG_MAX)
		return false;
	memcpy(msg + *n, s, len);
	*n += len;
	return true;
}

pid_t spawn(const char *const *argv, const char *log, char *why, size_t whylen)
{
	char *msg = malloc(SPAWN_MSG_MAX);
	size_t n = 0;
	bool fits = msg && put(msg, &n, log);
	for (unsigned i = 0; fits && argv[i]; i++)
		fits = i < SPAWN_ARGS_MAX && put(msg, &n, argv[i]);
	if (!fits) {
		snprintf(why, whylen, "cannot start its VM: %s",
			 msg ? "its command line is too long" : strerror(ENOMEM));
		free(msg);
		return -1;
	}
	struct reply r = {.pid = -1, .err = EPIPE};
	pthread_mutex_lock(&chan_lock);
	if (chan < 0 || send(chan, msg, n, MSG_NOSIGNAL) != (ssize_t)n ||
	    recv(chan, &r, sizeof(r), 0) != sizeof(r))
		r = (struct reply){.pid = -1, .err = chan < 0 ? ENOTCONN : EPIPE};
	pthread_mutex_unlock(&chan_lock);
	free(msg);
	if (r.pid <= 0) {
		snprintf(why, whylen, "cannot start its VM: %s%s", strerror(r.err),
			 r.err == EPIPE || r.err == ENOTCONN ? " (serve's spawner is gone)" : "");
		return -1;
	}
	return r.pid;
}

void spawn_stop(void)
{
	if (chan >= 0)
		close(chan); /* the spawner ends on it */
	chan = -1;
	if (spawner > 0)
		waitpid(spawner, NULL, 0);
	spawner = 0;
}

/* ---- serve's filter --------------------------------------------------------------------- */

int spawn_filter_enter(char *why, size_t whylen)
{
	/* What no thread of serve needs once VMMs come from the spawner: starting programs or
	 * processes, other processes' memory, mounts, namespaces, ids, the kernel's modules and
	 * keys. Threads (clone with CLONE_THREAD) stay allowed. */
	static const int denied[] = {
		SCMP_SYS(execve),	 SCMP_SYS(execveat),	SCMP_SYS(fork),
		SCMP_SYS(vfork),	 SCMP_SYS(ptrace),	SCMP_SYS(process_vm_readv),
		SCMP_SYS(process_vm_writev), SCMP_SYS(mount),	SCMP_SYS(umount2),
		SCMP_SYS(pivot_root),	 SCMP_SYS(chroot),	SCMP_SYS(setns),
		SCMP_SYS(unshare),	 SCMP_SYS(setuid),	SCMP_SYS(setgid),
		SCMP_SYS(setreuid),	 SCMP_SYS(setregid),	SCMP_SYS(setresuid),
		SCMP_SYS(setresgid),	 SCMP_SYS(setgroups),	SCMP_SYS(capset),
		SCMP_SYS(init_module),	 SCMP_SYS(finit_module), SCMP_SYS(delete_module),
		SCMP_SYS(kexec_load),	 SCMP_SYS(kexec_file_load), SCMP_SYS(bpf),
		SCMP_SYS(perf_event_open), SCMP_SYS(keyctl),	SCMP_SYS(add_key),
		SCMP_SYS(request_key),	 SCMP_SYS(reboot),	SCMP_SYS(swapon),
		SCMP_SYS(swapoff),	 SCMP_SYS(acct),	SCMP_SYS(iopl),
		SCMP_SYS(ioperm),	 SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at),
		SCMP_SYS(userfaultfd),	 SCMP_SYS(personality), SCMP_SYS(pidfd_getfd),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = ctx ? 0 : -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < sizeof(denied) / sizeof(denied[0]); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0);
	/* A new process, not a thread: refused; clone3's flags sit in memory a filter cannot
	 * read, so it is made to look absent (glibc then makes threads with clone). */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	if (rc == 0)
		rc = seccomp_load(ctx);
	if (ctx)
		seccomp_release(ctx);
	if (rc < 0) {
		snprintf(why, whylen, "cannot put serve's seccomp filter on: %s", strerror(-rc));
		return -1;
	}
	return 0;
}
