/* hf-fork: clone this VM here; prints 0 in the original VM and N in clone N. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>

#include "hyperfork/abi.h"

int main(void)
{
	if (ioperm(HF_PORT_BASE, HF_PORT_COUNT, 1) != 0) {
		fprintf(stderr, "hf-fork: ioperm(0x%x, %u): %s (kernel needs CONFIG_X86_IOPL_IOPERM=y and root)\n",
			HF_PORT_BASE, HF_PORT_COUNT, strerror(errno));
		return 1;
	}
	uint32_t n = inl(HF_PORT_FORK);
	if (n == HF_FORK_FAILED) {
		fprintf(stderr, "hf-fork: the VMM could not clone the VM (not running under HyperFork?)\n");
		return 1;
	}
	printf("%u\n", n);
	return 0;
}
