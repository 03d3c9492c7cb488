/* One function of `hyperfork serve`: its template VM (booted, initialised and frozen at the
 * first call of its Runtime API agent for an invocation) and the invocations it runs, each
 * in the template's state: in one of its workers, clones activated from the template's
 * warm pool and reset to its state after each answer (mode clone, where its clones can be
 * reset), or in a fresh clone destroyed after its answer. (Its config's mode may ask
 * instead for one warm VM reused by every invocation, or for a VM booted per invocation:
 * see config.h.)
 *
 * Its files, by job: launch.c starts its VMs (`hyperfork run`), template.c follows its
 * template's life, agent.c talks to the agent in a VM (include/hyperfork/lambda.h),
 * invoke.c runs an invocation in the VM its mode gives; function_private.h is what they
 * share. */
#ifndef HF_SERVE_FUNCTION_H
#define HF_SERVE_FUNCTION_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/proto.h"
#include "serve/config.h"
#include "serve/histogram.h"

struct fn_code;

enum fn_state { FN_STARTING, FN_READY, FN_FAILED };

/* What /metrics tells of a function (guarded by its lock). */
struct fn_stats {
	uint64_t invocations, ok, handled, unhandled, timeouts, throttled, service_errors;
	uint64_t on_demand; /* invocations whose clone was made when they came */
	unsigned live;      /* VMs running an invocation now */
	struct histogram duration, activation;
};

/* serve --jail: each function's VMs (template, clones, warm or booted VMs) run jailed
 * (`run --jail`) as a uid of the function's own, with a memory.max covering them all. */
struct fn_jail {
	bool on;
	long uid, gid;
};

/* The jail's memory.max for a function's VMs in MiB: each may touch all its RAM, plus
 * FN_JAIL_VM_OVERHEAD_MB for its VMM and KVM; a template's jail holds the template, its
 * warm pool and one clone per invocation its concurrency allows. */
#define FN_JAIL_VM_OVERHEAD_MB 64u
/* Its pids.max: FN_JAIL_VM_PIDS threads and processes for each of those VMs (a VMM's
 * threads, its vCPUs' among them, and KVM's workers). */
#define FN_JAIL_VM_PIDS 64u
uint64_t fn_jail_memory_mb(const struct fn_config *cfg);

/* A connection to a VM's agent, read through a buffer: buf[off..len) is read ahead. */
struct fn_chan {
	int fd;
	size_t len, off;
	char buf[4096];
};

/* Mode clone, reused: a clone that runs one invocation after another, reset to the
 * template's state (and given a new number) by its VMM after each answer, over a channel
 * serve holds (its function socket, once WORKER was said). */
struct fn_worker {
	struct hf_clone_info clone; /* its name, pid and console file */
	struct fn_chan chan;        /* fd -1: none yet */
	int pidfd;                  /* its process (-1: none) */
	unsigned uses;              /* invocations it has run */
	bool used;                  /* this slot holds a worker */
	bool busy;                  /* it runs an invocation now */
	bool ready;                 /* its READY since the last answer was read */
	uint64_t idle_since;        /* when it last finished an invocation (now_ns; read while
				       it is not busy) */
};

struct function {
	const struct fn_config *cfg;
	const char *run_dir; /* the templates' and clones' sockets and consoles: serve's own,
				or the function's own directory in it when jailed */
	uint64_t reserve_bytes; /* serve's --reserve-memory, passed to its VMs' `run` */
	struct fn_jail jail;
	const struct fn_code *code; /* a managed runtime's function: its disks; else NULL */
	pthread_mutex_t lock;
	enum fn_state state;
	char why[512];       /* FN_FAILED: what went wrong (the guest's init error, if any) */
	pid_t template_pid;  /* 0: none */
	pid_t vm_pid;        /* the process on the template's control socket at the first
				contact after its boot (its VMM, below template_pid when jailed),
				which every later contact must find there; 0: not yet */
	uint64_t boot_ns;    /* when the template was started */
	unsigned boots;      /* how many times (more than 1: it died and was re-initialised) */
	unsigned active;     /* invocations in flight */
	unsigned boot_seq;   /* mode boot: numbers the invocations' VMs */
	pthread_mutex_t warm_lock; /* mode warm: one invocation at a time in the VM */
	bool reuse;                /* mode clone with clones that can be reset: workers */
	struct fn_worker *workers; /* reuse: cfg->concurrency slots (guarded by lock) */
	struct fn_stats stats;
};

