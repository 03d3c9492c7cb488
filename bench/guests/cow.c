/* Copy-on-write cost (the paper's Figure 3). --cmdline "MB [nofork]": writes 128 bytes of
 * pseudo-random data into every 4 KiB page of an MB-MiB region twice (a faulting first
 * pass, then a non-faulting one), reaches the fork point, and then the original and each
 * clone rewrite every page twice more (first pass faulting on copy-on-write, second not).
 * Each pass is timed and its data verified. With "nofork" the same passes run without
 * the fork point. Prints "cow: ROLE MB mb first_ms A rewrite_ms B after_ms C again_ms D
 * fork_us F ok" (A, B before the fork point; C, D after it; F the time across the fork
 * point, i.e. for a clone its start latency). */
#include "hf.h"

#define PAGE 4096
#define BYTES 128

static uint64_t rnd(uint64_t page, uint64_t pass, uint64_t word)
{
	uint64_t x = (page * 0x9e3779b97f4a7c15ull) ^ (pass << 56) ^ (word * 0xbf58476d1ce4e5b9ull);
	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 29);
}

static void pass_write(uint8_t *mem, uint64_t pages, uint64_t pass)
{
	for (uint64_t p = 0; p < pages; p++) {
		uint64_t *w = (uint64_t *)(mem + p * PAGE);
		for (uint64_t i = 0; i < BYTES / 8; i++)
			w[i] = rnd(p, pass, i);
	}
}

static int pass_check(const uint8_t *mem, uint64_t pages, uint64_t pass)
{
	for (uint64_t p = 0; p < pages; p++) {
		const uint64_t *w = (const uint64_t *)(mem + p * PAGE);
		for (uint64_t i = 0; i < BYTES / 8; i++)
			if (w[i] != rnd(p, pass, i))
				return -1;
	}
	return 0;
}

/* Write pass `pass`, verify it, return the write time in microseconds (0 on a bad check). */
static uint64_t timed(uint8_t *mem, uint64_t pages, uint64_t pass)
{
	uint64_t t0 = hf_cycles();
	pass_write(mem, pages, pass);
	uint64_t us = hf_ns(hf_cycles() - t0) / 1000;
	return pass_check(mem, pages, pass) == 0 ? (us ? us : 1) : 0;
}

int main(void)
{
	const char *arg = hf_cmdline();
	uint64_t mb = hf_strtou(&arg);
	int nofork = !hf_strncmp(arg, " nofork", 7);
	uint8_t *mem = (uint8_t *)(((uint64_t)hf_heap_start() + PAGE - 1) & ~(uint64_t)(PAGE - 1));
	uint64_t pages = mb * 1024 * 1024 / PAGE;
	if (!mb || mem + pages * PAGE > (uint8_t *)hf_heap_end()) {
		hf_printf("cow: %lu MiB does not fit\n", mb);
		return 2;
	}
	uint64_t first = timed(mem, pages, 1), rewrite = timed(mem, pages, 2);
	unsigned id = 0;
	uint64_t start_us = 0;
	if (!nofork) {
		uint64_t t0 = hf_cycles();
		id = hf_fork();
		start_us = hf_ns(hf_cycles() - t0) / 1000;
		if (id == HF_FORK_FAILED)
			return 3;
	}
	/* Each side writes its own data: a clone must not see the original's and back. */
	uint64_t after = timed(mem, pages, 10 + id), again = timed(mem, pages, 100 + id);
	int ok = first && rewrite && after && again;
	hf_printf("cow: %s %lu mb %lu first_ms %lu.%03lu rewrite_ms %lu.%03lu after_ms %lu.%03lu "
		  "again_ms %lu.%03lu fork_us %lu %s\n",
		  nofork ? "nofork" : id ? "clone" : "original", mb, mb, first / 1000, first % 1000,
		  rewrite / 1000, rewrite % 1000, after / 1000, after % 1000, again / 1000,
		  again % 1000, start_us, ok ? "ok" : "BAD-DATA");
	return ok ? 0 : 1;
}
