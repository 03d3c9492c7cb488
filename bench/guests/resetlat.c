/* Reset latency, measured inside the guest (bench/reset.sh). --cmdline "PAGES" (or "all":
 * every page of free RAM): a template that has touched all of its free RAM reaches its
 * fork point; each clone, and each reset of it, prints
 *   resetlat: clone ID request_ns R
 * (R: from the moment the VMM took the request, a fork or a reset, to this first
 * instruction after it), then writes PAGES pages, prints "resetlat: dirtied ID PAGES" and
 * sleeps until it is reset again or stopped. */
#include "hf.h"

int main(void)
{
	const char *arg = hf_cmdline();
	volatile char *heap = hf_heap_start();
	uint64_t room = ((char *)hf_heap_end() - (char *)hf_heap_start()) / 4096;
	uint64_t pages = hf_strncmp(arg, "all", 3) ? hf_strtou(&arg) : room;
	if (pages > room)
		pages = room;
	for (uint64_t i = 0; i < room; i++)
		heap[i * 4096] = 1;
	hf_printf("resetlat: ready\n");
	unsigned id = hf_fork();
	uint64_t t1 = hf_cycles();
	if (id == HF_FORK_FAILED || !id) {
		hf_printf("resetlat: fork failed\n");
		return 3;
	}
	uint64_t req = hf_clone_request_cycles();
	hf_printf("resetlat: clone %u request_ns %lu\n", id, req && req < t1 ? hf_ns(t1 - req) : 0);
	for (uint64_t i = 0; i < pages; i++)
		heap[i * 4096] = (char)id;
	hf_printf("resetlat: dirtied %u %lu\n", id, pages);
	for (;;)
		hf_sleep_us(1000000);
}
