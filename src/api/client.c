/* The control socket's client: one request to a VM by name, one answer (see client.h). */
#include "api/client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"
#include "util/util.h"

int ctl_connect(const char *dir, const char *name, bool quiet)
{
	char path[PATH_MAX];

	if (!valid_vm_name(name)) {
		if (!quiet)
			pr_err("invalid VM name '%s'", name);
		errno = EINVAL;
		return -1;
	}
	run_file(path, sizeof(path), dir, name, RUN_FILE_SOCKET);
	int fd = unix_connect(path, 0);
	if (fd < 0 && !quiet) {
		int e = errno;
		if (e == ENOENT)
			pr_err("no VM named %s (no control socket %s)", name, path);
		else if (e == ECONNREFUSED)
			pr_err("VM %s is gone (stale control socket %s)", name, path);
		else
			pr_err("cannot reach VM %s at %s: %s", name, path, strerror(e));
		errno = e;
	}
	return fd;
}

int ctl_call(const char *dir, const char *name, const struct hf_request *req,
	     struct hf_response *resp)
{
	int fd = ctl_connect(dir, name, false);
	return fd < 0 ? -1 : ctl_exchange(fd, name, req, resp);
}

int ctl_exchange(int fd, const char *name, const struct hf_request *req, struct hf_response *resp)
{
	char err[256];
	struct timeval tv = {.tv_sec = 60};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char *line = proto_format_request(req);
	if (!line) {
		pr_err("cannot send to VM %s: %s", name, strerror(ENOMEM));
		close(fd);
		return -1;
	}
	/* A VM that cannot serve the request (e.g. no descriptor left) answers and closes
	 * without reading it: a failed send is then followed by reading that answer. */
	int send_err = write_all(fd, line, strlen(line)) < 0 ? errno : 0;
	free(line);
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (len == cap) {
			if (cap >= PROTO_MAX_LINE)
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - n, '\n', (size_t)n))
			break;
	}
	close(fd);
	if (!buf || !len || !memchr(buf, '\n', len)) {
		if (send_err)
			pr_err("cannot send to VM %s: %s", name, strerror(send_err));
		else
			pr_err("VM %s closed the connection without an answer", name);
		free(buf);
		return -1;
	}
	int r = proto_parse_response(req->cmd, buf, (size_t)((char *)memchr(buf, '\n', len) - buf),
				     resp, err, sizeof(err));
	free(buf);
	if (r < 0) {
		pr_err("bad answer from VM %s: %s", name, err);
		return -1;
	}
	return 0;
}
