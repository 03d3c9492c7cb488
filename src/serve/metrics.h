/* `hyperfork serve`'s Prometheus metrics (GET /metrics): the exposition text of its
 * functions' counters and histograms, which `promtool check metrics` accepts. */
#ifndef HF_SERVE_METRICS_H
#define HF_SERVE_METRICS_H

#include <stddef.h>

struct function;
/* The exposition text of the metrics of the n functions fns (each read under its lock,
 * and from its template), malloc'd into *buf (*len bytes). Returns 0, or -1 when out of
 * memory. */
int serve_metrics(struct function *const *fns, unsigned n, char **buf, size_t *len);

#endif
