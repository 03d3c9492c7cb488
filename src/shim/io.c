/* A task's output: its VM writes its console to a file in the run directory (a clone's
 * RUN_DIR/NAME.console, a booted VM's the same, by --console), and the serving shim pumps
 * what the file gains into containerd's stdout fifo, woken by inotify. The shim never
 * blocks on the fifo: it is non-blocking, and while containerd's side does not read, the
 * rest waits in the file (which the VMM cuts at its cap) and the shim serves on. A task
 * that ended keeps its fifo until what it wrote is out (or until it is deleted); then the
 * fifo is closed, and containerd's copy sees the end. Its end is reported (task_io_end's
 * done) once its output is out, since containerd's client cancels the copy when it deletes
 * the task it saw end, or once its reader took nothing for DRAIN_MS. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/internal.h"
#include "util/log.h"
#include "util/util.h"

#define CHUNK 65536
#define DRAIN_MS 5000

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* containerd's fifo at path, non-blocking: stdout (the shim's) or stderr (handed to a
 * booted VMM for its log: a line the fifo cannot take while containerd's side does not read
 * is dropped, where a blocking write would stop the VMM's thread that logs, a vCPU's among
 * them); -1 if none is given or it cannot be opened (logged). O_RDWR: opening never blocks,
 * whether or not containerd's reader is there yet. */
static int open_fifo(const char *path)
{
	if (!path[0])
		return -1;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		pr_warn("cannot open %s: %s", path, strerror(errno));
	return fd;
}

void task_io_open(struct shim_task *t)
{
	t->out_fd = open_fifo(t->stdout_path);
	t->err_fd = open_fifo(t->stderr_path);
	t->console_fd = t->console_wd = -1;
}

static void out_watch(struct shim_task *t, bool on)
{
	if (on == t->out_w_on)
		return;
	if (on) {
		t->out_w = (struct watch){.fd = t->out_fd, .fn = task_io_writable, .arg = t};
		on = loop_add(&t->shim->loop, &t->out_w, EPOLLOUT) == 0;
	} else {
		loop_del(&t->shim->loop, &t->out_w);
	}
	t->out_w_on = on;
}

static void close_out(struct shim_task *t)
{
	out_watch(t, false);
	close_fd(&t->out_fd);
	free(t->pend);
	t->pend = NULL;
	t->pend_len = t->pend_off = 0;
}

/* Write p[0..len) to the fifo as far as it takes it; keep the rest pending (its EPOLLOUT
 * then watched). Returns true if all of it is out, false if some waits or the fifo is gone
 * (the output from here on dropped, logged). */
static bool put(struct shim_task *t, const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(t->out_fd, p + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			t->progress_ns = now_ns();
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			uint8_t *rest = malloc(len - off);
			if (!rest) {
				pr_err("task %s: no memory for its output: %zu bytes dropped", t->id,
				       len - off);
				return true;
			}
			memcpy(rest, p + off, len - off);
			t->pend = rest;
			t->pend_len = len - off;
			t->pend_off = 0;
			out_watch(t, true);
			return false;
		} else {
			pr_warn("task %s: stdout: %s: its output from here on is dropped", t->id,
				n < 0 ? strerror(errno) : "nothing written");
			close_out(t);
			return false;
		}
	}
	return true;
}

/* What waited for the fifo: out? */
static bool flush_pending(struct shim_task *t)
{
	if (!t->pend)
		return true;
	uint8_t *p = t->pend;
	size_t off = t->pend_off, len = t->pend_len;
	t->pend = NULL;
	t->pend_len = t->pend_off = 0;
	bool done = put(t, p + off, len - off);
	free(p);
	if (done)
		out_watch(t, false);
	return done;
}

