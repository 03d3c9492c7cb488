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

/* A zip within Lambda's limit (what is checked before serve starts the function: the rest
 * is the guest's unzip's): its size into *len, or -1 with err. what: "its code", "its
 * layer 1", ... */
static int open_zip(const char *path, const char *what, uint64_t *len, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	unsigned char magic[4] = {0};
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		snprintf(err, errlen, "%s %s is not a file", what, path);
	else if ((uint64_t)st.st_size > FN_CODE_ZIP_MAX)
		snprintf(err, errlen, "%s %s is %llu bytes, over the %u a zip may have", what, path,
			 (unsigned long long)st.st_size, FN_CODE_ZIP_MAX);
	else if (read(fd, magic, 4) != 4 || magic[0] != 'P' || magic[1] != 'K' ||
		 !((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6)) ||
		 lseek(fd, 0, SEEK_SET) != 0)
		snprintf(err, errlen, "%s %s is not a zip", what, path);
	else {
		*len = (uint64_t)st.st_size;
		return fd;
	}
	close(fd);
	return -1;
}

/* len bytes from in to out at offset at. */
static int copy_at(int in, int out, uint64_t at, uint64_t len)
{
	char buf[65536];
	uint64_t done = 0;
	while (done < len) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n <= 0 || pwrite(out, buf, (size_t)n, (off_t)(at + done)) != n)
			return -1;
		done += (uint64_t)n;
	}
	return 0;
}

#define SECTOR_UP(x) (((x) + 511) / 512 * 512)

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
	/* The zip, then each layer's, each from a sector of its own, then the environment. */
	int fds[1 + FN_MAX_LAYERS];
	uint64_t at[1 + FN_MAX_LAYERS], len[1 + FN_MAX_LAYERS], end = 0;
	unsigned n = 0;
	int r = -1, disk = -1;
	for (; n < 1 + c->nlayers; n++) {
		char what[32] = "its code";
		if (n)
			snprintf(what, sizeof(what), "its layer %u", n);
		if ((fds[n] = open_zip(n ? c->layers[n - 1] : c->code, what, &len[n], err,
				       errlen)) < 0)
			goto out;
		at[n] = end;
		end = SECTOR_UP(end + len[n]);
	}
	const char *env = c->env ? c->env : "";
	uint64_t env_len = strlen(env);
	disk = open(disk_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (disk < 0) {
		snprintf(err, errlen, "cannot make its code's disk %s: %s", disk_path,
			 strerror(errno));
		goto out;
	}
	bool ok = true;
	for (unsigned i = 0; ok && i < n; i++)
		ok = copy_at(fds[i], disk, at[i], len[i]) == 0;
	ok = ok && pwrite(disk, env, env_len, (off_t)end) == (ssize_t)env_len &&
	     ftruncate(disk, (off_t)SECTOR_UP(end + env_len)) == 0;
	if (!ok) {
		snprintf(err, errlen, "cannot write its code's disk %s: %s", disk_path,
			 strerror(errno ? errno : EIO));
		unlink(disk_path);
		goto out;
	}
	snprintf(out->disk, sizeof(out->disk), "%s", disk_path);
	out->len = len[0];
	out->nlayers = c->nlayers;
	for (unsigned i = 0; i < c->nlayers; i++) {
		out->layer_at[i] = at[i + 1];
		out->layer_len[i] = len[i + 1];
	}
	out->env_at = end;
	out->env_len = env_len;
	r = 0;
out:
	if (disk >= 0)
		close(disk);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	return r;
}
