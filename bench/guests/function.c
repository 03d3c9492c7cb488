/* The function benchmark as a bare guest (the paper's Figures 4 and 5). --cmdline:
 *   full       initialize, compute, exit (booted every time)
 *   afterboot  reach the fork point first; each clone initializes and computes
 *   afterinit  initialize, reach the fork point; each clone only computes
 * Prints "function: done ID init_ms I compute_ms C since_request_ms R error E" and exits
 * 0 if the transforms were right. */
#include "hf.h"

#include "../../guest/tools/fn-workload.h"

static uint8_t *heap;

void *fn_alloc(uint64_t bytes)
{
	if (!heap)
		heap = hf_heap_start();
	void *p = heap;
	heap += (bytes + 63) & ~63ull;
	return p;
}

static uint64_t ms(uint64_t cycles)
{
	return hf_ns(cycles) / 1000000;
}

int main(void)
{
	const char *mode = hf_cmdline();
	struct fn_state s;
	unsigned id = 0;
	uint64_t t_init = 0;

	if (!hf_strncmp(mode, "afterboot", 9) && (id = hf_fork()) == HF_FORK_FAILED)
		return 3;
	uint64_t t0 = hf_cycles();
	fn_init(&s);
	t_init = hf_cycles() - t0;
	if (!hf_strncmp(mode, "afterinit", 9) && (id = hf_fork()) == HF_FORK_FAILED)
		return 3;
	uint64_t t1 = hf_cycles();
	double err = fn_compute(&s);
	uint64_t t2 = hf_cycles();
	hf_mark(1);
	uint64_t req = hf_clone_request_cycles();
	int ok = err < 1e-6;
	hf_printf("function: done %u init_ms %lu compute_ms %lu since_request_ms %lu error %s\n", id,
		  id && !hf_strncmp(mode, "afterinit", 9) ? 0 : ms(t_init), ms(t2 - t1),
		  req ? ms(t2 - req) : 0, ok ? "small" : "LARGE");
	return ok ? 0 : 1;
}
