/* A containerd task as a clone (tests/integration/test_shim.sh): the template freezes at its
 * fork point; each clone adds one to a counter in its memory, prints "task: clone N counter
 * C" (C is 1 in every clone: no clone sees another's write), then runs --cmdline "EXIT
 * [MS]" MS milliseconds (0: until it is killed; none: not at all) and exits with EXIT. */
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
	hf_printf("task: template ready\n");
	unsigned id = hf_fork();
	if (id == HF_FORK_FAILED) {
		hf_printf("task: fork failed\n");
		return 3;
	}
	counter++;
	hf_printf("task: clone %u counter %u\n", id, counter);
	if (sleeps && ms == 0)
		for (;;)
			hf_sleep_us(1000000);
	if (sleeps)
		hf_sleep_us(ms * 1000);
	hf_printf("task: clone %u exits %u\n", id, code);
	return (int)code;
}
