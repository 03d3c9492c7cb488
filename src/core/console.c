/* The VM console: where guest output goes (stdio, a file, a pty, or nowhere) and where
 * guest input comes from. Shared by the serial port and the hypercall console. */
#include "core/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/marks.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/util.h"

int console_parse(const char *spec, enum console_kind *kind, const char **path)
{
	*path = NULL;
	if (!spec || !*spec)
		return -1;
	if (!strcmp(spec, "stdio"))
		*kind = CONSOLE_STDIO;
	else if (!strcmp(spec, "none"))
		*kind = CONSOLE_NONE;
	else if (!strcmp(spec, "pty"))
		*kind = CONSOLE_PTY;
	else if (!strcmp(spec, "file"))
		*kind = CONSOLE_FILE; /* caller supplies the path */
	else {
		*kind = CONSOLE_FILE;
		*path = spec;
	}
	return 0;
}

const char *console_kind_name(enum console_kind k)
{
	switch (k) {
	case CONSOLE_STDIO: return "stdio";
	case CONSOLE_FILE: return "file";
	case CONSOLE_PTY: return "pty";
	default: return "none";
	}
}

/* Open the sink for kind; c->lock initialised, fds -1. */
static int open_sink(struct console *c, enum console_kind kind, const char *path)
{
	c->kind = kind;
	switch (kind) {
	case CONSOLE_NONE:
		break;
	case CONSOLE_STDIO:
		c->out_fd = STDOUT_FILENO;
		c->in_fd = isatty(STDIN_FILENO) ? STDIN_FILENO : -1;
		c->unbuffered = isatty(STDOUT_FILENO);
		break;
	case CONSOLE_FILE:
		/* (never through a link: a jailed VM's is opened before it drops root, in a
		 * directory its user may write) */
		c->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (c->out_fd < 0) {
			pr_err("cannot open console file %s: %s", path, strerror(errno));
			return -1;
		}
		snprintf(c->path, sizeof(c->path), "%s", path);
		break;
	case CONSOLE_PTY: {
		int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || !ptsname(m)) {
			pr_err("cannot create a pty for the console: %s", strerror(errno));
			if (m >= 0)
				close(m);
			return -1;
		}
		snprintf(c->path, sizeof(c->path), "%s", ptsname(m));
		c->out_fd = c->in_fd = m;
		c->unbuffered = 1;
		break;
	}
	}
	return 0;
}

/* A console with nothing open, keeping its marks log. */
static void reset(struct console *c)
{
	struct marks *m = c->marks;
	memset(c, 0, sizeof(*c));
	c->marks = m;
	pthread_mutex_init(&c->lock, NULL);
	c->out_fd = c->in_fd = -1;
}

int console_open(struct console *c, enum console_kind kind, const char *path)
{
	reset(c);
	return open_sink(c, kind, path);
}

void console_defer(struct console *c, enum console_kind kind, const char *path)
{
	reset(c);
	c->kind = kind;
	c->deferred = 1;
	snprintf(c->path, sizeof(c->path), "%s", path ? path : "");
}

int console_attach(struct console *c)
{
	char path[PATH_MAX];
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (c->deferred) {
		snprintf(path, sizeof(path), "%s", c->path);
		r = open_sink(c, c->kind, path);
		c->deferred = 0;
		if (r == 0 && c->pending_len && c->out_fd >= 0) {
			if (write_all(c->out_fd, c->pending, c->pending_len) < 0)
				pr_debug("console write: %s", strerror(errno));
			c->file_bytes = c->pending_len;
		}
		free(c->pending);
		c->pending = NULL;
		c->pending_len = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* A console file about to pass CONSOLE_FILE_MAX with len more bytes: cut it. */
static void cut_file(struct console *c, size_t len)
{
	if (c->kind != CONSOLE_FILE || c->file_bytes + len <= CONSOLE_FILE_MAX)
		return;
	static const char note[] = "[hyperfork: the console reached its cap of 8 MiB; the output "
				   "before this line was dropped]\n";
	if (ftruncate(c->out_fd, 0) < 0 || lseek(c->out_fd, 0, SEEK_SET) < 0) {
		pr_debug("console file: cannot cut it: %s", strerror(errno));
		return;
	}
	c->file_bytes = 0;
	if (write_all(c->out_fd, note, sizeof(note) - 1) == 0)
		c->file_bytes = sizeof(note) - 1;
}

static void flush_locked(struct console *c)
{
	if (c->len && c->out_fd >= 0) {
		cut_file(c, c->len);
		c->file_bytes += c->len;
		if (c->kind == CONSOLE_PTY) {
			/* Non-blocking: with nobody on the other side the output is dropped
			 * rather than stalling the guest. */
			ssize_t w = write(c->out_fd, c->buf, c->len);
			(void)w;
		} else if (write_all(c->out_fd, c->buf, c->len) < 0 && errno != EPIPE) {
			pr_debug("console write: %s", strerror(errno));
		}
	}
	c->len = 0;
}

void console_write(struct console *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (c->marks && !__atomic_exchange_n(&c->output_marked, 1, __ATOMIC_RELAXED))
		marks_record(c->marks, HF_MARK_FIRST_OUTPUT);
	if (c->deferred) {
		pthread_mutex_lock(&c->lock);
		if (c->deferred && c->kind != CONSOLE_NONE) {
			if (!c->pending)
				c->pending = malloc(CONSOLE_PENDING_MAX);
			size_t room = c->pending ? CONSOLE_PENDING_MAX - c->pending_len : 0;
			size_t n = len < room ? len : room;
			if (n) {
				memcpy(c->pending + c->pending_len, data, n);
				c->pending_len += n;
			}
			pthread_mutex_unlock(&c->lock);
			return;
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (c->out_fd < 0)
		return;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < len; i++) {
		c->buf[c->len++] = p[i];
		if (p[i] == '\n' || c->len == sizeof(c->buf))
			flush_locked(c);
	}
	if (c->unbuffered)
		flush_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void console_flush(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	flush_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void console_close(struct console *c)
{
	console_flush(c);
	free(c->pending);
	c->pending = NULL;
	c->deferred = 0;
	if (c->kind == CONSOLE_FILE && c->out_fd >= 0)
		close(c->out_fd);
	if (c->kind == CONSOLE_PTY && c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = c->in_fd = -1;
}
