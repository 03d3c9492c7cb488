/* Test and benchmark helper: talk raw bytes to a Unix socket (send stdin, print the reply
 * until the peer closes, or for at most --wait MS), or leave a stale socket file behind
 * (--stale PATH), as a VM killed with SIGKILL would. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int stale = argc == 3 && !strcmp(argv[1], "--stale");
	int wait_ms = -1;
	if (argc == 4 && !strcmp(argv[1], "--wait"))
		wait_ms = atoi(argv[2]);
	if (argc != 2 && !stale && wait_ms < 0) {
		fprintf(stderr, "usage: sockraw [--wait MS] PATH < request | sockraw --stale PATH\n");
		return 2;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[argc - 1]);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (stale) {
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("bind");
			return 1;
		}
		return 0; /* exit without unlink: the file stays, nobody listens */
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		return 1;
	}
	char buf[65536];
	ssize_t n;
	/* A server may answer and close before taking everything (a request too long): the
	 * send then fails, and its answer is still to be read. */
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	if (wait_ms < 0)
		shutdown(fd, SHUT_WR);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, wait_ms) > 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}
