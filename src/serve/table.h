/* The functions `hyperfork serve` has: a table of FN_MAX_FUNCTIONS slots, filled from its
 * configuration file at start and by the management API (CreateFunction) while it runs.
 *
 * Any thread finds a function by name and holds it (a reference) while it uses it; only
 * serve's main thread starts, stops and frees one (table_tick), so a function changed or
 * deleted through the API is stopped once nobody holds it any more, never under anyone.
 * Meanwhile it is not found (deleted) or answers that it is being changed. */
#ifndef HF_SERVE_TABLE_H
#define HF_SERVE_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "serve/config.h"
#include "serve/function.h"
#include "serve/runtime.h"

enum slot_state {
	SLOT_FREE,
	SLOT_NEW,      /* added: its template is started at the next tick */
	SLOT_LIVE,     /* found by name */
	SLOT_CHANGING, /* a new configuration waits (next) for nobody to hold the old one */
	SLOT_DELETING, /* to be stopped and freed once nobody holds it */
};

struct fn_slot {
	enum slot_state state;
	unsigned refs;         /* holders (atomic) */
	bool from_file;        /* serve's --config file's: the API may not change it */
	struct fn_config cfg;  /* owned */
	struct fn_config next; /* SLOT_CHANGING: what replaces cfg (owned) */
	char dir[4096];        /* its VMs' run directory, serve.XXXXXX/NAME */
	struct fn_code code;   /* a managed runtime's function: its disks */
	unsigned code_gen;     /* numbers its code's disks (NAME.code.N), one per start */
	unsigned changes;      /* configurations it was given after its first */
	bool started;          /* function_start was called (to be stopped) */
	struct fn_jail jail;
	struct function fn;
};

struct fn_table {
	pthread_rwlock_t lock; /* guards every slot's state, cfg and next */
	struct fn_slot slots[FN_MAX_FUNCTIONS];
	const char *run_dir;      /* serve.XXXXXX */
	const char *runtimes_dir; /* the managed runtimes' images */
	uint64_t reserve_bytes;
	bool jail;
	long uid, gid; /* slot i's VMs run as uid + i, gid + i */
};

void table_init(struct fn_table *t, const char *run_dir, const char *runtimes_dir,
		uint64_t reserve_bytes, bool jail, long uid, long gid);

/* Take cfg (moved into the table: *cfg is zeroed) as a new function, to be started at the
 * next tick. Its run directory and, for a managed runtime, its code's disk are made here.
 * Returns 0, or -1 with err (a name the table has: errno EEXIST; no free slot: ENOSPC). */
int table_add(struct fn_table *t, struct fn_config *cfg, bool from_file, char *err,
	      size_t errlen);

enum table_found { TABLE_FOUND, TABLE_ABSENT, TABLE_CHANGING };
/* The live function called name (or its ARN), held; NULL if there is none (why in *found:
 * absent, or being changed or added). Every function returned is given back with
 * table_put. */
struct function *table_get(struct fn_table *t, const char *name, enum table_found *found);
void table_put(struct function *f);

/* Replace the configuration of function name by *cfg (moved: zeroed), or delete it (also
 * one just added): done by the main thread once nobody holds it. Returns 0, or -1 with
 * errno ENOENT (no such function), EBUSY (a change is pending) or EPERM (the configuration
 * file's). */
int table_change(struct fn_table *t, const char *name, struct fn_config *cfg);
int table_delete(struct fn_table *t, const char *name);

/* Call fn for function name (or its ARN) under the table's lock (fn must not call the
 * table). Returns 0, or -1 if there is no such function (or it is being deleted). */
int table_with(struct fn_table *t, const char *name, void (*fn)(struct fn_slot *s, void *arg),
	       void *arg);
/* Hold every live function (at most max), into fns; give each back with table_put. Returns
 * how many. */
unsigned table_hold_all(struct fn_table *t, struct function **fns, unsigned max);
/* Call fn for every function the table has (under its lock: fn must not call the table). */
void table_each(struct fn_table *t, void (*fn)(struct fn_slot *s, void *arg), void *arg);

/* serve's main thread, every tick: start what was added, stop and free what was deleted,
 * restart what was changed, and follow every function (function_poll, idle workers),
 * printing what changed. */
void table_tick(struct fn_table *t, unsigned init_timeout_ms);
/* End every function (serve is stopping). */
void table_stop_all(struct fn_table *t);

#endif
