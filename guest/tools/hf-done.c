/* hf-done [CODE]: ends the VM; the VMM exits with CODE (0..239, default 0). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

#include "hf-tool.h"

int main(int argc, char **argv)
{
	unsigned long code = 0;

	if (argc > 2)
		goto usage;
	if (argc == 2) {
		char *end;

		errno = 0;
		code = strtoul(argv[1], &end, 10);
		if (argv[1][0] < '0' || argv[1][0] > '9' || *end || errno ||
		    code > HF_EXIT_CODE_MAX)
			goto usage;
	}
	if (hf_ports("hf-done") < 0)
		return 1;
	fflush(NULL);
	/* What the guest printed last may still sit in the tty and the UART (another vCPU
	 * may be sending it): let it reach the VMM before the VM ends. */
	for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++)
		if (isatty(fd))
			tcdrain(fd);
	outl((uint32_t)code, HF_PORT_EXIT);
	for (;;) /* the VMM normally stops the VM at the outl */
		pause();

usage:
	fprintf(stderr, "usage: hf-done [CODE]   (CODE: 0..%d, default 0)\n", HF_EXIT_CODE_MAX);
	return 2;
}
