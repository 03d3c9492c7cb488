/* Clone latency, measured inside the guest. --cmdline "[touch] [N] [GAP_MS]": optionally
 * write every 4 KiB page of free RAM first (so the whole of it is mapped, as in a booted
 * guest), then reach the fork point N times (default 1), GAP_MS apart (default 30). Each
 * clone prints "forklat: clone ID fork_ns F request_ns R": F from just before the fork
 * point to its first instruction, R from the moment the VMM took the request (fork point
 * or control socket) to it. With --cmdline "cold" it prints "forklat: cold" and exits. */
#include "hf.h"

int main(void)
{
	const char *arg = hf_cmdline();
	if (!hf_strncmp(arg, "cold", 4)) {
		hf_printf("forklat: cold\n");
		return 0;
	}
	int touch = !hf_strncmp(arg, "touch", 5);
	if (touch)
		arg += 5;
	uint64_t n = hf_strtou(&arg);
	uint64_t gap = hf_strtou(&arg);
	if (!n)
		n = 1;
	if (!gap)
		gap = 30;
	if (touch)
		for (volatile char *p = hf_heap_start(); p < (char *)hf_heap_end(); p += 4096)
			*p = 1;
	hf_printf("forklat: ready\n");
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = hf_cycles();
		unsigned id = hf_fork();
		uint64_t t1 = hf_cycles();
		if (id == HF_FORK_FAILED) {
			hf_printf("forklat: fork %lu failed\n", i);
			return 3;
		}
		if (id) {
			uint64_t req = hf_clone_request_cycles();
			hf_printf("forklat: clone %u fork_ns %lu request_ns %lu\n", id, hf_ns(t1 - t0),
				  req && req < t1 ? hf_ns(t1 - req) : 0);
			return 0;
		}
		hf_sleep_us(gap * 1000);
	}
	return 0;
}
