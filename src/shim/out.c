/* What the serving shim sends: its answers on containerd's connections, and the task
 * events, published in order by running containerd's publish binary once per event. Used
 * by the loop (serve.c) and the Task service (task.c); it calls neither. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim/internal.h"
#include "util/log.h"
#include "util/util.h"

#include "google/protobuf/any.pb-c.h"

#define SEND_TIMEOUT_MS 5000
#define EVENTS_MAX 4096 /* events queued at most (containerd not taking them: dropped, logged) */

/* ---- events ----------------------------------------------------------------------------- */

static void publish_next(struct shim *s);

static void on_publisher_exit(struct watch *w, uint32_t events)
{
	struct shim *s = w->arg;
	(void)events;
	int status = 0;
	if (waitpid(s->publisher, &status, 0) == s->publisher &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		pr_warn("publishing %s failed (%s status %d)", s->events[0].topic,
			s->o->publish_binary, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	loop_del(&s->loop, &s->publisher_w);
	close(s->publisher_fd);
	s->publisher_fd = -1;
	s->publisher = 0;
	free(s->events[0].any);
	memmove(s->events, s->events + 1, (s->nevents - 1) * sizeof(s->events[0]));
	s->nevents--;
	publish_next(s);
}

/* Run `PUBLISH_BINARY --address ADDRESS publish --topic TOPIC --namespace NS` with the
 * first queued event's Any on its stdin, as containerd's shims do. */
static void publish_next(struct shim *s)
{
	while (s->nevents && !s->publisher) {
		struct shim_event *e = &s->events[0];
		int in[2];
		if (pipe2(in, O_CLOEXEC) < 0) {
			pr_err("cannot publish %s: pipe: %s", e->topic, strerror(errno));
			return;
		}
		const char *argv[] = {s->o->publish_binary, "--address", s->o->address, "publish",
				      "--topic", e->topic, "--namespace", s->o->ns, NULL};
		pid_t pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(in[0], 0);
			if (null >= 0)
				dup2(null, 1);
			execv(argv[0], (char *const *)argv);
			_exit(127);
		}
		close(in[0]);
		/* (An event is far below a pipe's buffer: the write does not block.) */
		if (pid > 0)
			write_all(in[1], e->any, e->len);
		close(in[1]);
		int pfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
		if (pfd < 0) {
			pr_err("cannot publish %s: %s", e->topic, strerror(errno));
			if (pid > 0)
				waitpid(pid, NULL, 0);
			free(e->any);
			memmove(s->events, s->events + 1, (s->nevents - 1) * sizeof(s->events[0]));
			s->nevents--;
			continue;
		}
		s->publisher = pid;
		s->publisher_fd = pfd;
		s->publisher_w = (struct watch){.fd = pfd, .fn = on_publisher_exit, .arg = s};
		loop_add(&s->loop, &s->publisher_w, EPOLLIN);
	}
}

void shim_publish(struct shim *s, const char *topic, const char *type, const ProtobufCMessage *msg)
{
	if (!s->o->publish_binary || !s->o->publish_binary[0])
		return;
	if (s->nevents >= EVENTS_MAX) {
		pr_err("event %s dropped: %zu events not yet published", topic, s->nevents);
		return;
	}
	if (s->nevents == s->events_cap) {
		size_t cap = s->events_cap ? 2 * s->events_cap : 16;
		struct shim_event *n = realloc(s->events, cap * sizeof(*n));
		if (!n) {
			pr_err("event %s dropped: no memory", topic);
			return;
		}
		s->events = n;
		s->events_cap = cap;
	}
	char url[128];
	snprintf(url, sizeof(url), "containerd.events.%s", type);
	size_t vlen = protobuf_c_message_get_packed_size(msg);
	uint8_t *value = malloc(vlen ? vlen : 1);
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = url;
	any.value.data = value;
	any.value.len = value ? protobuf_c_message_pack(msg, value) : 0;
	size_t len = protobuf_c_message_get_packed_size(&any.base);
	uint8_t *packed = value ? malloc(len ? len : 1) : NULL;
	if (!packed) {
		free(value);
		pr_err("event %s dropped: no memory", topic);
		return;
	}
	protobuf_c_message_pack(&any.base, packed);
	free(value);
	struct shim_event *e = &s->events[s->nevents++];
	snprintf(e->topic, sizeof(e->topic), "%s", topic);
	e->any = packed;
	e->len = len;
	publish_next(s);
}

void shim_send(struct shim_conn *c, const uint8_t *frame, size_t len)
{
	uint64_t deadline = now_ns() + (uint64_t)SEND_TIMEOUT_MS * 1000000;
	while (len && c->used) {
		ssize_t n = send(c->w.fd, frame, len, MSG_NOSIGNAL);
		if (n > 0) {
			frame += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN && now_ns() < deadline) {
			struct pollfd p = {.fd = c->w.fd, .events = POLLOUT};
			poll(&p, 1, 100);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			pr_warn("cannot answer containerd: %s", n < 0 ? strerror(errno) : "timed out");
			return;
		}
	}
}

