/* hf-id: prints which clone this VM is (0 = booted VM, N = clone N). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>

#include "hyperfork/abi.h"

int main(void)
{
	if (ioperm(HF_PORT_BASE, HF_PORT_COUNT, 1) != 0) {
		fprintf(stderr, "hf-id: ioperm(0x%x, %u): %s (kernel needs CONFIG_X86_IOPL_IOPERM=y and root)\n",
			HF_PORT_BASE, HF_PORT_COUNT, strerror(errno));
		return 1;
	}
	printf("%u\n", (uint32_t)inl(HF_PORT_CLONE_ID));
	return 0;
}
