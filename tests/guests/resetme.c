/* Reset, seen from inside (tests/integration/test_reset.sh). --cmdline "PAGES" (or "all":
 * every page of free RAM): before its fork point the guest fills the first PAGES pages of
 * its heap with a pattern, keeps their sum, a counter (0) and a value in SSE register xmm15.
 * Then, as each clone, and again after each reset (a reset runs it from its fork point):
 *   resetme: clone ID state template|CHANGED counter C xmm15 X rand R
 * "template" if the counter, the pages' sum and xmm15 are as the template left them; R is
 * 16 fresh bytes from the host. Then it changes all of that (a new pattern over the pages,
 * the counter, xmm15), prints "resetme: dirtied ID PAGES", and sleeps, a second at a time,
 * until it is reset or stopped. */
#include "hf.h"

#define XMM_TEMPLATE 0x5e5e7e7e12345678ull

static uint64_t counter, template_sum;

static uint64_t sum(volatile uint64_t *p, uint64_t pages)
{
	uint64_t s = 0;
	for (uint64_t i = 0; i < pages * 512; i += 64) /* every 512th byte: one line per page */
		s += p[i] * (i + 1);
	return s;
}

static void fill(volatile uint64_t *p, uint64_t pages, uint64_t seed)
{
	for (uint64_t i = 0; i < pages * 512; i++)
		p[i] = seed ^ (i * 0x9e3779b97f4a7c15ull);
}

static void set_xmm15(uint64_t v)
{
	__asm__ volatile("movq %0, %%xmm15" : : "r"(v) : "xmm15");
}

static uint64_t get_xmm15(void)
{
	uint64_t v;
	__asm__ volatile("movq %%xmm15, %0" : "=r"(v));
	return v;
}

int main(void)
{
	const char *arg = hf_cmdline();
	volatile uint64_t *heap = hf_heap_start();
	uint64_t room = ((char *)hf_heap_end() - (char *)hf_heap_start()) / 4096;
	uint64_t pages = hf_strncmp(arg, "all", 3) ? hf_strtou(&arg) : room;
	if (!pages || pages > room) {
		hf_printf("resetme: %lu pages do not fit (at most %lu)\n", pages, room);
		return 2;
	}
	fill(heap, pages, 0x7e7e7e7e);
	template_sum = sum(heap, pages);
	set_xmm15(XMM_TEMPLATE);
	hf_printf("resetme: template ready, %lu pages\n", pages);
	unsigned id = hf_fork();
	if (id == HF_FORK_FAILED) {
		hf_printf("resetme: fork failed\n");
		return 3;
	}
	uint64_t x = get_xmm15();
	int same = counter == 0 && sum(heap, pages) == template_sum && x == XMM_TEMPLATE;
	uint64_t r[2];
	hf_random(r, sizeof(r));
	hf_printf("resetme: clone %u state %s counter %lu xmm15 %lx rand %016lx%016lx\n", id,
		  same ? "template" : "CHANGED", counter, x, r[0], r[1]);
	fill(heap, pages, r[0]);
	counter++;
	set_xmm15(r[1]);
	hf_printf("resetme: dirtied %u %lu\n", id, pages);
	for (;;)
		hf_sleep_us(1000000);
}
