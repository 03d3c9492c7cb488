/* Timing trace points for performance work: with HYPERFORK_TRACE=FILE in the environment,
 * each trace_point() appends "pid name monotonic_ns" to FILE. Off (one branch) otherwise. */
#ifndef HF_TRACE_H
#define HF_TRACE_H

extern int trace_fd; /* -1: off */
void trace_init(void);
void trace_point_slow(const char *name);
static inline void trace_point(const char *name)
{
	if (__builtin_expect(trace_fd >= 0, 0))
		trace_point_slow(name);
}

#endif
