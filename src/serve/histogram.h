/* A latency histogram of `hyperfork serve` (a function's invocation durations and its VMs'
 * activations), in the buckets its Prometheus metrics expose (metrics.c). */
#ifndef HF_SERVE_HISTOGRAM_H
#define HF_SERVE_HISTOGRAM_H

#include <stdint.h>

#define HIST_NBUCKETS 16 /* 0.5 ms .. 60 s, then +Inf */

/* The buckets' upper bounds, in seconds, from the lowest. */
extern const double hist_bounds[HIST_NBUCKETS];

/* A latency histogram (guarded by its owner's lock). */
struct histogram {
	uint64_t bucket[HIST_NBUCKETS]; /* observations <= the bucket's bound (not cumulative) */
	uint64_t count;
	uint64_t sum_ns;
};

/* Count one observation of ns nanoseconds in h. */
void hist_observe(struct histogram *h, uint64_t ns);

#endif
