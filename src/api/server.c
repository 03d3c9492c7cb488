/* Control socket server: a Unix stream socket per VM speaking the line protocol of
 * api/proto.h. */
#include "api/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sock.h"

struct server_client {
	struct watch w;
	struct server *s;
	bool waiting;         /* a request of it waits for server_answer (not watched) */
	enum hf_cmd waiting_cmd;
	size_t len;
	char buf[PROTO_MAX_REQUEST];
	/* an answer the socket could not take at once (a client that is slow to read): the
	 * rest goes out as the socket drains, and the next request waits for it */
	char *out;
	size_t out_len, out_off;
	bool gone; /* sending failed: the client went away */
	struct server_client *next;
};

static void client_drop(struct server_client *c, bool del)
{
	struct server *s = c->s;
	struct server_client **pp = &s->clients;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	if (del && !c->waiting)
		loop_del(s->loop, &c->w);
	close(c->w.fd);
	free(c->out);
	free(c);
}

static void send_line(int fd, const char *line)
{
	size_t len = strlen(line);
	while (len) {
		ssize_t w = send(fd, line, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		line += w;
		len -= (size_t)w;
	}
}

/* Send what c has queued, as far as the socket takes it. */
static void client_flush(struct server_client *c)
{
	while (c->out && c->out_off < c->out_len) {
		ssize_t w = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return; /* the rest when the socket drains (EPOLLOUT) */
		if (w <= 0) {
			c->gone = true;
			break;
		}
		c->out_off += (size_t)w;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
}

/* Queue the answer to c (never cut short: a client that does not read at once gets the
 * rest later) and send what the socket takes now. */
static void send_response(struct server_client *c, enum hf_cmd cmd, struct hf_response *resp)
{
	char *out = proto_format_response(cmd, resp);
	proto_response_free(resp);
	if (!out)
		out = strdup("{\"ok\":false,\"error\":\"out of memory\"}\n");
	if (!out) {
		c->gone = true;
		return;
	}
	c->out = out; /* none was pending: requests wait for the previous answer */
	c->out_len = strlen(out);
	c->out_off = 0;
	client_flush(c);
}

/* Returns SERVER_LATER if the request waits for server_answer. */
static int handle_line(struct server_client *c, const char *line, size_t len)
{
	struct server *s = c->s;
	struct hf_request req;
	struct hf_response resp;
	char err[256];

	memset(&resp, 0, sizeof(resp));
	if (proto_parse_request(line, len, &req, err, sizeof(err)) < 0) {
		resp.ok = false;
		snprintf(resp.error, sizeof(resp.error), "bad request: %s", err);
		pr_debug("control: %s", resp.error);
		req.cmd = CMD_STATUS;
	} else if (s->handler(s->arg, c, &req, &resp) == SERVER_LATER) {
		c->waiting = true;
		c->waiting_cmd = req.cmd;
		return SERVER_LATER;
	}
	send_response(c, req.cmd, &resp);
	return SERVER_ANSWER;
}

/* Handle the complete lines c has sent, until one waits (for server_answer, or for its
 * answer to go out). */
static void handle_lines(struct server_client *c)
{
	for (;;) {
		if (c->gone) {
			client_drop(c, true);
			return;
		}
		if (c->out) {
			if (loop_mod(c->s->loop, &c->w, EPOLLOUT) < 0)
				client_drop(c, true);
			return;
		}
		char *nl = memchr(c->buf, '\n', c->len);
		if (!nl)
			break;
		size_t linelen = (size_t)(nl - c->buf);
		int r = handle_line(c, c->buf, linelen);
		c->len -= linelen + 1;
		memmove(c->buf, nl + 1, c->len);
		if (r == SERVER_LATER) {
			loop_del(c->s->loop, &c->w);
			return;
		}
	}
	if (c->len == sizeof(c->buf)) {
		send_line(c->w.fd, "{\"ok\":false,\"error\":\"request too long\"}\n");
		client_drop(c, true);
	}
}

static void client_event(struct watch *w, uint32_t events)
{
	struct server_client *c = w->arg;
	if (c->out) { /* only EPOLLOUT is watched meanwhile */
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		client_flush(c);
		if (c->out)
			return;
		if (c->gone || loop_mod(c->s->loop, &c->w, EPOLLIN) < 0) {
			client_drop(c, true);
			return;
		}
		handle_lines(c); /* requests that came meanwhile */
		return;
	}
	ssize_t n = recv(w->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		client_drop(c, true);
		return;
	}
	c->len += (size_t)n;
	handle_lines(c);
}

void server_answer(struct server *s, struct server_client *c, struct hf_response *resp)
{
	(void)s;
	send_response(c, c->waiting_cmd, resp);
	c->waiting = false;
	if (c->gone || loop_add(c->s->loop, &c->w, EPOLLIN) < 0) {
		client_drop(c, false);
		return;
	}
	handle_lines(c);
}

/* With no file descriptor left, accept() fails and the pending connection would stay in
 * the backlog (epoll reporting it forever, the client waiting for an answer that never
 * comes). The server keeps one spare descriptor for that case: it is given up to accept
 * the connection, which is told why it cannot be served, then taken back. */
static void reserve_fd(struct server *s)
{
	if (s->spare < 0)
		s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void refuse_for_lack_of_fds(struct server *s, int err)
{
	char line[160];

	if (s->spare >= 0) {
		close(s->spare);
		s->spare = -1;
	}
	int fd = accept4(s->listen.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		snprintf(line, sizeof(line),
			 "{\"ok\":false,\"error\":\"cannot take a request: %s\"}\n",
			 strerror(err));
		send_line(fd, line);
		close(fd);
	}
	reserve_fd(s);
	pr_warn("control: refused a connection: %s", strerror(err));
}

static void listen_event(struct watch *w, uint32_t events)
{
	struct server *s = w->arg;
	(void)events;
	int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			refuse_for_lack_of_fds(s, errno);
		return;
	}
	/* Only the VM's own user and root (serve) command it, whatever the socket's mode. */
	struct ucred who = {0};
	if (unix_peer(fd, &who) < 0 || (who.uid != 0 && who.uid != geteuid())) {
		send_line(fd, "{\"ok\":false,\"error\":\"not this VM's user\"}\n");
		close(fd);
		pr_warn("control: refused a connection from uid %d (pid %d): not this VM's user",
			(int)who.uid, (int)who.pid);
		return;
	}
	struct server_client *c = calloc(1, sizeof(*c));
	if (!c) {
		send_line(fd, "{\"ok\":false,\"error\":\"cannot take a request: out of memory\"}\n");
		close(fd);
		return;
	}
	c->s = s;
	c->w = (struct watch){.fd = fd, .fn = client_event, .arg = c};
	if (loop_add(s->loop, &c->w, EPOLLIN) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = s->clients;
	s->clients = c;
}

int server_open(struct server *s, struct loop *l, const char *path, server_handler fn, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->listen.fd = -1;
	s->spare = -1;
	s->loop = l;
	s->handler = fn;
	s->arg = arg;
	snprintf(s->path, sizeof(s->path), "%s", path);
	bool stale;
	int fd = unix_listen(path, &stale);
	if (fd < 0) {
		if (errno == ENAMETOOLONG)
			pr_err("control socket path %s is too long", path);
		else if (errno == EADDRINUSE)
			pr_err("a VM with this name is already running (control socket %s)", path);
		else
			pr_err("cannot listen on control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (stale)
		pr_info("removed a stale control socket %s left by a VM that is gone", path);
	reserve_fd(s);
	s->listen = (struct watch){.fd = fd, .fn = listen_event, .arg = s};
	if (loop_add(l, &s->listen, EPOLLIN) < 0) {
		close(fd);
		unlink(path);
		s->listen.fd = -1;
		return -1;
	}
	return 0;
}

static void drop_spare(struct server *s)
{
	if (s->spare >= 0)
		close(s->spare);
	s->spare = -1;
}

void server_close(struct server *s)
{
	while (s->clients)
		client_drop(s->clients, true);
	if (s->listen.fd >= 0) {
		loop_del(s->loop, &s->listen);
		close(s->listen.fd);
		unlink(s->path);
	}
	s->listen.fd = -1;
	drop_spare(s);
}

void server_abandon(struct server *s)
{
	while (s->clients)
		client_drop(s->clients, false);
	if (s->listen.fd >= 0)
		close(s->listen.fd);
	s->listen.fd = -1;
	drop_spare(s);
}
