/* hyperfork: a KVM virtual machine monitor that clones running VMs by fork(). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "hyperfork/abi.h"
#include "util/trace.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		commands_usage(stderr);
		return HF_STATUS_ERROR;
	}
	const char *name = argv[1];
	trace_init();
	/* A peer that has gone (a control client, a VM that answered and closed) is an error
	 * to report, never a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	const struct command *c = command_find(name);
	if (c)
		return c->run(argc - 1, argv + 1);
	if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
		commands_usage(stdout);
		return 0;
	}
	fprintf(stderr, "hyperfork: unknown command '%s'\n", name);
	commands_usage(stderr);
	return HF_STATUS_ERROR;
}
