/* Small helpers shared by the VMM and its commands: parsing, time, files. */
#ifndef HF_UTIL_H
#define HF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

/* Parse a memory size: a number with an optional K, M, G or T suffix (binary units);
 * a plain number means MiB. Returns 0 and sets *out, or -1 on malformed input/overflow. */
int parse_size(const char *s, uint64_t *out);
/* Parse a non-negative decimal integer no larger than max. Returns 0 or -1. */
int parse_uint(const char *s, uint64_t max, uint64_t *out);
/* Parse seconds, possibly fractional ("2.5"), into nanoseconds. Returns 0 or -1. */
int parse_seconds(const char *s, uint64_t *ns);

/* Format a message into err (errlen bytes) and return -1: the error convention of the pure
 * parsers (ELF, boot protocol, control protocol). */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);
/* The host's MemAvailable (/proc/meminfo) in bytes; 0 if it cannot be read (errno says why). */
uint64_t host_mem_available(void);

/* Admission of new clones: the one place that decides whether a VMM (fork, template pool)
 * or serve may make more. max_clones: most live clones of one VM (0: no limit);
 * reserve_bytes: host memory kept free (0: off). */
struct clone_limits {
	unsigned max_clones;
	uint64_t reserve_bytes;
};
#define CLONE_LIMITS_MAX_DEFAULT 1024u  /* --max-clones default */
#define CLONE_LIMITS_RESERVE_DEFAULT_MIB 256u /* --reserve-memory default */
enum admission { ADMIT_OK, ADMIT_MAX_CLONES, ADMIT_MEMORY };
/* May count more clones be made, with live running now and avail bytes of host memory
 * available (host_mem_available(); 0: unknown, which a reserve refuses)? Pure. Returns
 * ADMIT_OK, or the limit met with why (whylen bytes) naming it, the current figure and the
 * flag that sets it. */
enum admission admit_clones(const struct clone_limits *l, unsigned live, unsigned count,
			    uint64_t avail, char *why, size_t whylen);
/* admit_clones with the host's memory read now (only if there is a reserve); a refusal for
 * memory that cannot be read says why (e.g. no file descriptor left). */
enum admission admit_clones_now(const struct clone_limits *l, unsigned live, unsigned count,
				char *why, size_t whylen);

/* Read a whole file into a malloc'd buffer. Returns 0, or -1 with errno set. */
int read_file(const char *path, uint8_t **data, size_t *len);

/* Write all of buf to fd, retrying on EINTR/short writes. Returns 0 or -1. */
int write_all(int fd, const void *buf, size_t len);

/* True if name is a valid VM name: 1..HF_NAME_MAX chars of [A-Za-z0-9_.-], not starting
 * with '.' or '-'. */
#define HF_NAME_MAX 64
bool valid_vm_name(const char *name);

/* The files of VM name in run directory dir: its control socket (RUN_FILE_SOCKET) and a
 * clone's console file (RUN_FILE_CONSOLE). Written into buf (len bytes). */
#define RUN_FILE_SOCKET ".sock"
#define RUN_FILE_CONSOLE ".console"
/* The sockets a VM listens on in the run directory (control, function, vsock in the
 * default place): removed by the VM when it ends, by whoever reaps it when it is killed. */
extern const char *const run_file_sockets[3];
void run_file(char *buf, size_t len, const char *dir, const char *name, const char *ext);

/* Listen on a Unix stream socket at path (non-blocking, close-on-exec, backlog 128). A
 * socket file left by a process that is gone (nothing accepts on it) is replaced; one a
 * live process listens on fails with EADDRINUSE. Returns the fd, or -1 with errno. */
int unix_listen(const char *path);

/* Base64 (RFC 4648, with padding) of len bytes of in into out, which has room for
 * BASE64_LEN(len) bytes (its NUL included). Returns the length written. */
#define BASE64_LEN(len) (4 * (((size_t)(len) + 2) / 3) + 1)
size_t base64_encode(const void *in, size_t len, char *out);

#endif
