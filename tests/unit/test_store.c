/* serve's state directory (store.c) and its zip check (zipcheck.c): a function is written
 * whole or not at all, even by a process killed at each step of a write; a crash's leftovers
 * are removed at the next open; zips that would unpack outside /var/task, or too large,
 * are refused. Layer versions: numbered from 1, never reused, written whole; a function's
 * copies of them outlive them. A managed runtime's code disk (runtime.c): the zip, then its
 * layers' zips, then the environment, each from a sector of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>

#include "serve/runtime.h"
#include "serve/store.h"
#include "serve/zipcheck.h"
#include "util/rundir.h"
#include "util/util.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hf-store.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_tree(dir);
	return 0;
}

static char *slurp(const char *path)
{
	uint8_t *d;
	size_t n;
	if (read_file(path, &d, &n) < 0)
		return NULL;
	char *s = realloc(d, n + 1);
	s[n] = 0;
	return s;
}

/* The current version's function.json of name, or NULL. */
static char *json_of(struct store *st, const char *name)
{
	char vdir[4200], path[4300];
	if (store_version(st, name, vdir, sizeof(vdir)) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/function.json", vdir);
	return slurp(path);
}

static unsigned entries(const char *sub)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls -A %s/%s | wc -l", dir, sub);
	FILE *p = popen(cmd, "r");
	unsigned n = 0;
	assert_int_equal(fscanf(p, "%u", &n), 1);
	pclose(p);
	return n;
}

