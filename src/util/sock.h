/* Unix stream sockets: the VMM's control socket, devices' host sockets, serve's clients. */
#ifndef HF_SOCK_H
#define HF_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Room in a Unix socket address for a path, its NUL included (108 on Linux). */
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* Listen on a Unix stream socket at path (non-blocking, close-on-exec, backlog 128). A
 * socket file left by a process that is gone (connecting is refused) is replaced, and
 * *replaced (if not NULL) says so; one a live process listens on fails with EADDRINUSE,
 * one that cannot be checked with the error of connecting to it. Returns the fd, or -1
 * with errno. */
int unix_listen(const char *path, bool *replaced);
/* Connect to the Unix stream socket at path (close-on-exec; flags may add SOCK_NONBLOCK).
 * Returns the fd, or -1 with errno (ENOENT: nothing there, ECONNREFUSED: nobody listens,
 * ENAMETOOLONG: the path does not fit a socket address). */
int unix_connect(const char *path, int flags);
/* Who is on the other end of the connected Unix socket fd: the process that connected (for
 * a socket accept() returned) or called listen() (for one connect() returned), its pid
 * in the caller's PID namespace (SO_PEERCRED). Returns 0, or -1 with errno. */
int unix_peer(int fd, struct ucred *cred);
/* unix_peer's pid, or -1. */
int unix_peer_pid(int fd);

#endif
