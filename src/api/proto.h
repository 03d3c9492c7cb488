/* Control protocol codec: one JSON object per line, requests and responses. Pure (no
 * sockets); the server and the CLI client both use it.
 *
 * Requests:  {"cmd":"status"} {"cmd":"pause"} {"cmd":"resume"} {"cmd":"stop"}
 *            {"cmd":"fork","count":K,"console":"file"|"pty"|"none"}  (count, console optional)
 *            {"cmd":"template","pool":N}  freeze the VM as a template (pool optional)
 *            {"cmd":"reset","id":N}  a clone of a reusable template goes back to its
 *                                    template's state and runs anew as clone N (id
 *                                    optional: its number stays)
 * Responses: {"ok":false,"error":"..."} on failure; on success {"ok":true} (with an
 *            optional "warning":"...", e.g. fewer clones made than asked) plus, for
 *            status, "vm":{...} and, for fork,
 *            "clones":[{"name","pid","socket","console","on_demand"}], for reset,
 *            "pages": the pages of guest RAM put back.
 */
#ifndef HF_PROTO_H
#define HF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rundir.h"
#include "util/util.h"

#define PROTO_MAX_LINE (1u << 20) /* longest message accepted */
#define PROTO_MAX_REQUEST 4096u   /* longest request line accepted by the server */
#define PROTO_FORK_MAX 1024u      /* most clones one fork request may ask for */
#define PROTO_POOL_MAX 64u        /* most warm clones a template keeps (0: a clone per request) */
#define PROTO_POOL_DEFAULT 4u

enum hf_cmd { CMD_STATUS, CMD_PAUSE, CMD_RESUME, CMD_STOP, CMD_FORK, CMD_TEMPLATE, CMD_RESET };

struct hf_request {
	enum hf_cmd cmd;
	unsigned count;      /* fork: number of clones (default 1) */
	char console[8];     /* fork: "file", "pty", "none", or "" for the VM's default */
	unsigned pool;       /* template: warm clones to keep ready (default PROTO_POOL_DEFAULT) */
	unsigned id;         /* reset: the clone's new number (0: it keeps its own) */
};

struct hf_vm_status {
	char name[HF_NAME_MAX + 1];
	char parent[HF_NAME_MAX + 1]; /* "" if booted */
	char state[16];               /* running, paused, exiting, template */
	char kind[8];                 /* bare, linux */
	char console[8];              /* stdio, file, pty, none */
	char console_path[256];
	char net[16];                 /* host tap of its network card, "" if none */
	int pid;
	unsigned cpus;
	unsigned clone_id;
	unsigned clones; /* clones made from this VM */
	uint64_t mem_bytes;
	uint64_t uptime_ms;
	uint64_t rss_kb, pss_kb, private_kb; /* the VMM process, guest RAM included */
	/* a template's pool: warm clones ready now, how many it keeps, and clones it made
	 * for a request that found none ready (all 0 for a VM that is not a template) */
	unsigned pool_ready, pool_target;
	uint64_t on_demand;
};

struct hf_clone_info {
	char name[HF_NAME_MAX + 1];
	int pid;
	char socket[256];
	char console[256];
	bool on_demand; /* a template's clone made for this request (its pool had none warm) */
};

struct hf_response {
	bool ok;
	char error[256];              /* failure reason; if ok, an optional warning */
	struct hf_vm_status vm;       /* status */
	unsigned nclones;             /* fork */
	struct hf_clone_info *clones; /* fork: malloc'd array (proto_response_free) */
	uint64_t pages;               /* reset: pages of guest RAM put back */
};

const char *proto_cmd_name(enum hf_cmd cmd);
/* The command called name ("status", "fork", ...) into *cmd. Returns 0, or -1 if none is. */
int proto_cmd_parse(const char *name, enum hf_cmd *cmd);

/* Parse one request line (len bytes, no NUL needed). Returns 0, or -1 with err set. */
int proto_parse_request(const char *line, size_t len, struct hf_request *req, char *err,
			size_t errlen);
/* Encode a request as one line with a trailing newline; malloc'd, NULL on OOM. */
char *proto_format_request(const struct hf_request *req);

/* Encode a response to cmd as one line with a trailing newline; malloc'd, NULL on OOM. */
char *proto_format_response(enum hf_cmd cmd, const struct hf_response *r);
/* Parse a response to cmd. Returns 0 (r->ok tells success), or -1 with err set when the
 * message itself is malformed. */
int proto_parse_response(enum hf_cmd cmd, const char *line, size_t len, struct hf_response *r,
			 char *err, size_t errlen);
void proto_response_free(struct hf_response *r);

#endif
