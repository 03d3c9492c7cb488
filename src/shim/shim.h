/* containerd-shim-hyperfork-v1 (issue 22): containerd's shim v2 for HyperFork. A task is a
 * VM: a clone activated from a template's warm pool (annotation io.hyperfork.template) or
 * a VM booted by `hyperfork run` (io.hyperfork.kernel or io.hyperfork.image); the
 * containers of one pod share a shim. The commands containerd runs (start, delete) and the
 * serving process (a ttrpc server on a Unix socket, the Task service, the task events).
 * Library code: it never exits; src/shim/main.c is the binary. */
#ifndef HF_SHIM_SHIM_H
#define HF_SHIM_SHIM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* What containerd passed on the command line (-namespace, -address, -publish-binary, -id,
 * -bundle, -debug), and where the shim's sockets go. */
struct shim_opts {
	const char *ns, *address, *publish_binary, *id, *bundle;
	bool debug;
	const char *socket_dir; /* $HYPERFORK_SHIM_SOCKET_DIR, default SHIM_SOCKET_DIR */
};
#define SHIM_SOCKET_DIR "/run/containerd/s"

/* The file in a task's bundle where the serving shim keeps what `delete` needs once the
 * shim is dead: "PID CLONE RUN_DIR VM_NAME\n" of the task's VMM. */
#define SHIM_TASK_FILE "hyperfork-task"

/* The serving shim's socket, as shim_start hands it to the new process. */
struct shim_serving {
	int listen_fd;
	char socket_path[128];
};

/* `start`: the shim of the task's pod if one serves (its address printed and written to
 * the bundle), else a new serving shim, forked and detached, listening on its socket.
 * out (len bytes) is what to print on stdout. Returns 0 (in start's process), 1 in the
 * new serving process (*serve filled: the caller runs shim_serve on it, then ends), or -1
 * with err set (in either). */
int shim_start(const struct shim_opts *o, char *out, size_t len, struct shim_serving *serve,
	       char *err, size_t errlen);

/* `delete`: after a dead shim, end the task's VMM if it still runs and remove its files;
 * *buf (malloc'd, *len bytes) is the DeleteResponse to print. Returns 0, or -1 with err. */
int shim_delete(const struct shim_opts *o, uint8_t **buf, size_t *len, char *err, size_t errlen);

/* The serving process: answers on listen_fd until Shutdown once no task is left (or
 * containerd is gone and no task runs). Returns 0, or -1 with err set. */
int shim_serve(const struct shim_opts *o, int listen_fd, const char *socket_path, char *err,
	       size_t errlen);

#endif
