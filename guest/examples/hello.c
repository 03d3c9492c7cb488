/* The smallest bare guest: print a line and exit 0. */
#include "hf.h"

int main(void)
{
	hf_printf("Hello from a HyperFork bare guest (%u MiB, %u vCPU)\n",
		  (unsigned)(hf_ram_size() >> 20), hf_ncpus());
	return 0;
}
