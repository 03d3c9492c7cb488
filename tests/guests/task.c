/* A containerd task as a clone (tests/integration/test_shim.sh): the template freezes at its
 * fork point; each clone adds one to a counter in its memory, prints "task: clone N counter
 * C" (C is 1 in every clone: no clone sees another's write), then, with --cmdline "EXIT
 * [MS [KIB]]", prints KIB KiB of numbered 64-byte lines and "task: clone N printed L
 * lines", runs MS milliseconds (0: until it is killed; none: not at all) and exits with
 * EXIT. */
#include "hf.h"

static volatile unsigned counter;

int main(void)
{
	const char *arg = hf_cmdline();
	unsigned code = (unsigned)hf_strtou(&arg);
	while (*arg == ' ')
		arg++;
	int sleeps = *arg != 0;
	uint64_t ms = sleeps ? hf_strtou(&arg) : 0;
	while (*arg == ' ')
		arg++;
	uint64_t lines = *arg ? hf_strtou(&arg) * 1024 / 64 : 0;
	hf_printf("task: template ready\n");
	unsigned id = hf_fork();
	if (id == HF_FORK_FAILED) {
		hf_printf("task: fork failed\n");
		return 3;
	}
	counter++;
	hf_printf("task: clone %u counter %u\n", id, counter);
	for (uint64_t i = 1; i <= lines; i++) /* 64 bytes each */
		hf_printf("task: line %08llu ...........................................\n",
			  (unsigned long long)i);
	if (lines)
		hf_printf("task: clone %u printed %llu lines\n", id, (unsigned long long)lines);
	if (sleeps && ms == 0)
		for (;;)
			hf_sleep_us(1000000);
	if (sleeps)
		hf_sleep_us(ms * 1000);
	hf_printf("task: clone %u exits %u\n", id, code);
	return (int)code;
}
