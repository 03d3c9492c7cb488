/* Admission of new clones (see admit.h). */
#include "util/admit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

uint64_t host_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	if (!f)
		return 0; /* errno says why */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	if (!kb)
		errno = ENODATA;
	return (uint64_t)kb * 1024;
}

enum admission admit_clones(const struct clone_limits *l, unsigned live, unsigned count,
			    uint64_t avail, char *why, size_t whylen)
{
	if (l->max_clones && (live >= l->max_clones || count > l->max_clones - live)) {
		snprintf(why, whylen,
			 "clone limit reached: %u live clone(s) and %u more asked for, over the "
			 "%u allowed (hyperfork run --max-clones)",
			 live, count, l->max_clones);
		return ADMIT_MAX_CLONES;
	}
	if (l->reserve_bytes && avail < l->reserve_bytes) {
		if (avail == 0)
			snprintf(why, whylen,
				 "host memory reserve: the memory available cannot be read "
				 "(/proc/meminfo MemAvailable), so the %llu MiB reserve cannot be kept "
				 "(--reserve-memory 0 turns the check off)",
				 (unsigned long long)(l->reserve_bytes >> 20));
		else
			snprintf(why, whylen,
				 "host memory reserve reached: the host has %llu MiB of memory "
				 "available, below the %llu MiB kept in reserve (--reserve-memory)",
				 (unsigned long long)(avail >> 20),
				 (unsigned long long)(l->reserve_bytes >> 20));
		return ADMIT_MEMORY;
	}
	if (whylen)
		why[0] = 0;
	return ADMIT_OK;
}

enum admission admit_clones_now(const struct clone_limits *l, unsigned live, unsigned count,
				char *why, size_t whylen)
{
	uint64_t avail = l->reserve_bytes ? host_mem_available() : 0;
	int err = errno;
	enum admission a = admit_clones(l, live, count, avail, why, whylen);
	size_t n = strlen(why);
	if (a == ADMIT_MEMORY && !avail && n + 1 < whylen)
		snprintf(why + n, whylen - n, ": %s", strerror(err));
	return a;
}
