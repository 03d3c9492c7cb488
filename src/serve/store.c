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

/* A version being written: a new directory parent/.new.XXXXXX (its path into tmp) holding
 * json_name, json, synced. Returns 0, or -1 with err (nothing left). */
static int stage(const char *parent, char *tmp, size_t tmplen, const char *json_name,
		 const char *json, char *err, size_t errlen)
{
	char path[4500];
	snprintf(tmp, tmplen, "%s/.new.XXXXXX", parent);
	if (!mkdtemp(tmp))
		return fail(err, errlen, "cannot make", tmp);
	snprintf(path, sizeof(path), "%s/%s", tmp, json_name);
	if (write_synced(path, json, strlen(json)) < 0) {
		fail(err, errlen, "cannot write", path);
		int e = errno;
		remove_tree(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* Put staged version tmp whole in place at final (parent's), synced: a crash leaves it
 * there or not at all. Returns 0, or -1 with err (tmp left for the caller). */
static int put_in_place(const char *tmp, const char *final, const char *parent, char *err,
			size_t errlen)
{
	if (sync_dir(tmp) < 0 || rename(tmp, final) < 0)
		return fail(err, errlen, "cannot put in place", final);
	sync_dir(parent);
	return 0;
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
	static const char *const subs[] = {"functions", "versions", "layers"};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
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
	/* Layers: versions half written (.new.*), being deleted (.del.*), a number being
	 * written (.latest.*). */
	snprintf(path, sizeof(path), "%s/layers", dir);
	if ((d = opendir(path))) {
		for (struct dirent *e; (e = readdir(d));) {
			if (e->d_name[0] == '.')
				continue;
			char ldir[4200];
			snprintf(ldir, sizeof(ldir), "%s/%s", path, e->d_name);
			DIR *l = opendir(ldir);
			for (struct dirent *f; l && (f = readdir(l));) {
				if (f->d_name[0] != '.' || !strcmp(f->d_name, ".") ||
				    !strcmp(f->d_name, ".."))
					continue;
				char leftover[4500];
				snprintf(leftover, sizeof(leftover), "%s/%s", ldir, f->d_name);
				if (unlink(leftover) < 0)
					remove_tree(leftover);
			}
			if (l)
				closedir(l);
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
	return store_put_layered(st, name, json, zip, len, NULL, 0, create, vdir, vdirlen, err,
				 errlen);
}

int store_put_layered(struct store *st, const char *name, const char *json, const void *zip,
		      size_t len, const char *const *layers, unsigned nlayers, bool create,
		      char *vdir, size_t vdirlen, char *err, size_t errlen)
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
	char versions[4200];
	snprintf(versions, sizeof(versions), "%s/versions", st->dir);
	if (stage(versions, tmp, sizeof(tmp), FUNCTION_JSON, json, err, errlen) < 0)
		return -1;
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
	/* Its layers: links to immutable files (a layer version's, or the old version's). */
	for (unsigned i = 0; i < nlayers; i++) {
		snprintf(path, sizeof(path), "%s/layer%u.zip", tmp, i + 1);
		if (link(layers[i], path) < 0) {
			fail(err, errlen, "cannot link its layer", layers[i]);
			goto undo;
		}
	}
	crash_point(1);
	uint64_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
		fail(err, errlen, "no random bytes for", "a version's name");
		goto undo;
	}
	snprintf(target, sizeof(target), "%s.%016llx", name, (unsigned long long)id);
	snprintf(final, sizeof(final), "%s/%s", versions, target);
	if (put_in_place(tmp, final, versions, err, errlen) < 0)
		goto undo;
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

struct code_total {
	const char *except;
	unsigned long long bytes;
};

static void add_code(const char *name, const char *vdir, void *arg)
{
	struct code_total *t = arg;
	char path[4300];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/code.zip", vdir);
	if ((!t->except || strcmp(name, t->except)) && stat(path, &sb) == 0)
		t->bytes += (unsigned long long)sb.st_size;
}

struct layer_total {
	struct store *st;
	unsigned long long bytes;
};

static void add_layer(const char *name, void *arg)
{
	struct layer_total *t = arg;
	struct store *st = t->st;
	unsigned *v = NULL;
	int n = store_layer_versions(st, name, &v);
	for (int i = 0; i < n; i++) {
		char path[4400];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/layers/%s/%u/content.zip", st->dir, name, v[i]);
		if (stat(path, &sb) == 0)
			t->bytes += (unsigned long long)sb.st_size;
	}
	free(v);
}

unsigned long long store_code_bytes(struct store *st, const char *except)
{
	struct code_total t = {except, 0};
	store_each(st, add_code, &t);
	struct layer_total l = {st, 0};
	store_layer_each(st, add_layer, &l);
	return t.bytes + l.bytes;
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

/* ---- layers ------------------------------------------------------------------------- */

#define LAYER_JSON "layer.json"
#define LAYER_ZIP "content.zip"

unsigned store_layer_number(const char *s)
{
	if (s[0] < '1' || s[0] > '9' || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
		return 0;
	return (unsigned)strtoul(s, NULL, 10);
}

/* What layer directory ldir's latest file says (0: none). */
static unsigned latest_file(const char *ldir)
{
	char path[4300];
	unsigned latest = 0;
	snprintf(path, sizeof(path), "%s/latest", ldir);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%u", &latest) != 1)
			latest = 0;
		fclose(f);
	}
	return latest;
}

/* The highest number layer directory ldir ever gave (its latest file; its versions). */
static unsigned layer_latest(const char *ldir)
{
	unsigned latest = latest_file(ldir), v;
	DIR *d = opendir(ldir);
	for (struct dirent *e; d && (e = readdir(d));)
		if ((v = store_layer_number(e->d_name)) > latest)
			latest = v;
	if (d)
		closedir(d);
	return latest;
}

/* Write v as ldir's latest number, whole (another name, synced, renamed). */
static int layer_set_latest(const char *ldir, unsigned v)
{
	char tmp[4300], path[4300], text[16];
	snprintf(tmp, sizeof(tmp), "%s/.latest.XXXXXX", ldir);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	int n = snprintf(text, sizeof(text), "%u\n", v);
	int r = write_all(fd, text, (size_t)n) < 0 || fsync(fd) < 0 ? -1 : 0;
	close(fd);
	snprintf(path, sizeof(path), "%s/latest", ldir);
	if (r < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return sync_dir(ldir);
}

int store_layer_put(struct store *st, const char *name, const char *json, const void *zip,
		    size_t len, unsigned *version, char *dir, size_t dirlen, char *err,
		    size_t errlen)
{
	char ldir[4300], tmp[4400], path[4500], final[4400];
	if (!plain_name(name, STORE_LAYER_NAME_MAX)) {
		snprintf(err, errlen, "not a layer's name: %.64s", name);
		errno = EINVAL;
		return -1;
	}
	snprintf(ldir, sizeof(ldir), "%s/layers/%s", st->dir, name);
	if (mkdir(ldir, 0700) == 0) {
		snprintf(path, sizeof(path), "%s/layers", st->dir);
		sync_dir(path);
	} else if (errno != EEXIST) {
		return fail(err, errlen, "cannot make", ldir);
	}
	unsigned v = layer_latest(ldir) + 1;
	if (stage(ldir, tmp, sizeof(tmp), LAYER_JSON, json, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/" LAYER_ZIP, tmp);
	if (write_synced(path, zip, len) < 0) {
		fail(err, errlen, "cannot write", path);
		goto undo;
	}
	crash_point(1);
	/* (rename fails if a version of that number is there: none is overwritten) */
	snprintf(final, sizeof(final), "%s/%u", ldir, v);
	if (put_in_place(tmp, final, ldir, err, errlen) < 0)
		goto undo;
	crash_point(2);
	if (layer_set_latest(ldir, v) < 0) /* (the version is there: its number is taken anyway) */
		fail(err, errlen, "cannot write the latest number of", ldir);
	crash_point(3);
	*version = v;
	snprintf(dir, dirlen, "%s", final);
	return 0;
undo: {
	int e = errno;
	remove_tree(tmp);
	errno = e;
	return -1;
}
}

int store_layer_version(struct store *st, const char *name, unsigned version, char *dir,
			size_t dirlen)
{
	struct stat sb;
	if (!plain_name(name, STORE_LAYER_NAME_MAX) || !version) {
		errno = ENOENT;
		return -1;
	}
	snprintf(dir, dirlen, "%s/layers/%s/%u", st->dir, name, version);
	if (lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int store_layer_delete(struct store *st, const char *name, unsigned version)
{
	char dir[4400], ldir[4300], gone[4400];
	if (store_layer_version(st, name, version, dir, sizeof(dir)) < 0)
		return -1;
	snprintf(ldir, sizeof(ldir), "%s/layers/%s", st->dir, name);
	/* Its number stays taken, even if it was the last: the latest file says so first. */
	if (latest_file(ldir) < version && layer_set_latest(ldir, version) < 0)
		return -1;
	snprintf(gone, sizeof(gone), "%s/.del.%u", ldir, version);
	if (rename(dir, gone) < 0)
		return -1;
	sync_dir(ldir);
	remove_tree(gone);
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

int store_layer_versions(struct store *st, const char *name, unsigned **versions)
{
	char ldir[4300];
	*versions = NULL;
	if (!plain_name(name, STORE_LAYER_NAME_MAX))
		return 0;
	snprintf(ldir, sizeof(ldir), "%s/layers/%s", st->dir, name);
	DIR *d = opendir(ldir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	unsigned *v = NULL, n = 0, cap = 0, x;
	for (struct dirent *e; (e = readdir(d));) {
		if (!(x = store_layer_number(e->d_name)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			unsigned *grown = realloc(v, cap * sizeof(*v));
			if (!grown) {
				free(v);
				closedir(d);
				return -1;
			}
			v = grown;
		}
		v[n++] = x;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_unsigned);
	*versions = v;
	return (int)n;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int layer_entry(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

void store_layer_each(struct store *st, void (*fn)(const char *name, void *arg), void *arg)
{
	char path[4200];
	struct dirent **names;
	snprintf(path, sizeof(path), "%s/layers", st->dir);
	int n = scandir(path, &names, layer_entry, cmp_names);
	for (int i = 0; i < n; i++) {
		unsigned *v;
		if (store_layer_versions(st, names[i]->d_name, &v) > 0)
			fn(names[i]->d_name, arg);
		free(v);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}
