/* hyperfork: a KVM virtual machine monitor that clones running VMs by fork(). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/trace.h"
#include "hyperfork/abi.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hyperfork COMMAND [ARGS]\n"
		   "\n"
		   "  run ...          boot a VM in the foreground (hyperfork run --help)\n"
		   "  ls               list running VMs and clones\n"
		   "  status NAME      show a VM's state and memory\n"
		   "  pause NAME       stop a VM's vCPUs\n"
		   "  resume NAME      let them run again\n"
		   "  stop NAME        end a VM\n"
		   "  wait NAME        block until a VM ends\n"
		   "  fork NAME [--count K] [--console file|pty|none]\n"
		   "                   clone a running VM (copy-on-write), or start clones of a template\n"
		   "  template NAME [--pool N]\n"
		   "                   freeze a VM into a template that keeps N warm clones ready\n"
		   "  host             show what this host's KVM offers\n"
		   "  serve --config FILE [--listen ADDR:PORT]\n"
		   "                   serve functions behind the AWS Lambda Invoke API, each\n"
		   "                   invocation in a fresh clone (hyperfork serve --help)\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HF_STATUS_ERROR;
	}
	const char *cmd = argv[1];
	trace_init();
	/* A peer that has gone (a control client, a VM that answered and closed) is an error
	 * to report, never a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "ls"))
		return cmd_ls(argc - 1, argv + 1);
	if (!strcmp(cmd, "status") || !strcmp(cmd, "pause") || !strcmp(cmd, "resume") ||
	    !strcmp(cmd, "stop") || !strcmp(cmd, "fork") || !strcmp(cmd, "template") ||
	    !strcmp(cmd, "wait"))
		return cmd_ctl(argc - 1, argv + 1);
	if (!strcmp(cmd, "host"))
		return cmd_host(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "hyperfork: unknown command '%s'\n", cmd);
	usage(stderr);
	return HF_STATUS_ERROR;
}
