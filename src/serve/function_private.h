/* What the files of a serve function (function.h) share: starting its VMs (launch.c),
 * reading what they leave in the run directory, and talking to their agent (agent.c).
 * Not for the rest of serve: function.h is a function's public face. */
#ifndef HF_SERVE_FUNCTION_PRIVATE_H
#define HF_SERVE_FUNCTION_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "serve/function.h"

/* ---- launch.c: the function's VMs ------------------------------------------------------ */

/* Start a VM of the function named name: its template (mode clone), its warm VM (mode
 * warm) or an invocation's VM (mode boot), in a process group of its own whose output goes
 * to RUN_DIR/NAME.log. Returns its pid, or -1 with the reason in why. */
pid_t fn_vm_start(const struct function *f, const char *name, char *why, size_t whylen);
/* Is pid ancestor or a process below it (parent by parent, in /proc)? What a VM's control
 * socket says of a clone is checked so before serve (root) signals it. */
bool fn_descends(pid_t pid, pid_t ancestor);
/* Is the connected Unix socket fd held (listened on) by process owner itself (exact), or
 * by owner or a process below it? A socket in a function's directory may have been put
 * there by any of its VMs: serve talks only to the one it means. */
bool fn_peer_is(int fd, pid_t owner, bool exact);
/* What a template's control socket said of a clone it made for function fn (c), made
 * safe to use: its name must be FN.N (serve builds socket paths from it), its pid above 1,
 * and its console is the one serve names, RUN_DIR/FN.N.console when it asked for a file
 * (console_file), else none: serve reads, sends and removes only files it named. Returns 0,
 * or -1 with why. */
int fn_clone_reply_check(const char *fn, const char *run_dir, bool console_file,
			 struct hf_clone_info *c, char *why, size_t whylen);
/* The last line of file path that holds prefix, from prefix on (without its line end),
 * into out; "" if none (or no such file). */
void fn_find_line(const char *path, const char *prefix, char *out, size_t len);

/* ---- invoke.c ---- */

/* End every worker (mode clone, reused), free their slots. */
void fn_workers_stop(struct function *f);

/* ---- agent.c: the exchange with the agent in a VM (include/hyperfork/lambda.h) ---------- */

/* The socket of VM name's agent into path: the vsock device's default, RUN_DIR/NAME.vsock
 * (a Linux guest), or the function device's, RUN_DIR/NAME.fn (a bare guest). */
void fn_agent_path(const struct function *f, const char *name, char *path, size_t len);
/* Connect to the socket path of a VM's agent, held by the VM process owner (exact) or by
 * owner or a process below it (fn_peer_is). Returns the fd, or -1 with errno (EPERM:
 * another process listens there, logged). */
int fn_agent_open(const struct function *f, const char *path, pid_t owner, bool exact);
/* Connect to the agent whose socket is path, held by the VM process owner (exact) or by
 * owner or a process below it (a jailed VM's VMM below the `run` serve started):
 * over vsock (Linux) with the CONNECT handshake, to a bare guest's function socket
 * directly. Returns the fd, or -1 with errno (EPERM: another process listens there). */
int fn_agent_connect(const struct function *f, const char *path, pid_t owner, bool exact,
		     uint64_t deadline);
/* Make the agent socket connected on c a worker's channel: "WORKER\n" to a bare guest's
 * function socket, "WORKER <agent port>\n" to a Linux guest's vsock socket, then its first
 * READY (fn_worker_ready). */
int fn_worker_hello(const struct function *f, struct fn_chan *c, uint64_t deadline, char *why,
		    size_t whylen);
/* The worker's READY on c: its VM, reset, waits for an invocation. Returns the VM's number,
 * or -1 with why (it refused, or ended). */
int fn_worker_ready(struct fn_chan *c, uint64_t deadline, char *why, size_t whylen);
/* The agent in VM name takes connections. */
bool fn_agent_up(const struct function *f, const char *name);
/* The exchange with the agent on c (lambda.h): INVOKE out, one answer back, into r (its
 * outcome and body), before deadline. */
void fn_exchange(struct function *f, struct fn_chan *c, const struct invocation *inv,
		 uint64_t deadline, struct inv_result *r);
/* The answer Lambda gives for an invocation that timed out, or whose runtime ended (or
 * broke the protocol) without an answer, into r (timeouts counted). */
void fn_failed(struct function *f, const struct invocation *inv, struct inv_result *r,
	       bool timed_out);

#endif
