/* serve's state directory (store.c) and its zip check (zipcheck.c): a function is written
 * whole or not at all, even by a process killed at each step of a write; a crash's leftovers
 * are removed at the next open; zips that would unpack outside /var/task, or too large,
 * are refused. */
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_update_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_mid_write, setup, teardown),
		cmocka_unit_test(test_zip_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
