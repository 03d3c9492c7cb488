/* The `hyperfork` subcommands: one file each, and the table main() dispatches through
 * (cmd/commands.c). A new command is a file with its function and one line in the table. */
#ifndef HF_CMD_H
#define HF_CMD_H

#include <stdio.h>

struct command {
	const char *name;
	/* Run it: argv[0] is the command's name. Returns the process's exit status. */
	int (*run)(int argc, char **argv);
	const char *help; /* its lines in `hyperfork --help`, each ending in '\n' */
};

/* Every command, in the order --help lists them; NULL name ends it. */
extern const struct command commands[];
/* The command called name, or NULL. */
const struct command *command_find(const char *name);
/* `hyperfork --help`. */
void commands_usage(FILE *f);

int cmd_run(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_ctl(int argc, char **argv); /* one request to a VM: status, pause, resume, stop,
				       fork, template, reset; wait (cmd/ctl.c) */
int cmd_host(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
