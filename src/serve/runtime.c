/* A managed runtime's function: its runtime's image and its code's disk. */
#include "serve/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

void fn_binary_dir(char *dir, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	snprintf(dir, len, "%s", n > 0 ? dirname(exe) : ".");
}

/* The zip (len bytes from in) and the environment after it, at the next sector, into the
 * new file path, padded to whole sectors. */
static int copy_padded(int in, const char *path, uint64_t len, const char *env, char *err,
		       size_t errlen)
{
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (out < 0) {
		snprintf(err, errlen, "cannot make its code's disk %s: %s", path, strerror(errno));
		return -1;
	}
	char buf[65536];
	uint64_t done = 0;
	while (done < len) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n <= 0 || write_all(out, buf, (size_t)n) < 0)
			break;
		done += (uint64_t)n;
	}
	int e = errno;
	uint64_t env_at = (len + 511) / 512 * 512, env_len = strlen(env);
	bool ok = done == len && pwrite(out, env, env_len, (off_t)env_at) == (ssize_t)env_len &&
		  ftruncate(out, (off_t)((env_at + env_len + 511) / 512 * 512)) == 0;
	close(out);
	if (!ok) {
		snprintf(err, errlen, "cannot write its code's disk %s: %s", path,
			 done == len ? strerror(errno) : strerror(e));
		unlink(path);
		return -1;
	}
	return 0;
}

int fn_code_prepare(const struct fn_config *c, const char *runtimes_dir, const char *disk_path,
		    struct fn_code *out, char *err, size_t errlen)
{
	struct stat st;
	memset(out, 0, sizeof(*out));
	snprintf(out->image, sizeof(out->image), "%s/%s.img", runtimes_dir, c->runtime);
	if (stat(out->image, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "runtime %s: no image at %s (`make runtimes` builds it, or "
			 "serve --runtimes DIR names where it is)", c->runtime, out->image);
		return -1;
	}
	int fd = open(c->code, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open its code %s: %s", c->code, strerror(errno));
		return -1;
	}
	unsigned char magic[4] = {0};
	int r = -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		snprintf(err, errlen, "its code %s is not a file", c->code);
	else if ((uint64_t)st.st_size > FN_CODE_ZIP_MAX)
		snprintf(err, errlen, "its code %s is %llu bytes, over the %u a zip may have",
			 c->code, (unsigned long long)st.st_size, FN_CODE_ZIP_MAX);
	else if (read(fd, magic, 4) != 4 || magic[0] != 'P' || magic[1] != 'K' ||
		 !((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6)) ||
		 lseek(fd, 0, SEEK_SET) != 0)
		snprintf(err, errlen, "its code %s is not a zip", c->code);
	else if (copy_padded(fd, disk_path, (uint64_t)st.st_size, c->env ? c->env : "", err,
			     errlen) == 0) {
		snprintf(out->disk, sizeof(out->disk), "%s", disk_path);
		out->len = (uint64_t)st.st_size;
		out->env_at = (out->len + 511) / 512 * 512;
		out->env_len = c->env ? strlen(c->env) : 0;
		r = 0;
	}
	close(fd);
	return r;
}
