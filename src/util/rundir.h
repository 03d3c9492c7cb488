/* The run directory and the names in it: the one place that knows what a VM's files are
 * called (its control socket, console, log, function and vsock sockets) and how a clone is
 * named after its parent. Everyone else asks here. */
#ifndef HF_RUNDIR_H
#define HF_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>

#define RUN_DIR_DEFAULT "/run/hyperfork"

/* The run directory: opt (--run-dir) if given, else $HYPERFORK_RUN_DIR, else
 * RUN_DIR_DEFAULT. */
const char *run_dir(const char *opt);
/* Create the run directory if needed. Returns 0 or -1 (logged). */
int run_dir_prepare(const char *dir);

/* True if name is a valid VM name: 1..HF_NAME_MAX chars of [A-Za-z0-9_.-], not starting
 * with '.' or '-'. */
#define HF_NAME_MAX 64
bool valid_vm_name(const char *name);

/* The name of clone id of name (a VM, or what is named after it: a tap, a socket path):
 * "name.id", into buf (len bytes). Returns the length it needs (as snprintf), for the
 * caller to hold against its own limit (HF_NAME_MAX for a VM). */
int clone_name(char *buf, size_t len, const char *name, unsigned id);

/* The files of VM name in run directory dir: dir/name + one of these. */
#define RUN_FILE_SOCKET ".sock"     /* its control socket (api/server.h) */
#define RUN_FILE_CONSOLE ".console" /* a clone's console file; serve's VMs' consoles */
#define RUN_FILE_LOG ".log"         /* serve's VMs' output */
#define RUN_FILE_FUNCTION ".fn"     /* the function device's socket (--function) */
#define RUN_FILE_VSOCK ".vsock"     /* the vsock device's socket, unless given (--vsock) */
#define RUN_FILE_EXIT ".exit"       /* its exit status as it ended, "N\n" (run --exit-files);
                                       whoever reads it removes it */
/* The sockets a VM listens on in the run directory (control, function, vsock in the
 * default place): removed by the VM when it ends, by whoever reaps it when it is killed. */
extern const char *const run_file_sockets[3];
/* Remove dir and everything in it (depth first, links not followed); what cannot be removed
 * is logged. */
void remove_tree(const char *dir);

/* dir/name + ext into buf (len bytes). */
void run_file(char *buf, size_t len, const char *dir, const char *name, const char *ext);

#endif
