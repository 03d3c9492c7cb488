/* The `hyperfork` subcommands, one file each, and what they share. */
#ifndef HF_CMD_H
#define HF_CMD_H

#include <stdbool.h>

#include "api/proto.h"

#define HF_DEFAULT_RUN_DIR "/run/hyperfork"

int cmd_run(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_ctl(int argc, char **argv); /* status, pause, resume, stop, fork */
int cmd_host(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* The run directory: --run-dir, else $HYPERFORK_RUN_DIR, else HF_DEFAULT_RUN_DIR. */
const char *run_dir(const char *opt);
/* Create the run directory if needed. Returns 0 or -1 (logged). */
int run_dir_prepare(const char *dir);

/* Send req to the VM called name and read its response. Returns 0 (resp filled; resp->ok
 * tells success) or -1 with a message printed (no such VM, stale socket, bad answer). */
int ctl_call(const char *dir, const char *name, const struct hf_request *req,
	     struct hf_response *resp);
/* The two halves of ctl_call. ctl_connect returns the fd, or -1 with errno set (ENOENT: no
 * such VM, ECONNREFUSED: stale socket), logged unless quiet. ctl_exchange sends req, reads
 * the answer and closes fd; returns 0 or -1 (logged). */
int ctl_connect(const char *dir, const char *name, bool quiet);
int ctl_exchange(int fd, const char *name, const struct hf_request *req, struct hf_response *resp);

#endif
