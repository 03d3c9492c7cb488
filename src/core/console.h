/* The VM console: where guest output goes (stdio, a file, a pty, or nowhere) and where
 * guest input comes from. Shared by the serial port and the hypercall console. The first
 * guest output after the console is opened is a mark (core/marks.h), if the VM keeps a
 * marks log. */
#ifndef HF_CONSOLE_H
#define HF_CONSOLE_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum console_kind { CONSOLE_NONE, CONSOLE_STDIO, CONSOLE_FILE, CONSOLE_PTY };

struct marks;

struct console {
	struct marks *marks; /* HF_MARK_FIRST_OUTPUT goes here (NULL: none); kept across
	                        console_open and console_defer */
	int output_marked;   /* the first output since the console was opened is marked */
	enum console_kind kind;
	int out_fd; /* -1: discard */
	int in_fd;  /* -1: no input */
	char path[PATH_MAX]; /* file path, or pty slave path */
	int unbuffered;      /* write through (interactive sinks) */
	int deferred;        /* not open yet: output waits in pending (console_defer) */
	uint64_t file_bytes; /* CONSOLE_FILE: written since it was opened or last cut */
	uint8_t *pending;
	size_t pending_len;
	pthread_mutex_t lock;
	size_t len;
	uint8_t buf[1024]; /* output is flushed at each newline and when full */
};

/* Parse a console spec: "stdio", "none", "pty", "file" (only if auto_path is given: the
 * file is auto_path) or a file path. Returns 0 or -1. */
int console_parse(const char *spec, enum console_kind *kind, const char **path);
/* Open the console. For CONSOLE_FILE, path is created/truncated. Returns 0 or -1 (logged).
 * What c held before (but marks) is forgotten, not closed. */
int console_open(struct console *c, enum console_kind kind, const char *path);
/* Like console_open, but the sink is opened later by console_attach; output meanwhile is
 * kept (up to CONSOLE_PENDING_MAX bytes). A clone's first instruction need not wait for
 * its console file to be created. */
#define CONSOLE_PENDING_MAX (64 * 1024)
void console_defer(struct console *c, enum console_kind kind, const char *path);
/* Open a deferred console and write what was kept. Returns 0 or -1 (logged). */
int console_attach(struct console *c);
/* A console file is cut back to nothing once it would pass this, and says so on its first
 * line: a guest that prints without end takes no more of the host (a run directory in /run
 * is RAM), and what a reader takes the tail of stays the newest output. */
#define CONSOLE_FILE_MAX (8u << 20)
/* Guest output (any thread). */
void console_write(struct console *c, const void *data, size_t len);
void console_flush(struct console *c);
void console_close(struct console *c);
const char *console_kind_name(enum console_kind k);

#endif
