/* Reset latency, measured inside the guest (bench/reset.sh). --cmdline "PAGES" (or "all":
 * every page of free RAM): a template that has touched all of its free RAM reaches its
 * fork point; each clone, and each reset of it, prints
 *   resetlat: clone ID request_ns R
 * (R: from the moment the VMM took the request, a fork or a reset, to this first
 * instruction after it), then writes PAGES pages, prints "resetlat: dirtied ID PAGES" and
 * sleeps until it is reset again or stopped. With the word "worker" on the command line (a
 * --function VM whose clones serve a worker, reset by their VMM after each answer on the
 * vCPU's own thread), it takes an invocation instead of sleeping and answers
 *   "ID R PAGES" (the same figures). */
#include "hf.h"

static char *put_u(char *o, uint64_t v)
{
	char d[24];
	int k = 0;
	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (k)
		*o++ = d[--k];
	return o;
}

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
	uint64_t ns = req && req < t1 ? hf_ns(t1 - req) : 0;
	hf_printf("resetlat: clone %u request_ns %lu\n", id, ns);
	for (uint64_t i = 0; i < pages; i++)
		heap[i * 4096] = (char)id;
	hf_printf("resetlat: dirtied %u %lu\n", id, pages);
	if (hf_cmdline_has("worker")) {
		static char in[256];
		char out[80], *o = out;
		struct hf_invocation inv;
		hf_next(&inv, in, sizeof(in));
		o = put_u(o, id);
		*o++ = ' ';
		o = put_u(o, ns);
		*o++ = ' ';
		o = put_u(o, pages);
		hf_respond(out, (size_t)(o - out)); /* then the VMM resets it: this never returns */
	}
	for (;;)
		hf_sleep_us(1000000);
}
