/* `hyperfork serve`'s configuration file: the functions it serves. Pure (no VMs, no
 * sockets), so every refusal is unit-tested.
 *
 *   {"functions": [{
 *       "name": "hello",                        1-64 of [A-Za-z0-9_-] (Lambda's function names)
 *       "image": "fn.elf",                      a bare guest (a static ELF run with
 *                                               --function: ABI version 3's function ports),
 *       "kernel": "bzImage", "initrd": "initramfs.cpio",   or a Linux guest (paths relative to
 *       "disks": ["code.img"],                  the file's directory): the function's code,
 *                                               read-only, the first disk holding bootstrap
 *       "runtime": "python3.11",                or a managed runtime's (FN_RUNTIMES) with
 *       "code": "app.zip",                      the function's code as Lambda takes it: a
 *                                               zip, unpacked at /var/task (no "disks")
 *       "layers": ["deps.zip"],                 with "code": its layers, up to Lambda's 5
 *                                               zips unpacked at /opt in order (a later
 *                                               one's files replace an earlier one's)
 *       "cmdline": "...",                       optional extra kernel command-line words
 *       "memory": 256,                          MiB (128 to 10240, Lambda's range)
 *       "vcpus": 1,                             1 to 8
 *       "timeout": 3,                           seconds per invocation (1 to 900)
 *       "concurrency": 10,                      invocations at once (1 to 1000)
 *       "pool": 4,                              warm clones kept ready (0 to 64; 0: each
 *                                               invocation's clone is made when it comes)
 *       "mode": "clone",                        how invocations run: "clone" (each in the
 *                                               frozen template's state, the default: in a
 *                                               clone that is reset to it after each answer
 *                                               and reused, where the function's clones can
 *                                               be reset (bare functions), else in a fresh
 *                                               clone), "fresh" (each in a fresh clone of
 *                                               the template, ended after its answer),
 *                                               "warm" (one VM reused for every invocation,
 *                                               one at a time: Lambda's warm container, state
 *                                               passes between invocations), "boot" (a VM
 *                                               booted for each invocation: cold starts)
 *       "recycle": 0,                           mode clone: a clone reused this many times is
 *                                               replaced by a fresh one (0: never; 1 to
 *                                               1000000)
 *       "idle": 600,                            mode clone: a worker that took no invocation
 *                                               for this many seconds ends (0: never; at
 *                                               most 86400)
 *       "handler": "function.handler",          optional, $_HANDLER in the guest (Linux)
 *       "environment": {"KEY": "value"}         optional, the function's environment (at
 *                                               most 1024 bytes as KEY=VALUE lines, 4096
 *                                               with a "runtime"; Linux)
 *       "lambda": {...}                         optional: what the management API keeps of
 *                                               a function it made (Description, Role,
 *                                               CodeSha256, ...), shown back as it is
 *   }]}
 */
#ifndef HF_SERVE_CONFIG_H
#define HF_SERVE_CONFIG_H

#include <stddef.h>

#define FN_NAME_MAX 64
/* A VM serve boots for function NAME (mode boot) is NAME-bN, NAME cut to this many
 * characters (a VM name has at most 64). */
#define FN_BOOT_NAME_KEEP 40
#define FN_MAX_DISKS 4
#define FN_MAX_FUNCTIONS 64
#define FN_RUNTIMES "python3.11 nodejs18.x" /* the managed runtimes, separated by spaces */
#define FN_CODE_ZIP_MAX (50u << 20) /* Lambda's limit for a zip uploaded directly */
#define FN_MAX_LAYERS 5 /* Lambda's: layers a function may have */
#define FN_ENV_MAX 1024 /* bytes of KEY=VALUE lines: they go on the guest's kernel command line */
/* A managed runtime's function: its environment rides on its code's disk, up to Lambda's
 * 4 KB. */
#define FN_ENV_MAX_RUNTIME 4096

enum fn_mode { FN_MODE_CLONE, FN_MODE_WARM, FN_MODE_BOOT, FN_MODE_FRESH };

struct fn_config {
	char name[FN_NAME_MAX + 1];
	char *image;                               /* malloc'd; a bare guest's ELF, or NULL */
	char *kernel, *initrd, *cmdline, *handler; /* malloc'd; NULL with image; cmdline,
	                                              handler may be NULL */
	char *disks[FN_MAX_DISKS];
	unsigned ndisks;
	char *runtime, *code; /* malloc'd; a managed runtime's name and the code's zip, or NULL */
	char *layers[FN_MAX_LAYERS]; /* malloc'd: with code, its layers' zips, in order */
	unsigned nlayers;
	char *meta; /* malloc'd JSON object ("lambda": what the management API keeps of a
		       function it made: description, role, code hash and size, ...), or NULL */
	unsigned memory_mb, vcpus, timeout_s, concurrency, pool;
	enum fn_mode mode;
	unsigned recycle; /* mode clone: invocations a reused clone runs before it is replaced
			     (0: no limit) */
	unsigned idle_s;  /* mode clone: seconds a worker may wait for an invocation before it
			     ends (0: no limit) */
	char *env; /* "KEY=VALUE\n" lines, malloc'd, "" if none */
	double cpu; /* serve --jail: the CPUs all its VMs together may use (cpu.max of its
		       jail); 0: no limit */
};

/* Whether the function's invocations run in clones of a template (modes clone and fresh). */
static inline int fn_cloned(const struct fn_config *c)
{
	return c->mode == FN_MODE_CLONE || c->mode == FN_MODE_FRESH;
}

struct serve_config {
	struct fn_config fns[FN_MAX_FUNCTIONS];
	unsigned nfns;
};

/* Parse the configuration in text (len bytes); relative paths are taken from dir. Returns
 * 0, or -1 with the reason (naming the function and the field) in err. */
int serve_config_parse(const char *text, size_t len, const char *dir, struct serve_config *c,
		       char *err, size_t errlen);
/* Read and parse file path. */
int serve_config_load(const char *path, struct serve_config *c, char *err, size_t errlen);
void serve_config_free(struct serve_config *c);
void fn_config_free(struct fn_config *f); /* what one function's config holds; zeroed */
const struct fn_config *serve_config_find(const struct serve_config *c, const char *name);

#endif
