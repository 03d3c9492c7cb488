/* The control socket's client: a request to the VM called NAME in a run directory, over
 * its socket DIR/NAME.sock (util/rundir.h), and its answer (api/proto.h). Used by the
 * commands and by serve. */
#ifndef HF_CLIENT_H
#define HF_CLIENT_H

#include <stdbool.h>

#include "api/proto.h"

/* Send req to the VM called name and read its response. Returns 0 (resp filled; resp->ok
 * tells success) or -1 with a message logged (no such VM, stale socket, bad answer). */
int ctl_call(const char *dir, const char *name, const struct hf_request *req,
	     struct hf_response *resp);
/* The two halves of ctl_call. ctl_connect returns the fd, or -1 with errno set (ENOENT: no
 * such VM, ECONNREFUSED: stale socket), logged unless quiet. ctl_exchange sends req, reads
 * the answer and closes fd; returns 0 or -1 (logged). */
int ctl_connect(const char *dir, const char *name, bool quiet);
int ctl_exchange(int fd, const char *name, const struct hf_request *req, struct hf_response *resp);

#endif
