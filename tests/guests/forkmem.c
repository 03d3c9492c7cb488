/* Clone memory isolation: write a pattern, fork, then the original and each clone write
 * their own pattern over half of it; each must see only its own writes plus the pre-fork
 * data. --cmdline "MiB" sets the region size (default 16). Prints "forkmem: <role> ok". */
#include "hf.h"

static uint64_t pattern(uint64_t i, uint64_t seed)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull ^ seed;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static void spin_ms(uint64_t ms)
{
	uint64_t khz = hf_tsc_khz() ? hf_tsc_khz() : 2000000;
	uint64_t end = hf_cycles() + ms * khz;
	while (hf_cycles() < end)
		__asm__ volatile("pause");
}

int main(void)
{
	const char *arg = hf_cmdline();
	uint64_t mib = hf_strtou(&arg);
	if (!mib)
		mib = 16;
	uint64_t *mem = hf_heap_start();
	uint64_t n = mib * 1024 * 1024 / 8;
	if ((char *)(mem + n) > (char *)hf_heap_end()) {
		hf_printf("forkmem: %lu MiB does not fit\n", mib);
		return 2;
	}
	for (uint64_t i = 0; i < n; i++)
		mem[i] = pattern(i, 0);

	unsigned id = hf_fork();
	if (id == HF_FORK_FAILED) {
		hf_printf("forkmem: fork failed\n");
		return 3;
	}
	uint64_t seed = 1000 + id;
	/* Every side rewrites the second half with its own seed, waits for the others to do
	 * the same, then checks that nobody else's writes reached it. */
	for (uint64_t i = n / 2; i < n; i++)
		mem[i] = pattern(i, seed);
	spin_ms(300);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t want = pattern(i, i < n / 2 ? 0 : seed);
		if (mem[i] != want) {
			hf_printf("forkmem: %s %u: word %lu is %lx, expected %lx\n",
				  id ? "clone" : "original", id, i, mem[i], want);
			return 1;
		}
	}
	if (id)
		hf_printf("forkmem: clone %u ok\n", id);
	else
		hf_printf("forkmem: original ok\n");
	return 0;
}
