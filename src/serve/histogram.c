/* A latency histogram of `hyperfork serve` (see histogram.h). */
#include "serve/histogram.h"

const double hist_bounds[HIST_NBUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
					   0.05,   0.1,   0.2,   0.5,   1,    2,
					   5,      10,    30,    60};

void hist_observe(struct histogram *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	unsigned i = 0;
	while (i < HIST_NBUCKETS && s > hist_bounds[i])
		i++;
	if (i < HIST_NBUCKETS)
		h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}
