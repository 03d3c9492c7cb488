/* Small helpers shared by the VMM and its commands: parsing, time, files. */
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

bool valid_vm_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > HF_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!isalnum((unsigned char)c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

const char *const run_file_sockets[3] = {RUN_FILE_SOCKET, ".fn", ".vsock"};

void run_file(char *buf, size_t len, const char *dir, const char *name, const char *ext)
{
	snprintf(buf, len, "%s/%s%s", dir, name, ext);
}

int unix_listen(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	if (r < 0 && errno == EADDRINUSE) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (probe >= 0)
			close(probe);
		errno = EADDRINUSE;
		if (!live) {
			unlink(a.sun_path); /* stale: its process is gone */
			r = bind(fd, (struct sockaddr *)&a, sizeof(a));
		}
	}
	if (r < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
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

uint64_t host_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	if (!f)
		return 0; /* errno says why */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	if (!kb)
		errno = ENODATA;
	return (uint64_t)kb * 1024;
}

enum admission admit_clones(const struct clone_limits *l, unsigned live, unsigned count,
			    uint64_t avail, char *why, size_t whylen)
{
	if (l->max_clones && (live >= l->max_clones || count > l->max_clones - live)) {
		snprintf(why, whylen,
			 "clone limit reached: %u live clone(s) and %u more asked for, over the "
			 "%u allowed (hyperfork run --max-clones)",
			 live, count, l->max_clones);
		return ADMIT_MAX_CLONES;
	}
	if (l->reserve_bytes && avail < l->reserve_bytes) {
		if (avail == 0)
			snprintf(why, whylen,
				 "host memory reserve: the memory available cannot be read "
				 "(/proc/meminfo MemAvailable), so the %llu MiB reserve cannot be kept "
				 "(--reserve-memory 0 turns the check off)",
				 (unsigned long long)(l->reserve_bytes >> 20));
		else
			snprintf(why, whylen,
				 "host memory reserve reached: the host has %llu MiB of memory "
				 "available, below the %llu MiB kept in reserve (--reserve-memory)",
				 (unsigned long long)(avail >> 20),
				 (unsigned long long)(l->reserve_bytes >> 20));
		return ADMIT_MEMORY;
	}
	if (whylen)
		why[0] = 0;
	return ADMIT_OK;
}

enum admission admit_clones_now(const struct clone_limits *l, unsigned live, unsigned count,
				char *why, size_t whylen)
{
	uint64_t avail = l->reserve_bytes ? host_mem_available() : 0;
	int err = errno;
	enum admission a = admit_clones(l, live, count, avail, why, whylen);
	size_t n = strlen(why);
	if (a == ADMIT_MEMORY && !avail && n + 1 < whylen)
		snprintf(why + n, whylen - n, ": %s", strerror(err));
	return a;
}
