/* Timing trace points for performance work (HYPERFORK_TRACE=FILE). */
#include "util/trace.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/util.h"

int trace_fd = -1;

void trace_init(void)
{
	const char *path = getenv("HYPERFORK_TRACE");
	if (path && *path)
		trace_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void trace_point_slow(const char *name)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%d %s %llu\n", (int)getpid(), name,
			 (unsigned long long)now_ns());
	if (n > 0 && write(trace_fd, line, (size_t)n) < 0)
		trace_fd = -1;
}
