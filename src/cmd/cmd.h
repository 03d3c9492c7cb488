/* The `hyperfork` subcommands, one file each. */
#ifndef HF_CMD_H
#define HF_CMD_H

int cmd_run(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_ctl(int argc, char **argv); /* status, pause, resume, stop, fork, template, wait */
int cmd_host(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