/* Set f up and boot its template (a `hyperfork run --template` process, which keeps
 * reserve_bytes of host memory free: it makes no clone, warm ones included, below it).
 * Does not wait: function_poll follows it. */
void function_start(struct function *f, const struct fn_config *cfg, const char *run_dir,
		    uint64_t reserve_bytes, const struct fn_jail *jail,
		    const struct fn_code *code);
/* Follow the template (serve's main thread, every few hundred ms): FN_STARTING becomes
 * FN_READY once it is frozen, or FN_FAILED if its process ends first (the guest's init
 * error in f->why) or it takes longer than init_timeout_ms; a READY template whose process
 * ended is booted again (FN_STARTING: invocations get "Pending" meanwhile). Returns true
 * when the state changed (f->why says why when it failed). */
bool function_poll(struct function *f, unsigned init_timeout_ms);
/* End the template, its warm clones and its workers. */
void function_stop(struct function *f);

/* Connect to the control socket of the function's template, which must be held by the
 * process found there first (f->vm_pid, learned when learn is set and none is known yet:
 * serve's first contact once it booted, before any of its clones ran). Returns the fd,
 * or -1 with why (errno EPERM: another process, a clone that took the path, holds it). */
int fn_template_connect(struct function *f, bool learn, char *why, size_t whylen);

/* Take a slot of the function's concurrency; false if all are taken (throttled counted). */
bool function_enter(struct function *f);
void function_leave(struct function *f);
/* Count an invocation refused for another limit (the host's memory reserve). */
void function_throttled(struct function *f);

struct invocation {
	char request_id[40];
	const void *payload;
	size_t payload_len;
	const char *client_context; /* X-Amz-Client-Context, or NULL */
	bool tail;                  /* the last 4 KB of the clone's console wanted */
};

enum inv_outcome {
	INV_OK,        /* the function's result */
	INV_HANDLED,   /* the runtime reported an error (body: its error document) */
	INV_UNHANDLED, /* crashed, timed out, or answered nothing (body: an error document) */
	INV_SERVICE,   /* no clone could run it (error: why) */
};

struct inv_result {
	enum inv_outcome outcome;
	char *body; /* malloc'd */
	size_t body_len;
	char *log_tail_b64; /* malloc'd, if tail was asked */
	char error[512];
	/* the invocation's own VM, still running: ended by function_release */
	struct hf_clone_info clone; /* its clone (name "" if none) */
	int pidfd;                  /* modes clone: that clone's process, while r holds it
				       (-1: none; a worker holds its own) */
	pid_t booted;               /* mode boot: its process (0 if none, -1 if it ended) */
	int worker;                 /* reuse: its worker's slot (-1: none) */
	struct fn_chan *chan;       /* reuse: the worker's channel to its agent (kept) */
	long console_from;          /* reuse: where this invocation's output starts in the
				       worker's console (Tail) */
	bool keep_console;          /* mode boot: function_release leaves its console file */
};

/* Run inv in a fresh clone of f's template (or, by its mode, in its warm VM or a VM booted
 * for it) and wait for its answer, at most the function's timeout. Always fills r. The
 * clone is left running, so that the answer can go out first: end it with
 * function_release, then free r with inv_result_free. */
void function_invoke(struct function *f, const struct invocation *inv, struct inv_result *r);
/* End the VM that ran r (nothing if none or done). */
void function_release(struct function *f, struct inv_result *r);
/* serve's main thread, now and then: mode clone's workers that have waited longer than the
 * function's "idle" seconds end (their memory back to the host). */
void function_reap_idle(struct function *f, uint64_t now);
void inv_result_free(struct inv_result *r);

/* A new random request id (UUID version 4) into id (at least 37 bytes). */
void request_id_new(char *id);

#endif
