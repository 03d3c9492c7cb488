/* hf-vsock: byte streams over vsock for tests and demos (busybox has no vsock).
 *   hf-vsock connect CID PORT        stdin -> the connection (shut down for writing at
 *                                    stdin's end), the connection -> stdout, until the peer
 *                                    ends it
 *   hf-vsock listen PORT [CMD ARG...] accept connections one after another, for ever; each
 *                                    runs CMD in a child with its stdin and stdout on the
 *                                    connection (default: an echo), so the listener keeps
 *                                    serving, in the VM and in its clones. Prints
 *                                    "HF-VSOCK-LISTENING PORT" on stderr once it listens.
 *   hf-vsock cid                     prints this VM's CID (needs /dev/vsock; with no devtmpfs
 *                                    make it from /sys/class/misc/vsock/dev)
 * Exit status 0, or 1 with the failure named on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hf-tool.h"

static int fail(const char *what)
{
	fprintf(stderr, "hf-vsock: %s: %s\n", what, strerror(errno));
	return 1;
}

static int parse_u32(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (!*s || *end || errno || v > 0xffffffffu)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static char buf[65536], out[65536];

/* Copy in both directions until the peer ends the stream. What stdin gives is sent only as
 * the connection takes it (never blocking on it), so that a peer that echoes cannot stall
 * both sides with full buffers. */
static int pump(int s)
{
	struct pollfd p[2] = {{.fd = 0}, {.fd = s}};
	size_t off = 0, pending = 0;
	int eof = 0;
	for (;;) {
		p[0].events = pending || eof ? 0 : POLLIN;
		p[1].events = POLLIN | (pending ? POLLOUT : 0);
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll");
		}
		if (p[0].revents && !pending && !eof) {
			ssize_t n = read(0, out, sizeof(out));
			if (n < 0 && errno != EINTR)
				return fail("read stdin");
			if (n == 0) {
				eof = 1;
				shutdown(s, SHUT_WR);
			} else if (n > 0) {
				off = 0;
				pending = (size_t)n;
			}
		}
		if (pending && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = send(s, out + off, pending, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return fail("send");
			if (n > 0) {
				off += (size_t)n;
				pending -= (size_t)n;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && errno != EINTR && errno != EAGAIN)
				return fail("receive");
			if (n == 0)
				return 0;
			if (n > 0 && hf_write_all(1, buf, (size_t)n) < 0)
				return fail("write stdout");
		}
	}
}

static int do_connect(unsigned cid, unsigned port)
{
	struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid};
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket(AF_VSOCK) (kernel needs CONFIG_VIRTIO_VSOCKETS)");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		char what[64];
		snprintf(what, sizeof(what), "connect to CID %u port %u", cid, port);
		return fail(what);
	}
	return pump(s);
}

static int do_listen(unsigned port, char **cmd)
{
	struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = VMADDR_CID_ANY};
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket(AF_VSOCK) (kernel needs CONFIG_VIRTIO_VSOCKETS)");
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0)
		return fail("bind/listen");
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	fprintf(stderr, "HF-VSOCK-LISTENING %u\n", port);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return fail("accept");
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(s);
			if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
				_exit(1);
			close(c);
			if (!cmd[0]) { /* echo */
				ssize_t n;
				while ((n = read(0, buf, sizeof(buf))) > 0)
					if (hf_write_all(1, buf, (size_t)n) < 0)
						_exit(1);
				_exit(n < 0);
			}
			execvp(cmd[0], cmd);
			_exit(fail(cmd[0]));
		}
		if (pid < 0)
			fail("fork");
		close(c);
	}
}

static int do_cid(void)
{
	unsigned cid;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open /dev/vsock");
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		return fail("IOCTL_VM_SOCKETS_GET_LOCAL_CID");
	printf("%u\n", cid);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned cid, port;
	if (argc == 4 && !strcmp(argv[1], "connect") && !parse_u32(argv[2], &cid) &&
	    !parse_u32(argv[3], &port))
		return do_connect(cid, port);
	if (argc >= 3 && !strcmp(argv[1], "listen") && !parse_u32(argv[2], &port))
		return do_listen(port, argv + 3);
	if (argc == 2 && !strcmp(argv[1], "cid"))
		return do_cid();
	fprintf(stderr, "usage: hf-vsock connect CID PORT | hf-vsock listen PORT [CMD ARG...] | "
			"hf-vsock cid\n");
	return 1;
}
