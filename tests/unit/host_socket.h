/* The host's side of a device's Unix socket in the unit tests (test_vsock, test_function):
 * run the VMM's event loop until it is idle, connect a client. Include after cmocka.h. */
#ifndef HF_TEST_HOST_SOCKET_H
#define HF_TEST_HOST_SOCKET_H

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util/loop.h"

/* Run loop l until it has nothing to do for 20 ms (at most 400 events). */
static inline void pump_loop(struct loop *l)
{
	for (int i = 0; i < 400; i++) {
		struct pollfd p = {.fd = l->epfd, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			return;
		loop_once(l, 0);
	}
}

/* A client connected to the Unix socket at path (the test fails if it cannot). */
static inline int host_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

#endif
