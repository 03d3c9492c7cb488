/* hf-id: prints which clone this VM is (0 = booted VM, N = clone N). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>

#include "hf-tool.h"

int main(void)
{
	if (hf_ports("hf-id") < 0)
		return 1;
	printf("%u\n", (uint32_t)inl(HF_PORT_CLONE_ID));
	return 0;
}
