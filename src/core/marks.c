/* The marks log (see marks.h). */
#include "core/marks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"

struct marks {
	int fd;
	const char *name;
};

struct marks *marks_open(const char *path, const char *name)
{
	struct marks *m = calloc(1, sizeof(*m));
	if (!m) {
		pr_err("out of memory");
		return NULL;
	}
	m->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (m->fd < 0) {
		pr_err("cannot open marks file %s: %s", path, strerror(errno));
		free(m);
		return NULL;
	}
	m->name = name;
	return m;
}

void marks_record(struct marks *m, uint32_t tag)
{
	if (m)
		marks_record_at(m, tag, now_ns(), m->name);
}

void marks_record_at(struct marks *m, uint32_t tag, uint64_t ns, const char *name)
{
	char line[160];
	if (!m)
		return;
	int n = snprintf(line, sizeof(line), "%u %llu %s\n", tag, (unsigned long long)ns, name);
	ssize_t w = write(m->fd, line, (size_t)n);
	(void)w;
}

void marks_close(struct marks *m)
{
	if (!m)
		return;
	close(m->fd);
	free(m);
}
