/* Multi-vCPU computation: every vCPU hashes its share of a range; vCPU 0 checks the
 * combined result against its own serial computation. With --cmdline "fork", vCPU 0 forks
 * the VM while the others are half-way through: original and clone must both finish with
 * the right result. Prints "smp: <role> ok N cpus result R". */
#include "hf.h"

#define ITEMS (1u << 22)
#define MAX_CPUS 64

static volatile uint64_t partial[MAX_CPUS];
static volatile unsigned done_count;
static volatile uint64_t progress[MAX_CPUS];

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ull;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dull;
	return x ^ (x >> 33);
}

static uint64_t work(unsigned cpu, unsigned ncpus, int record)
{
	uint64_t sum = 0;
	for (uint64_t i = cpu; i < ITEMS; i += ncpus) {
		sum += mix(i);
		if (record && (i & 0xfff) == cpu)
			progress[cpu] = i;
	}
	return sum;
}

void hf_secondary(unsigned cpu)
{
	partial[cpu] = work(cpu, hf_ncpus(), 1);
	__atomic_add_fetch(&done_count, 1, __ATOMIC_SEQ_CST);
	hf_halt();
}

int main(void)
{
	unsigned n = hf_ncpus();
	unsigned id = 0;
	if (n > MAX_CPUS)
		return 2;
	if (!hf_strncmp(hf_cmdline(), "fork", 4) && n > 1) {
		/* Fork once vCPU 1 is part-way: the others are mid-computation. */
		while (progress[1] < ITEMS / 4)
			__asm__ volatile("pause");
		id = hf_fork();
		if (id == HF_FORK_FAILED)
			return 3;
	}
	partial[0] = work(0, n, 0);
	while (__atomic_load_n(&done_count, __ATOMIC_SEQ_CST) != n - 1)
		__asm__ volatile("pause");
	uint64_t total = 0, expect = 0;
	for (unsigned i = 0; i < n; i++)
		total += partial[i];
	for (uint64_t i = 0; i < ITEMS; i++)
		expect += mix(i);
	if (total != expect) {
		hf_printf("smp: %s %u: result %lx, expected %lx\n", id ? "clone" : "original", id,
			  total, expect);
		return 1;
	}
	if (id)
		hf_printf("smp: clone %u ok %u cpus result %lx\n", id, n, total);
	else
		hf_printf("smp: original ok %u cpus result %lx\n", n, total);
	return 0;
}
