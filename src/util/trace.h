/* Trace points for performance work and tests. With HYPERFORK_TRACE=FILE in the
 * environment, each trace_point() appends "pid name monotonic_ns" to FILE. With
 * HYPERFORK_TEST_KILL_AT=NAME (tests only), the process that reaches trace point NAME kills
 * itself there with SIGKILL (e.g. fork-answer: a parent killed between making clones and
 * answering for them). Off (one branch) otherwise. */
#ifndef HF_TRACE_H
#define HF_TRACE_H

extern int trace_on; /* 0: off */
/* Read the environment (once, at start). */
void trace_init(void);
void trace_point_slow(const char *name);
static inline void trace_point(const char *name)
{
	if (__builtin_expect(trace_on, 0))
		trace_point_slow(name);
}

#endif
