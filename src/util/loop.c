/* A minimal epoll event loop for the VMM's main thread. One event per wait, so a handler
 * may remove any watch (itself included) without invalidating a pending batch. */
#include "util/loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/log.h"

int loop_init(struct loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		pr_err("epoll_create1: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int ctl(struct loop *l, int op, struct watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(l->epfd, op, w->fd, &ev) < 0) {
		pr_err("epoll_ctl(%s, fd %d): %s", op == EPOLL_CTL_ADD ? "ADD" : "MOD", w->fd,
		       strerror(errno));
		return -1;
	}
	return 0;
}

int loop_add(struct loop *l, struct watch *w, uint32_t events)
{
	return ctl(l, EPOLL_CTL_ADD, w, events);
}

void loop_del(struct loop *l, struct watch *w)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int loop_mod(struct loop *l, struct watch *w, uint32_t events)
{
	return ctl(l, EPOLL_CTL_MOD, w, events);
}

int loop_once(struct loop *l, int timeout_ms)
{
	struct epoll_event ev;
	int n = epoll_wait(l->epfd, &ev, 1, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		pr_err("epoll_wait: %s", strerror(errno));
		return -1;
	}
	if (n == 1) {
		struct watch *w = ev.data.ptr;
		w->fn(w, ev.events);
	}
	return 0;
}

void loop_close(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}
