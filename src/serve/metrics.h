/* `hyperfork serve`'s Prometheus metrics (GET /metrics): the histograms the functions keep
 * and the exposition text, which `promtool check metrics` accepts. */
#ifndef HF_SERVE_METRICS_H
#define HF_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define HIST_NBUCKETS 16 /* 0.5 ms .. 60 s, then +Inf */

/* A latency histogram (guarded by its owner's lock). */
struct histogram {
	uint64_t bucket[HIST_NBUCKETS]; /* observations <= the bucket's bound (not cumulative) */
	uint64_t count;
	uint64_t sum_ns;
};

void hist_observe(struct histogram *h, uint64_t ns);

struct serve;
/* The exposition text of every function's metrics, malloc'd into *buf (*len bytes).
 * Returns 0, or -1 when out of memory. */
int serve_metrics(struct serve *s, char **buf, size_t *len);

#endif
