/* Trace points for performance work and tests (see trace.h). */
#include "util/trace.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

int trace_on;
static int trace_fd = -1;
static const char *kill_at;

void trace_init(void)
{
	const char *path = getenv("HYPERFORK_TRACE");
	if (path && *path)
		trace_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	kill_at = getenv("HYPERFORK_TEST_KILL_AT");
	if (kill_at && !*kill_at)
		kill_at = NULL;
	trace_on = trace_fd >= 0 || kill_at;
}

void trace_point_slow(const char *name)
{
	if (kill_at && !strcmp(name, kill_at))
		raise(SIGKILL);
	if (trace_fd < 0)
		return;
	char line[128];
	int n = snprintf(line, sizeof(line), "%d %s %llu\n", (int)getpid(), name,
			 (unsigned long long)now_ns());
	if (n > 0 && write(trace_fd, line, (size_t)n) < 0)
		trace_fd = -1;
}
