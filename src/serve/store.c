/* serve's state directory: functions written whole or not at all (see store.h). */
#include "serve/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/rundir.h"
#include "util/util.h"

#define FUNCTION_JSON "function.json"
#define CODE_ZIP "code.zip"

/* A test's hook: HF_TEST_STORE_KILL=N kills the process at step N of a write (1: the
 * version's files written, 2: it renamed into place, 3: linked), as a crash there would. */
static void crash_point(int n)
{
	const char *k = getenv("HF_TEST_STORE_KILL");
	if (k && atoi(k) == n)
		raise(SIGKILL);
}

static int fail(char *err, size_t errlen, const char *what, const char *path)
{
	int e = errno;
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
	errno = e;
	return -1;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

/* Write len bytes of data to path (a new file), synced. */
static int write_synced(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	int r = write_all(fd, data, len) < 0 || fsync(fd) < 0 ? -1 : 0;
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

int store_open(struct store *st, const char *dir, char *err, size_t errlen)
{
	char path[4200];
	if (strlen(dir) > sizeof(st->dir) - 128) {
		snprintf(err, errlen, "the state directory %s is too long a path", dir);
		return -1;
	}
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, "cannot make the state directory", dir);
	struct stat sb;
	if (lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return fail(err, errlen, "not a directory:", dir);
	if (sb.st_mode & 022) {
		snprintf(err, errlen, "the state directory %s may be written by others (mode %o)",
			 dir, sb.st_mode & 0777);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, i ? "versions" : "functions");
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return fail(err, errlen, "cannot make", path);
	}
	/* What a kill left: versions no link names (and half-written ones, .new.*), links
	 * being made (.link.*). */
	snprintf(path, sizeof(path), "%s/versions", dir);
	DIR *d = opendir(path);
	if (!d)
		return fail(err, errlen, "cannot read", path);
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char name[256], link[4200], target[600], vdir[4200];
		snprintf(name, sizeof(name), "%s", e->d_name);
		char *dot = strrchr(name, '.');
		bool named = false;
		if (dot && name[0] != '.') {
			*dot = 0;
			snprintf(link, sizeof(link), "%s/functions/%s", dir, name);
			ssize_t n = readlink(link, target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = 0;
				named = !strcmp(strrchr(target, '/') ? strrchr(target, '/') + 1 : target,
						e->d_name);
			}
		}
		if (!named) {
			snprintf(vdir, sizeof(vdir), "%s/%s", path, e->d_name);
			remove_tree(vdir);
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/functions", dir);
	if ((d = opendir(path))) {
		for (struct dirent *e; (e = readdir(d));) {
			if (!strncmp(e->d_name, ".link.", 6)) {
				char link[4200];
				snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
				unlink(link);
			}
		}
		closedir(d);
	}
	return 0;
}

int store_version(struct store *st, const char *name, char *vdir, size_t vdirlen)
{
	char link[4200], target[600];
	snprintf(link, sizeof(link), "%s/functions/%s", st->dir, name);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0) {
		errno = ENOENT;
		return -1;
	}
	target[n] = 0;
	const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	snprintf(vdir, vdirlen, "%s/versions/%s", st->dir, base);
	return 0;
}

int store_put(struct store *st, const char *name, const char *json, const void *zip,
	      size_t len, bool create, char *vdir, size_t vdirlen, char *err, size_t errlen)
{
	char tmp[4200], path[4300], old[4200], final[4200], lnk[4200], target[600];
	bool had = store_version(st, name, old, sizeof(old)) == 0;
	if (create && had) {
		snprintf(err, errlen, "Function already exist: %s", name);
		errno = EEXIST;
		return -1;
	}
	if (!create && !had) {
		snprintf(err, errlen, "no function %s is stored", name);
		errno = ENOENT;
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/versions/.new.XXXXXX", st->dir);
	if (!mkdtemp(tmp))
		return fail(err, errlen, "cannot make", tmp);
	snprintf(path, sizeof(path), "%s/" FUNCTION_JSON, tmp);
	if (write_synced(path, json, strlen(json)) < 0) {
		fail(err, errlen, "cannot write", path);
		goto undo;
	}
	snprintf(path, sizeof(path), "%s/" CODE_ZIP, tmp);
	int w;
	if (zip) {
		w = write_synced(path, zip, len);
	} else { /* the same code: the current version's file, linked */
		char from[4300];
		snprintf(from, sizeof(from), "%s/" CODE_ZIP, old);
		w = link(from, path);
	}
	if (w < 0) {
		fail(err, errlen, "cannot write", path);
		goto undo;
	}
	crash_point(1);
	uint64_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
		fail(err, errlen, "no random bytes for", "a version's name");
		goto undo;
	}
	snprintf(target, sizeof(target), "%s.%016llx", name, (unsigned long long)id);
	snprintf(final, sizeof(final), "%s/versions/%s", st->dir, target);
	if (sync_dir(tmp) < 0 || rename(tmp, final) < 0) {
		fail(err, errlen, "cannot put in place", final);
		goto undo;
	}
	snprintf(path, sizeof(path), "%s/versions", st->dir);
	sync_dir(path);
	crash_point(2);
	/* The link: made (create: fails if another create of name came first) or replaced. */
	char rel[700];
	snprintf(rel, sizeof(rel), "../versions/%s", target);
	snprintf(lnk, sizeof(lnk), "%s/functions/%s", st->dir, name);
	int r;
	if (create) {
		r = symlink(rel, lnk);
	} else {
		char tmplink[4300];
		snprintf(tmplink, sizeof(tmplink), "%s/functions/.link.%016llx", st->dir,
			 (unsigned long long)id);
		r = symlink(rel, tmplink) < 0 ? -1 : rename(tmplink, lnk);
		if (r < 0)
			unlink(tmplink);
	}
	if (r < 0) {
		int e = errno;
		if (e == EEXIST)
			snprintf(err, errlen, "Function already exist: %s", name);
		else
			fail(err, errlen, "cannot link", lnk);
		remove_tree(final);
		errno = e;
		return -1;
	}
	snprintf(path, sizeof(path), "%s/functions", st->dir);
	sync_dir(path);
	crash_point(3);
	if (had)
		remove_tree(old);
	snprintf(vdir, vdirlen, "%s", final);
	return 0;
undo: {
	int e = errno;
	remove_tree(tmp);
	errno = e;
	return -1;
}
}

int store_delete(struct store *st, const char *name)
{
	char vdir[4200], link[4200];
	if (store_version(st, name, vdir, sizeof(vdir)) < 0)
		return -1;
	snprintf(link, sizeof(link), "%s/functions/%s", st->dir, name);
	if (unlink(link) < 0)
		return -1;
	snprintf(link, sizeof(link), "%s/functions", st->dir);
	sync_dir(link);
	remove_tree(vdir);
	return 0;
}

void store_each(struct store *st, void (*fn)(const char *name, const char *vdir, void *arg),
		void *arg)
{
	char path[4200], vdir[4200];
	snprintf(path, sizeof(path), "%s/functions", st->dir);
	DIR *d = opendir(path);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.' && store_version(st, e->d_name, vdir, sizeof(vdir)) == 0)
			fn(e->d_name, vdir, arg);
	closedir(d);
}
