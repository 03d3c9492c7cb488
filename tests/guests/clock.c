/* Guest time across a clone: the TSC read just after the fork point must be later than
 * the one read just before it, in the original and in every clone, and keep rising.
 * Prints "clock: <role> <id> ok fork took <ns> ns". */
#include "hf.h"

int main(void)
{
	uint64_t before = hf_cycles();
	unsigned id = hf_fork();
	uint64_t after = hf_cycles();
	const char *role = id ? "clone" : "original";

	if (id == HF_FORK_FAILED)
		return 3;
	if (after <= before) {
		hf_printf("clock: %s %u: TSC went back from %lu to %lu\n", role, id, before, after);
		return 1;
	}
	uint64_t prev = after;
	for (int i = 0; i < 100000; i++) {
		uint64_t now = hf_cycles();
		if (now < prev) {
			hf_printf("clock: %s %u: TSC went back from %lu to %lu\n", role, id, prev, now);
			return 1;
		}
		prev = now;
	}
	uint64_t ns = hf_ns(after - before);
	if (ns > 60ull * 1000000000ull) {
		hf_printf("clock: %s %u: %lu ns passed across the fork point\n", role, id, ns);
		return 1;
	}
	hf_printf("clock: %s %u ok fork took %lu ns\n", role, id, ns);
	return 0;
}
