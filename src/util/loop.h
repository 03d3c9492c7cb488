/* A minimal epoll event loop for the VMM's main thread. */
#ifndef HF_LOOP_H
#define HF_LOOP_H

#include <stdint.h>

struct watch;
typedef void (*watch_fn)(struct watch *w, uint32_t events);

struct watch {
	int fd;
	watch_fn fn;
	void *arg;
};

struct loop {
	int epfd;
};

int loop_init(struct loop *l);
/* Watch w->fd for events (EPOLLIN...). The watch must outlive its registration. */
int loop_add(struct loop *l, struct watch *w, uint32_t events);
void loop_del(struct loop *l, struct watch *w);
/* Change the events w is watched for. Returns 0 or -1 (logged). */
int loop_mod(struct loop *l, struct watch *w, uint32_t events);
/* Wait up to timeout_ms (-1: forever) and dispatch one ready watch. Returns 0 or -1. */
int loop_once(struct loop *l, int timeout_ms);
/* Close the loop. In a fork child, only the fd is dropped: the epoll instance is shared
 * with the parent and must not be changed. */
void loop_close(struct loop *l);

#endif
