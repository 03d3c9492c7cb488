/* The table of `hyperfork` commands (see cmd.h). */
#include <string.h>

#include "cmd/cmd.h"

const struct command commands[] = {
	{"run", cmd_run, "  run ...          boot a VM in the foreground (hyperfork run --help)\n"},
	{"ls", cmd_ls, "  ls               list running VMs and clones\n"},
	{"status", cmd_ctl, "  status NAME      show a VM's state and memory\n"},
	{"pause", cmd_ctl, "  pause NAME       stop a VM's vCPUs\n"},
	{"resume", cmd_ctl, "  resume NAME      let them run again\n"},
	{"stop", cmd_ctl, "  stop NAME        end a VM\n"},
	{"wait", cmd_ctl, "  wait NAME        block until a VM ends\n"},
	{"fork", cmd_ctl,
	 "  fork NAME [--count K] [--console file|pty|none]\n"
	 "                   clone a running VM (copy-on-write), or start clones of a template\n"},
	{"template", cmd_ctl,
	 "  template NAME [--pool N]\n"
	 "                   freeze a VM into a template that keeps N warm clones ready\n"},
	{"reset", cmd_ctl,
	 "  reset NAME [--id N]\n"
	 "                   a clone of a --reusable template goes back to its state and\n"
	 "                   runs again (as clone N)\n"},
	{"host", cmd_host, "  host             show what this host's KVM offers\n"},
	{"serve", cmd_serve,
	 "  serve --config FILE [--listen ADDR:PORT]\n"
	 "                   serve functions behind the AWS Lambda Invoke API, each\n"
	 "                   invocation in a fresh clone (hyperfork serve --help)\n"},
	{NULL, NULL, NULL},
};

const struct command *command_find(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

void commands_usage(FILE *f)
{
	fprintf(f, "usage: hyperfork COMMAND [ARGS]\n\n");
	for (const struct command *c = commands; c->name; c++)
		fputs(c->help, f);
}
