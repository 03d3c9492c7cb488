/* Logging: one line per message, prefixed with the VM name and pid. */
#include "util/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char log_name[80];
static enum hf_log_level max_level = HF_LOG_INFO;
static int log_fd = 2;

void log_set_name(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name ? name : "");
}

void log_set_level(enum hf_log_level level)
{
	max_level = level;
}

enum hf_log_level log_level(void)
{
	return max_level;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

int log_get_fd(void)
{
	return log_fd;
}

/* A log that is a file (serve's NAME.log in /run: host RAM) about to pass LOG_FILE_MAX with
 * len more bytes is cut back to nothing but a note, as a console file is: what a guest can
 * make the VMM say again and again (a driver that breaks the virtio rules and resets, fork
 * points past --max-clones) cannot fill the host. A clone shares its parent's file and offset;
 * two processes that cut at once leave two notes. */
static void cut_file(size_t len)
{
	static const char note[] = "[hyperfork: the log reached its cap of 8 MiB; the lines "
				   "before this one were dropped]\n";
	struct stat st;
	if (fstat(log_fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size + len <= LOG_FILE_MAX)
		return;
	if (ftruncate(log_fd, 0) < 0 || lseek(log_fd, 0, SEEK_SET) < 0)
		return;
	ssize_t w = write(log_fd, note, sizeof(note) - 1);
	(void)w;
}

void hf_vlog(enum hf_log_level level, const char *fmt, va_list ap)
{
	static const char *const tags[] = {"error: ", "warning: ", "", "debug: "};
	char line[1024];
	int n;

	if (level > max_level)
		return;
	if (log_name[0])
		n = snprintf(line, sizeof(line), "hyperfork[%s pid %d]: %s", log_name, (int)getpid(),
			     tags[level]);
	else
		n = snprintf(line, sizeof(line), "hyperfork: %s", tags[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	cut_file((size_t)n);
	/* One write per line so concurrent processes do not interleave inside a line. */
	ssize_t w = write(log_fd, line, (size_t)n);
	(void)w;
}

void hf_log(enum hf_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hf_vlog(level, fmt, ap);
	va_end(ap);
}

void logbuf_str(struct log_buf *b, const char *s)
{
	while (s && *s && b->n < sizeof(b->s) - 1)
		b->s[b->n++] = *s++;
}

void logbuf_num(struct log_buf *b, unsigned long long v, unsigned base)
{
	char d[24];
	unsigned i = sizeof(d);
	d[--i] = 0;
	do
		d[--i] = "0123456789abcdef"[v % base];
	while ((v /= base) && i > 0);
	if (base == 16)
		logbuf_str(b, "0x");
	logbuf_str(b, d + i);
}

void log_error_safe(const struct log_buf *b)
{
	struct log_buf line = {.n = 0};
	if (log_name[0]) {
		logbuf_str(&line, "hyperfork[");
		logbuf_str(&line, log_name);
		logbuf_str(&line, " pid ");
		logbuf_num(&line, (unsigned long long)getpid(), 10);
		logbuf_str(&line, "]: error: ");
	} else {
		logbuf_str(&line, "hyperfork: error: ");
	}
	for (unsigned i = 0; i < b->n && line.n < sizeof(line.s) - 1; i++)
		line.s[line.n++] = b->s[i];
	line.s[line.n++] = '\n';
	cut_file(line.n);
	ssize_t w = write(log_fd, line.s, line.n);
	(void)w;
}
