/* Host pids in a jail, both ends of the ask socket: the jail's VMMs (and their clones) have
 * a PID namespace of their own and ask the keeper, whose /proc is the host's, what their
 * pids are on the host (the question: an int32 pid and a socket for the answer, an int32). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail/internal.h"
#include "jail/jail.h"
#include "util/log.h"

#define ASK_TIMEOUT_MS 2000

/* ---- the question (the jail's VMMs) --------------------------------------------------- */

pid_t jail_host_pid(pid_t pid)
{
	static pid_t cached_for, cached;
	if (jail_self()->ask_fd < 0)
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
	bool ok = sendmsg(jail_self()->ask_fd, &m, MSG_NOSIGNAL) == sizeof(q);
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

/* ---- the answers (the keeper) --------------------------------------------------------- */

pid_t jail_host_pid_of(pid_t pid)
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

void jail_host_pid_answer(int fd)
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
	int32_t a = n == sizeof(q) && q > 0 ? jail_host_pid_of(q) : 0;
	if (send(reply, &a, sizeof(a), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pr_debug("jail keeper: cannot answer: %s", strerror(errno));
	close(reply);
}
