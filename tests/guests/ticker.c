/* Prints "tick N" every --cmdline MS milliseconds (default 50) forever: a live guest whose
 * progress the control-socket tests can watch stop (pause) and go on (resume). */
#include "hf.h"

int main(void)
{
	const char *arg = hf_cmdline();
	uint64_t ms = hf_strtou(&arg);
	uint64_t khz = hf_tsc_khz() ? hf_tsc_khz() : 2000000;
	if (!ms)
		ms = 50;
	for (uint64_t n = 0;; n++) {
		hf_printf("tick %lu clone %u\n", n, hf_clone_id());
		uint64_t end = hf_cycles() + ms * khz;
		while (hf_cycles() < end)
			__asm__ volatile("pause");
	}
}
