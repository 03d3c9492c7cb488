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
/* Whether s is 1 to max characters of [A-Za-z0-9_-] (the names serve's functions and
 * layers take, as Lambda's). */
bool plain_name(const char *s, size_t max);
/* Parse seconds, possibly fractional ("2.5"), into nanoseconds. Returns 0 or -1. */
int parse_seconds(const char *s, uint64_t *ns);

/* Format a message into err (errlen bytes) and return -1: the error convention of the pure
 * parsers (ELF, boot protocol, control protocol). */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);
/* The wall clock (CLOCK_REALTIME) in microseconds since the Unix epoch. */
uint64_t wall_us(void);

/* Process pid's parent and process group, from /proc/PID/stat. Returns 0, or -1 (no such
 * process, or unreadable). */
int proc_parent_group(int pid, int *ppid, int *pgrp);

/* What /proc/PID/stat tells of a process: its CPU time (user, system) and threads. */
struct proc_cpu {
	uint64_t user_us, system_us;
	unsigned threads;
};
int proc_cpu(int pid, struct proc_cpu *c);

/* A process's memory, from /proc/PID/smaps_rollup (pid 0: this one), in KiB: resident,
 * proportional (shared pages split among their sharers), and its own pages. Returns 0, or
 * -1 (no such process, or unreadable). */
struct proc_memory {
	uint64_t rss_kb, pss_kb, pss_anon_kb, pss_file_kb, pss_shmem_kb, private_kb;
};
int proc_memory(int pid, struct proc_memory *m);

/* Read a whole file into a malloc'd buffer. Returns 0, or -1 with errno set. */
int read_file(const char *path, uint8_t **data, size_t *len);

/* Write all of buf to fd, retrying on EINTR/short writes. Returns 0 or -1. */
int write_all(int fd, const void *buf, size_t len);

/* Base64 (RFC 4648, with padding) of len bytes of in into out, which has room for
 * BASE64_LEN(len) bytes (its NUL included). Returns the length written. */
#define BASE64_LEN(len) (4 * (((size_t)(len) + 2) / 3) + 1)
size_t base64_encode(const void *in, size_t len, char *out);

#endif
