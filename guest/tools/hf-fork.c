/* hf-fork [--no-reseed]: clone this VM here; prints 0 in the original VM and N in clone N.
 * In a clone it first reseeds the kernel's random number generator from the host (see
 * hf-tool.h), unless --no-reseed is given. */
#include <stdio.h>
#include <string.h>

#include "hf-tool.h"

int main(int argc, char **argv)
{
	int reseed = 1;

	if (argc == 2 && strcmp(argv[1], "--no-reseed") == 0) {
		reseed = 0;
	} else if (argc != 1) {
		fprintf(stderr, "usage: hf-fork [--no-reseed]\n");
		return 2;
	}
	if (hf_ports("hf-fork") < 0)
		return 1;
	uint32_t n = inl(HF_PORT_FORK);
	if (n == HF_FORK_FAILED) {
		fprintf(stderr, "hf-fork: the VMM could not clone the VM (not running under HyperFork?)\n");
		return 1;
	}
	if (n != 0 && reseed && hf_reseed("hf-fork") < 0)
		return 1;
	printf("%u\n", n);
	return 0;
}
