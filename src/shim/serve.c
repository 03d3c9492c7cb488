/* The serving shim (see shim.h): a ttrpc server on its Unix socket, answering containerd's
 * calls by stream id from one epoll loop (what it sends, answers and events, is out.c's). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim/internal.h"
#include "util/log.h"
#include "util/util.h"

/* ---- connections ------------------------------------------------------------------------ */

static void conn_close(struct shim_conn *c)
{
	shim_conn_forget(c->shim, c);
	loop_del(&c->shim->loop, &c->w);
	close(c->w.fd);
	ttrpc_reader_free(&c->reader);
	c->used = false;
}

static void on_conn(struct watch *w, uint32_t events)
{
	struct shim_conn *c = w->arg;
	struct shim *s = c->shim;
	(void)events;
	for (;;) {
		struct ttrpc_frame frame;
		char err[256];
		int r = ttrpc_reader_read(&c->reader, w->fd, &frame, err, sizeof(err));
		if (r == TTRPC_READ_MORE)
			return;
		if (r < 0 || r == TTRPC_READ_EOF) {
			if (r < 0)
				pr_warn("containerd's connection: %s", err);
			conn_close(c);
			return;
		}
		uint8_t *out = NULL;
		size_t outlen = 0;
		int rc;
		if (r == TTRPC_READ_TOO_LONG)
			rc = ttrpc_frame_status(frame.h.stream_id, TTRPC_RESOURCE_EXHAUSTED, err, &out,
						&outlen);
		else {
			s->cur = c;
			rc = ttrpc_serve_frame(shim_task_table(s), &frame, &out, &outlen, err,
					       sizeof(err));
			s->cur = NULL;
		}
		if (rc < 0)
			pr_err("%s", err);
		if (out)
			shim_send(c, out, outlen);
		free(out);
		if (!c->used)
			return;
	}
}

static void on_listen(struct watch *w, uint32_t events)
{
	struct shim *s = w->arg;
	(void)events;
	int fd;
	while ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct shim_conn *c = NULL;
		for (unsigned i = 0; i < SHIM_CONNS_MAX && !c; i++)
			if (!s->conns[i].used)
				c = &s->conns[i];
		if (!c) {
			pr_warn("connection refused: %u open already", SHIM_CONNS_MAX);
			close(fd);
			continue;
		}
		c->shim = s;
		c->used = true;
		ttrpc_reader_init(&c->reader);
		c->w = (struct watch){.fd = fd, .fn = on_conn, .arg = c};
		if (loop_add(&s->loop, &c->w, EPOLLIN) < 0) {
			close(fd);
			c->used = false;
		}
	}
}

int shim_serve(const struct shim_opts *o, int listen_fd, const char *socket_path, char *err,
	       size_t errlen)
{
	static struct shim shim; /* (large: the task table) */
	struct shim *s = &shim;
	s->o = o;
	s->socket_path = socket_path;
	s->publisher_fd = -1;
	signal(SIGPIPE, SIG_IGN);
	if (loop_init(&s->loop) < 0)
		return errf(err, errlen, "cannot make the event loop");
	s->listen_w = (struct watch){.fd = listen_fd, .fn = on_listen, .arg = s};
	if (loop_add(&s->loop, &s->listen_w, EPOLLIN) < 0)
		return errf(err, errlen, "cannot watch the socket");
	pr_info("serving on %s", socket_path);
	if (shim_io_init(s) < 0)
		return errf(err, errlen, "cannot watch files (inotify): %s", strerror(errno));
	while (!s->shutdown || s->nevents)
		if (loop_once(&s->loop, shim_io_tick(s)) < 0 && errno != EINTR)
			break;
	unlink(socket_path);
	pr_info("shut down");
	return 0;
}
