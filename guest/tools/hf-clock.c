/* hf-clock: prints the TSC and CLOCK_MONOTONIC (ns) read back to back, "TSC NS", so a test
 * can check that a clone's kernel clock stayed in step with its TSC across the clone. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

int main(void)
{
	struct timespec ts;
	uint64_t tsc = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	printf("%llu %llu\n", (unsigned long long)tsc,
	       (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
	return 0;
}
