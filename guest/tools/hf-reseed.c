/* hf-reseed: reseed the kernel's random number generator from the host. For clones made
 * from outside (`hyperfork fork`, templates), which do not return through hf-fork. */
#include <stdio.h>

#include "hf-tool.h"

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: hf-reseed\n");
		return 2;
	}
	if (hf_ports("hf-reseed") < 0 || hf_reseed("hf-reseed") < 0)
		return 1;
	return 0;
}
