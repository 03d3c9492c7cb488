/* Prints "tick N" every --cmdline MS milliseconds (default 50) forever, sleeping between
 * ticks: a live, mostly idle guest whose progress the control-socket tests can watch stop
 * (pause) and go on (resume). */
#include "hf.h"

int main(void)
{
	const char *arg = hf_cmdline();
	uint64_t ms = hf_strtou(&arg);
	if (!ms)
		ms = 50;
	for (uint64_t n = 0;; n++) {
		hf_printf("tick %lu clone %u\n", n, hf_clone_id());
		hf_sleep_us(ms * 1000);
	}
}
