/* Small helpers shared by the VMM and its commands: parsing, time, files. */
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = 0;
	uint64_t v, mult = MiB;

	if (!s)
		return -1;
	while (isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = 0;
	if (parse_uint(num, UINT64_MAX, &v))
		return -1;
	const char *suf = s + n;
	if (*suf) {
		switch (toupper((unsigned char)*suf)) {
		case 'K': mult = KiB; break;
		case 'M': mult = MiB; break;
		case 'G': mult = GiB; break;
		case 'T': mult = 1024 * GiB; break;
		default: return -1;
		}
		suf++;
		if (*suf == 'i' || *suf == 'I')
			suf++;
		if (*suf == 'B' || *suf == 'b')
			suf++;
		if (*suf)
			return -1;
	}
	if (v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int parse_seconds(const char *s, uint64_t *ns)
{
	uint64_t whole = 0, frac = 0, scale = 1000000000ull;
	const char *dot = s ? strchr(s, '.') : NULL;
	char buf[32];

	if (!s || !*s || strlen(s) >= sizeof(buf))
		return -1;
	if (dot) {
		size_t wl = (size_t)(dot - s);
		memcpy(buf, s, wl);
		buf[wl] = 0;
		if (wl && parse_uint(buf, 1000000000ull, &whole))
			return -1;
		const char *f = dot + 1;
		if (!*f && !wl)
			return -1;
		for (; *f; f++) {
			if (!isdigit((unsigned char)*f))
				return -1;
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*f - '0') * scale;
			}
		}
	} else if (parse_uint(s, 1000000000ull, &whole)) {
		return -1;
	}
	*ns = whole * 1000000000ull + frac;
	return 0;
}

int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* /proc/PID/stat's fields after the command (which may hold ')'), from the state on, into
 * buf. Returns them, or NULL. */
static const char *proc_stat_fields(int pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p ? p + 1 : NULL;
}

int proc_parent_group(int pid, int *ppid, int *pgrp)
{
	char stat[512];
	const char *f = proc_stat_fields(pid, stat, sizeof(stat));
	return f && sscanf(f, " %*c %d %d", ppid, pgrp) == 2 ? 0 : -1;
}

int proc_cpu(int pid, struct proc_cpu *c)
{
	char stat[1024];
	unsigned long long ut, st;
	const char *f = proc_stat_fields(pid, stat, sizeof(stat));
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
	 * cutime cstime priority nice num_threads */
	if (!f || sscanf(f, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
			    "%*d %u", &ut, &st, &c->threads) != 3)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	c->user_us = ut * 1000000ull / (unsigned long long)hz;
	c->system_us = st * 1000000ull / (unsigned long long)hz;
	return 0;
}

int proc_memory(int pid, struct proc_memory *m)
{
	char path[64], line[256];
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps_rollup");
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	static const struct {
		const char *key;
		size_t field;
	} keys[] = {{"Rss:", offsetof(struct proc_memory, rss_kb)},
		    {"Pss:", offsetof(struct proc_memory, pss_kb)},
		    {"Pss_Anon:", offsetof(struct proc_memory, pss_anon_kb)},
		    {"Pss_File:", offsetof(struct proc_memory, pss_file_kb)},
		    {"Pss_Shmem:", offsetof(struct proc_memory, pss_shmem_kb)},
		    {"Private_Clean:", offsetof(struct proc_memory, private_kb)},
		    {"Private_Dirty:", offsetof(struct proc_memory, private_kb)}};
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		char key[32];
		unsigned long long v;
		if (sscanf(line, "%31s %llu kB", key, &v) != 2)
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i].key))
				*(uint64_t *)((char *)m + keys[i].field) += v;
	}
	fclose(f);
	return 0;
}

int read_file(const char *path, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = errno ? errno : EINVAL;
		if (S_ISDIR(st.st_mode))
			e = EISDIR;
		close(fd);
		errno = e;
		return -1;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(buf);
			close(fd);
			errno = e;
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	*data = buf;
	*len = size;
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

size_t base64_encode(const void *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = in;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

bool plain_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}