static void test_put_update_delete(void **state)
{
	(void)state;
	struct store st;
	char err[600], vdir[4200], path[4300];
	assert_int_equal(store_open(&st, dir, err, sizeof(err)), 0);
	assert_int_equal(store_put(&st, "f", "{\"v\":1}", "PKzip1", 6, true, vdir, sizeof(vdir),
				   err, sizeof(err)), 0);
	char *j = json_of(&st, "f");
	assert_string_equal(j, "{\"v\":1}");
	free(j);
	/* A second create of the name is refused, the first kept. */
	assert_int_equal(store_put(&st, "f", "{\"v\":9}", "PK", 2, true, vdir, sizeof(vdir), err,
				   sizeof(err)), -1);
	assert_string_equal(err, "Function already exist: f");
	/* A configuration change keeps the code; the old version goes. */
	assert_int_equal(store_put(&st, "f", "{\"v\":2}", NULL, 0, false, vdir, sizeof(vdir), err,
				   sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/code.zip", vdir);
	char *code = slurp(path);
	assert_string_equal(code, "PKzip1");
	free(code);
	assert_int_equal(entries("versions"), 1);
	/* An update of a function there is not is refused. */
	assert_int_equal(store_put(&st, "g", "{}", NULL, 0, false, vdir, sizeof(vdir), err,
				   sizeof(err)), -1);
	assert_int_equal(store_delete(&st, "f"), 0);
	assert_null(json_of(&st, "f"));
	assert_int_equal(entries("versions") + entries("functions"), 0);
	assert_int_equal(store_delete(&st, "f"), -1);
}

/* A process killed at each step of a create, then of an update: at the next open the
 * function is as it was or as it was to become, whole, and nothing else is left. */
static void test_killed_mid_write(void **state)
{
	(void)state;
	struct store st;
	char err[600], vdir[4200];
	assert_int_equal(store_open(&st, dir, err, sizeof(err)), 0);
	for (int step = 1; step <= 3; step++) {
		for (int update = 0; update < 2; update++) {
			if (update)
				assert_int_equal(store_put(&st, "k", "{\"v\":\"old\"}", "PKold", 5,
							   true, vdir, sizeof(vdir), err,
							   sizeof(err)), 0);
			pid_t pid = fork();
			if (pid == 0) {
				char n[4];
				snprintf(n, sizeof(n), "%d", step);
				setenv("HF_TEST_STORE_KILL", n, 1);
				store_put(&st, "k", "{\"v\":\"new\"}", "PKnew", 5, !update, vdir,
					  sizeof(vdir), err, sizeof(err));
				_exit(0);
			}
			int status;
			assert_int_equal(waitpid(pid, &status, 0), pid);
			assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
			assert_int_equal(store_open(&st, dir, err, sizeof(err)), 0);
			char *j = json_of(&st, "k");
			const char *want = step == 3 ? "{\"v\":\"new\"}"
					   : update  ? "{\"v\":\"old\"}"
						     : NULL;
			if (want)
				assert_string_equal(j, want);
			else
				assert_null(j);
			free(j);
			/* one version at most beyond the current one: the one a step-3 kill did
			 * not remove yet is removed by the open, so exactly what is linked */
			assert_int_equal(entries("versions"), want ? 1 : 0);
			assert_int_equal(entries("functions"), want ? 1 : 0);
			store_delete(&st, "k");
		}
	}
}

static char *file_of(const char *d, const char *name)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", d, name);
	return slurp(path);
}

static void print_name(const char *name, void *arg)
{
	fprintf(arg, "%s ", name);
}

/* Layer versions: numbered from 1, listed, deleted; a number is never given twice (not even
 * once every version is gone, nor after a reopen); a function's copy of one outlives it. */
static void test_layers(void **state)
{
	(void)state;
	struct store st;
	char err[600], ldir[4300], vdir[4200], path[4400];
	unsigned v = 0, *vs;
	assert_int_equal(store_open(&st, dir, err, sizeof(err)), 0);
	assert_int_equal(store_layer_versions(&st, "deps", &vs), 0);
	assert_null(vs);
	assert_int_equal(store_layer_put(&st, "deps", "{\"n\":1}", "PKone", 5, &v, ldir,
					 sizeof(ldir), err, sizeof(err)), 0);
	assert_int_equal(v, 1);
	assert_int_equal(store_layer_put(&st, "deps", "{\"n\":2}", "PKtwo", 5, &v, ldir,
					 sizeof(ldir), err, sizeof(err)), 0);
	assert_int_equal(v, 2);
	char *c = file_of(ldir, "content.zip"), *j = file_of(ldir, "layer.json");
	assert_string_equal(c, "PKtwo");
	assert_string_equal(j, "{\"n\":2}");
	free(c);
	free(j);
	assert_int_equal(store_layer_put(&st, "other", "{}", "PKo", 3, &v, ldir, sizeof(ldir), err,
					 sizeof(err)), 0);
	assert_int_equal(v, 1);
	assert_int_equal(store_layer_put(&st, "../x", "{}", "PK", 2, &v, ldir, sizeof(ldir), err,
					 sizeof(err)), -1);
	assert_int_equal(store_layer_versions(&st, "deps", &vs), 2);
	assert_int_equal(vs[0], 1);
	assert_int_equal(vs[1], 2);
	free(vs);
	/* the code bytes count each layer version's zip */
	assert_int_equal(store_code_bytes(&st, NULL), 5 + 5 + 3);
	/* A function with deps:1 and other:1 keeps its own copies. */
	const char *src[2];
	char s1[4400], s2[4400];
	assert_int_equal(store_layer_version(&st, "deps", 1, ldir, sizeof(ldir)), 0);
	snprintf(s1, sizeof(s1), "%s/content.zip", ldir);
	assert_int_equal(store_layer_version(&st, "other", 1, ldir, sizeof(ldir)), 0);
	snprintf(s2, sizeof(s2), "%s/content.zip", ldir);
	src[0] = s1;
	src[1] = s2;
	assert_int_equal(store_put_layered(&st, "f", "{}", "PKf", 3, src, 2, true, vdir,
					   sizeof(vdir), err, sizeof(err)), 0);
	/* versions deleted: gone from the lists, the function's copies stay */
	assert_int_equal(store_layer_delete(&st, "deps", 1), 0);
	assert_int_equal(store_layer_delete(&st, "deps", 1), -1);
	assert_int_equal(store_layer_version(&st, "deps", 1, ldir, sizeof(ldir)), -1);
	assert_int_equal(store_layer_delete(&st, "other", 1), 0);
	c = file_of(vdir, "layer1.zip");
	assert_string_equal(c, "PKone");
	free(c);
	c = file_of(vdir, "layer2.zip");
	assert_string_equal(c, "PKo");
	free(c);
	/* a configuration change carries them on (linked from the old version) */
	char old[4200], o1[4400], o2[4400];
	snprintf(old, sizeof(old), "%s", vdir);
	snprintf(o1, sizeof(o1), "%s/layer1.zip", old);
	snprintf(o2, sizeof(o2), "%s/layer2.zip", old);
	src[0] = o2;
	src[1] = o1;
	assert_int_equal(store_put_layered(&st, "f", "{\"v\":2}", NULL, 0, src, 2, false, vdir,
					   sizeof(vdir), err, sizeof(err)), 0);
	c = file_of(vdir, "layer1.zip");
	assert_string_equal(c, "PKo");
	free(c);
	snprintf(path, sizeof(path), "%s", old);
	struct stat sb;
	assert_int_equal(stat(path, &sb), -1); /* the old version went */
	/* Numbers are not reused: other has none left, yet its next is 2; also after a
	 * reopen. */
	unsigned n = 0;
	assert_int_equal(store_layer_versions(&st, "other", &vs), 0);
	free(vs);
	assert_int_equal(store_open(&st, dir, err, sizeof(err)), 0);
	assert_int_equal(store_layer_put(&st, "other", "{}", "PKo2", 4, &n, ldir, sizeof(ldir), err,
					 sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_layer_put(&st, "deps", "{}", "PK3", 3, &n, ldir, sizeof(ldir), err,
					 sizeof(err)), 0);
	assert_int_equal(n, 3);
	/* every layer with a version, by name */
	FILE *out = tmpfile();
	store_layer_each(&st, print_name, out);
	rewind(out);
	char names[64] = "";
	assert_non_null(fgets(names, sizeof(names), out));
	fclose(out);
	assert_string_equal(names, "deps other ");
}

/* A process killed at each step of a layer's publication: at the next open the version is
 * there whole (its number taken) or not at all, and nothing else is left. */
static void test_layer_killed_mid_write(void **state)
{
	(void)state;
	struct store st;
	char err[600], ldir[4300];
	unsigned v;
	assert_int_equal(store_open(&st, dir, err, sizeof(err)), 0);
	for (int step = 1; step <= 3; step++) {
		pid_t pid = fork();
		if (pid == 0) {
			char n[4];
			snprintf(n, sizeof(n), "%d", step);
			setenv("HF_TEST_STORE_KILL", n, 1);
			store_layer_put(&st, "k", "{\"v\":\"new\"}", "PKnew", 5, &v, ldir,
					sizeof(ldir), err, sizeof(err));
			_exit(0);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		assert_int_equal(store_open(&st, dir, err, sizeof(err)), 0);
		unsigned *vs;
		int n = store_layer_versions(&st, "k", &vs);
		assert_int_equal(n, step == 1 ? 0 : 1);
		if (n) {
			assert_int_equal(store_layer_version(&st, "k", vs[0], ldir, sizeof(ldir)), 0);
			char *c = file_of(ldir, "content.zip");
			assert_string_equal(c, "PKnew");
			free(c);
			assert_int_equal(store_layer_delete(&st, "k", vs[0]), 0);
		}
		free(vs);
		/* only latest (once a version was made) is left: no half-written files */
		assert_true(entries("layers/k") <= 1);
	}
	/* the numbers a kill after step 1 took are not given again */
	assert_int_equal(store_layer_put(&st, "k", "{}", "PK", 2, &v, ldir, sizeof(ldir), err,
					 sizeof(err)), 0);
	assert_int_equal(v, 3);
}

/* A managed runtime's code disk: the zip at 0, each layer from the next sector, then the
 * environment; what is not a zip is refused, naming it. */
static void test_code_disk(void **state)
{
	(void)state;
	char path[4300], disk[4300];
	static const char *const files[][2] = {
		{"rt/python3.11.img", "image"}, {"app.zip", "PK\3\4 the code"},
		{"l1.zip", "PK\3\4 layer one, 600 bytes"}, {"l2.zip", "PK\3\4 layer two"},
		{"bad.zip", "not a zip"}};
	snprintf(path, sizeof(path), "%s/rt", dir);
	mkdir(path, 0700);
	for (unsigned i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		FILE *f = fopen(path, "w");
		fputs(files[i][1], f);
		if (i == 2) /* (longer than a sector) */
			for (int k = 0; k < 600 - (int)strlen(files[i][1]); k++)
				fputc('x', f);
		fclose(f);
	}
	struct fn_config c = {0};
	char code[4300], l1[4300], l2[4300], bad[4300], rt[4300], err[600];
	snprintf(code, sizeof(code), "%s/app.zip", dir);
	snprintf(l1, sizeof(l1), "%s/l1.zip", dir);
	snprintf(l2, sizeof(l2), "%s/l2.zip", dir);
	snprintf(bad, sizeof(bad), "%s/bad.zip", dir);
	snprintf(rt, sizeof(rt), "%s/rt", dir);
	c.runtime = "python3.11";
	c.code = code;
	c.layers[0] = l1;
	c.layers[1] = l2;
	c.nlayers = 2;
	c.env = "A=1\n";
	struct fn_code out;
	snprintf(disk, sizeof(disk), "%s/disk", dir);
	assert_int_equal(fn_code_prepare(&c, rt, disk, &out, err, sizeof(err)), 0);
	assert_int_equal(out.len, strlen(files[1][1]));
	assert_int_equal(out.nlayers, 2);
	assert_int_equal(out.layer_at[0], 512);
	assert_int_equal(out.layer_len[0], 600);
	assert_int_equal(out.layer_at[1], 1536);
	assert_int_equal(out.layer_len[1], strlen(files[3][1]));
	assert_int_equal(out.env_at, 2048);
	assert_int_equal(out.env_len, 4);
	uint8_t *d;
	size_t len;
	assert_int_equal(read_file(disk, &d, &len), 0);
	assert_int_equal(len, 2560);
	assert_memory_equal(d, files[1][1], out.len);
	assert_memory_equal(d + 512, files[2][1], strlen(files[2][1]));
	assert_memory_equal(d + 1536, files[3][1], out.layer_len[1]);
	assert_memory_equal(d + 2048, "A=1\n", 4);
	free(d);
	unlink(disk);
	c.layers[1] = bad;
	assert_int_equal(fn_code_prepare(&c, rt, disk, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "its layer 2"));
	assert_non_null(strstr(err, "is not a zip"));
	assert_int_equal(access(disk, F_OK), -1); /* nothing made */
}

/* A zip of the given entries (name, content; a content starting with "->" makes a link to
 * the rest), into *len bytes (malloc'd). */
static void *make_zip(size_t *len, const char *const *e, unsigned n)
{
	char path[] = "/tmp/hf-zip.XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	unlink(path);
	zip_t *z = zip_open(path, ZIP_CREATE, NULL);
	for (unsigned i = 0; i < n; i++) {
		const char *c = e[2 * i + 1];
		bool link = !strncmp(c, "->", 2);
		zip_source_t *s = zip_source_buffer(z, link ? c + 2 : c, strlen(link ? c + 2 : c), 0);
		zip_int64_t idx = zip_file_add(z, e[2 * i], s, ZIP_FL_ENC_UTF_8);
		assert_true(idx >= 0);
		if (link)
			zip_file_set_external_attributes(z, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
							 (zip_uint32_t)(S_IFLNK | 0777) << 16);
	}
	assert_int_equal(zip_close(z), 0);
	uint8_t *d;
	assert_int_equal(read_file(path, &d, len), 0);
	unlink(path);
	return d;
}

static void test_zip_check(void **state)
{
	(void)state;
	static const struct {
		const char *e[4];
		unsigned n;
		const char *why; /* NULL: taken */
	} cases[] = {
		{{"app.py", "x", "lib/deep/m.py", "y"}, 2, NULL},
		{{"lib/l", "->../lib/m.py"}, 1, NULL},
		{{"a/b/l", "->../../app.py"}, 1, NULL},
		{{"../x.py", "x"}, 1, "the zip's entry ../x.py would be unpacked outside /var/task"},
		{{"a/../../x", "x"}, 1, "outside /var/task"},
		{{"/etc/x", "x"}, 1, "the zip's entry /etc/x would be unpacked outside"},
		{{"l", "->../../etc/passwd"}, 1,
		 "the zip's link l points out of /var/task (to ../../etc/passwd)"},
		{{"a/l", "->/etc/passwd"}, 1, "the zip's link a/l points out of /var/task"},
		{{"a/l", "->../.."}, 1, "points out of /var/task"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		void *z = make_zip(&len, cases[i].e, cases[i].n);
		char err[600] = "";
		uint64_t un;
		int r = zip_check(z, len, &un, err, sizeof(err));
		if (!cases[i].why) {
			if (r != 0)
				fail_msg("zip %u refused: %s", i, err);
		} else if (r != -1 || !strstr(err, cases[i].why)) {
			fail_msg("zip %u: '%s' does not say '%s'", i, err, cases[i].why);
		}
		free(z);
	}
	char err[600];
	uint64_t un;
	assert_int_equal(zip_check("not a zip", 9, &un, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Could not unzip uploaded file"));
	/* a layer's: the same, inside /opt */
	static const char *const up[] = {"python/../../x.py", "x"}, *const ln[] = {"python/l", "->../../etc"};
	size_t len;
	void *z = make_zip(&len, up, 1);
	assert_int_equal(zip_check_in(z, len, "/opt", &un, err, sizeof(err)), -1);
	assert_string_equal(err, "the zip's entry python/../../x.py would be unpacked outside /opt");
	free(z);
	z = make_zip(&len, ln, 1);
	assert_int_equal(zip_check_in(z, len, "/opt", &un, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the zip's link python/l points out of /opt"));
	free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_update_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_mid_write, setup, teardown),
		cmocka_unit_test(test_zip_check),
		cmocka_unit_test_setup_teardown(test_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_killed_mid_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_disk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