/* Open the console file once the VM has made it, and watch it grow. */
static void open_console(struct shim_task *t)
{
	if (t->console_fd >= 0 || !t->console_path[0])
		return;
	t->console_fd = open(t->console_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (t->console_fd < 0) {
		if (errno != ENOENT)
			pr_warn("task %s: cannot open the console of %s, %s: %s", t->id,
				t->vm_name, t->console_path, strerror(errno));
		return;
	}
	t->console_wd = inotify_add_watch(t->shim->inotify_fd, t->console_path, IN_MODIFY);
	if (t->console_wd < 0)
		pr_warn("task %s: cannot watch %s: %s (its output comes once it ends)", t->id,
			t->console_path, strerror(errno));
}

/* The next chunk of the console file, from where this stopped, into buf: its length, 0 at
 * the end of the file for now. */
static size_t read_console(struct shim_task *t, uint8_t *buf, size_t cap)
{
	struct stat st;
	off_t at = lseek(t->console_fd, 0, SEEK_CUR);
	if (fstat(t->console_fd, &st) == 0 && at > st.st_size)
		lseek(t->console_fd, 0, SEEK_SET); /* the VMM cut it at its cap: from the start */
	ssize_t n = read(t->console_fd, buf, cap);
	return n > 0 ? (size_t)n : 0;
}

/* The ended task's output is out (or given up on): report its end, once. */
static void report_end(struct shim_task *t)
{
	void (*done)(struct shim_task *) = t->io_done;
	t->io_done = NULL;
	if (done)
		done(t);
}

void task_io_follow(struct shim_task *t)
{
	static uint8_t chunk[CHUNK];
	bool at_end = false;
	open_console(t);
	while (t->out_fd >= 0 && flush_pending(t)) {
		size_t n = t->console_fd >= 0 ? read_console(t, chunk, sizeof(chunk)) : 0;
		if (!n) {
			at_end = true;
			break;
		}
		if (!put(t, chunk, n))
			break;
	}
	if (t->draining && (at_end || t->out_fd < 0)) {
		close_out(t); /* all out: containerd's copy sees the end */
		t->draining = false;
		report_end(t);
	}
}

void task_io_writable(struct watch *w, uint32_t events)
{
	(void)events;
	task_io_follow(w->arg);
}

/* The console file no longer followed as it grows, the VMM's log fifo closed. */
static void unwatch(struct shim_task *t)
{
	if (t->console_wd >= 0)
		inotify_rm_watch(t->shim->inotify_fd, t->console_wd);
	t->console_wd = -1;
	close_fd(&t->err_fd);
}

void task_io_end(struct shim_task *t, void (*done)(struct shim_task *t))
{
	unwatch(t);
	t->draining = true;
	t->io_done = done;
	t->progress_ns = now_ns();
	task_io_follow(t); /* what it wrote last */
	if (t->draining)
		pr_info("task %s: ended; its end is reported once its output is out", t->id);
}

void task_io_close(struct shim_task *t)
{
	unwatch(t);
	close_out(t);
	t->draining = false;
	report_end(t);
	close_fd(&t->console_fd);
}

static void on_inotify(struct watch *w, uint32_t events)
{
	struct shim *s = w->arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	(void)events;
	ssize_t n;
	while ((n = read(w->fd, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			for (unsigned i = 0; i < SHIM_TASKS_MAX; i++) /* (overflowed: every one) */
				if (s->tasks[i].used && (s->tasks[i].console_wd == e->wd ||
							 (e->mask & IN_Q_OVERFLOW)))
					task_io_follow(&s->tasks[i]);
			p += sizeof(*e) + e->len;
		}
}

int shim_io_init(struct shim *s)
{
	s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inotify_fd < 0)
		return -1;
	s->inotify_w = (struct watch){.fd = s->inotify_fd, .fn = on_inotify, .arg = s};
	return loop_add(&s->loop, &s->inotify_w, EPOLLIN);
}

int shim_io_tick(struct shim *s)
{
	bool waiting = false;
	uint64_t now = now_ns();
	for (unsigned i = 0; i < SHIM_TASKS_MAX; i++) {
		struct shim_task *t = &s->tasks[i];
		if (!t->used)
			continue;
		if (t->console_fd < 0 && t->console_path[0] && t->state != TASK_STOPPED) {
			task_io_follow(t); /* its VM has not made its console file yet */
			waiting |= t->console_fd < 0;
		}
		if (t->io_done && now - t->progress_ns > DRAIN_MS * 1000000ull) {
			pr_warn("task %s: its output has not been read for %d s: its end is reported "
				"now, and the rest of its output waits until the task is deleted",
				t->id, DRAIN_MS / 1000);
			report_end(t);
		}
	}
	return waiting ? SHIM_FOLLOW_MS : 1000;
}
