/* Unix stream sockets (see sock.h). */
#include "util/sock.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* a for path; -1 with ENAMETOOLONG if it does not fit. */
static int make_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a->sun_path, path);
	return 0;
}

int unix_listen(const char *path, bool *replaced)
{
	struct sockaddr_un a;
	if (replaced)
		*replaced = false;
	if (make_addr(path, &a) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	if (r < 0 && errno == EADDRINUSE) {
		int probe = unix_connect(path, 0);
		if (probe >= 0) {
			close(probe);
			errno = EADDRINUSE; /* live: someone listens there */
		} else if (errno == ECONNREFUSED || errno == ENOENT) {
			unlink(path); /* stale: its process is gone */
			if (replaced)
				*replaced = true;
			r = bind(fd, (struct sockaddr *)&a, sizeof(a));
		}
	}
	if (r < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int unix_connect(const char *path, int flags)
{
	struct sockaddr_un a;
	if (make_addr(path, &a) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int unix_peer(int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len);
}

int unix_peer_pid(int fd)
{
	struct ucred cred;
	return unix_peer(fd, &cred) == 0 && cred.pid > 0 ? cred.pid : -1;
}
