/* Unit tests for what the containerd shim reads from containerd (src/shim/bundle.c): a
 * bundle's annotations, the pod's socket address, and the one check of every request's
 * strings and counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shim/bundle.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"

#define assert_err_contains(err, word)                                                             \
	do {                                                                                       \
		if (!strstr((err), (word)))                                                        \
			fail_msg("error \"%s\" does not mention \"%s\"", (err), (word));           \
	} while (0)

static int parse(const char *json, struct shim_spec *spec, char *err)
{
	return shim_spec_parse(json, strlen(json), spec, err, 256);
}

static void test_spec_template(void **state)
{
	(void)state;
	struct shim_spec s;
	char err[256];
	assert_int_equal(parse("{\"ociVersion\":\"1.0.2\",\"annotations\":{"
			       "\"io.hyperfork.template\":\"fn\",\"io.hyperfork.run-dir\":\"/r\","
			       "\"io.kubernetes.cri.sandbox-id\":\"pod1\",\"other\":\"x\"}}",
			       &s, err),
			 0);
	assert_string_equal(s.template_, "fn");
	assert_string_equal(s.run_dir, "/r");
	assert_string_equal(s.sandbox_id, "pod1");
	assert_string_equal(s.kernel, "");
	assert_true(shim_spec_has_vm(&s));
	assert_string_equal(shim_group(&s, "c1"), "pod1");
	/* no annotations at all: valid, but no VM */
	assert_int_equal(parse("{\"process\":{}}", &s, err), 0);
	assert_false(shim_spec_has_vm(&s));
	assert_string_equal(shim_group(&s, "c1"), "c1");
	assert_int_equal(parse("{\"annotations\":{\"io.hyperfork.image\":\"/g.elf\","
			       "\"io.hyperfork.memory\":\"64M\"}}", &s, err), 0);
	assert_string_equal(s.image, "/g.elf");
	assert_string_equal(s.memory, "64M");
	assert_false(shim_spec_is_sandbox(&s));
	/* CRI's sandbox (pause) container: no VM, whatever the pod's annotations name */
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\","
			       "\"io.kubernetes.cri.sandbox-id\":\"p\",\"io.hyperfork.template\":\"fn\"}}",
			       &s, err),
			 0);
	assert_true(shim_spec_is_sandbox(&s));
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"container\"}}",
			       &s, err),
			 0);
	assert_false(shim_spec_is_sandbox(&s));
	/* a container type longer than any CRI gives is refused, named */
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri.container-type\":"
			       "\"sandboxsandboxsandbox\"}}", &s, err),
			 -1);
	assert_err_contains(err, "container-type");
}

static void test_spec_bad(void **state)
{
	(void)state;
	struct shim_spec s;
	char err[256];
	assert_int_equal(parse("not json", &s, err), -1);
	assert_err_contains(err, "config.json");
	assert_int_equal(parse("[1]", &s, err), -1);
	assert_int_equal(parse("{\"annotations\":[]}", &s, err), -1);
	assert_err_contains(err, "not an object");
	assert_int_equal(parse("{\"annotations\":{\"io.hyperfork.template\":3}}", &s, err), -1);
	assert_err_contains(err, "io.hyperfork.template");
	assert_int_equal(parse("{\"annotations\":{\"io.hyperfork.template\":\"a\","
			       "\"io.hyperfork.kernel\":\"k\"}}", &s, err), -1);
	assert_err_contains(err, "both given");
	assert_int_equal(parse("{\"annotations\":{\"io.hyperfork.image\":\"a\","
			       "\"io.hyperfork.kernel\":\"k\"}}", &s, err), -1);
	assert_int_equal(parse("{\"annotations\":{\"io.hyperfork.template\":\"../x\"}}", &s, err), -1);
	assert_err_contains(err, "no VM name");
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"a/b\"}}", &s,
			       err), -1);
	assert_int_equal(parse("{\"annotations\":{\"io.hyperfork.memory\":\"12345678901234567890"
			       "12345678901234567890\"}}", &s, err), -1);
	assert_err_contains(err, "over the");
	/* a NUL inside a value */
	assert_int_equal(parse("{\"annotations\":{\"io.hyperfork.cmdline\":\"a\\u0000b\"}}", &s,
			       err), -1);
	assert_int_equal(parse("{\"a\":1,\"a\":2}", &s, err), -1);
	char *big = malloc(SHIM_ANNOTATION_MAX + 64);
	int n = sprintf(big, "{\"annotations\":{\"io.hyperfork.cmdline\":\"");
	memset(big + n, 'x', SHIM_ANNOTATION_MAX + 1);
	strcpy(big + n + SHIM_ANNOTATION_MAX + 1, "\"}}");
	assert_int_equal(parse(big, &s, err), -1);
	big[n + SHIM_ANNOTATION_MAX] = '"';
	strcpy(big + n + SHIM_ANNOTATION_MAX + 1, "}}");
	assert_int_equal(parse(big, &s, err), 0);
	assert_int_equal(strlen(s.cmdline), SHIM_ANNOTATION_MAX);
	free(big);
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(shim_valid_id("c1"));
	assert_true(shim_valid_id("a_b.c-d"));
	assert_false(shim_valid_id(""));
	assert_false(shim_valid_id(".x"));
	assert_false(shim_valid_id("-x"));
	assert_false(shim_valid_id("a/b"));
	assert_false(shim_valid_id("a b"));
	char id[SHIM_ID_MAX + 2];
	memset(id, 'a', sizeof(id) - 1);
	id[SHIM_ID_MAX] = 0;
	assert_true(shim_valid_id(id));
	id[SHIM_ID_MAX] = 'a';
	id[SHIM_ID_MAX + 1] = 0;
	assert_false(shim_valid_id(id));
}

static void test_socket_path(void **state)
{
	(void)state;
	char a[128], b[128], c[128], err[256];
	assert_int_equal(shim_socket_path("/run/containerd/s", "default", "pod1", a, sizeof(a), err,
					  sizeof(err)), 0);
	assert_int_equal(strlen(a), strlen("/run/containerd/s/") + 32);
	assert_int_equal(strncmp(a, "/run/containerd/s/", 18), 0);
	/* one pod, one socket; another namespace or pod, another */
	assert_int_equal(shim_socket_path("/run/containerd/s", "default", "pod1", b, sizeof(b), err,
					  sizeof(err)), 0);
	assert_string_equal(a, b);
	assert_int_equal(shim_socket_path("/run/containerd/s", "k8s.io", "pod1", c, sizeof(c), err,
					  sizeof(err)), 0);
	assert_string_not_equal(a, c);
	assert_int_equal(shim_socket_path("/run/containerd/s", "default", "pod2", c, sizeof(c), err,
					  sizeof(err)), 0);
	assert_string_not_equal(a, c);
	char dir[100];
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = 0;
	char big[256];
	assert_int_equal(shim_socket_path(dir, "default", "pod1", big, sizeof(big), err, sizeof(err)),
			 -1);
	assert_err_contains(err, "too long");
}

static void test_check_message(void **state)
{
	(void)state;
	char err[256];
	Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	req.id = "c1";
	req.bundle = "/run/b";
	req.stdout = "/run/fifo";
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), 0);
	req.id = "";
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), -1);
	assert_err_contains(err, "id");
	req.id = "../etc";
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), -1);
	req.id = "c1";
	char *longs = malloc(SHIM_STRING_MAX + 2);
	memset(longs, 'p', SHIM_STRING_MAX + 1);
	longs[SHIM_STRING_MAX + 1] = 0;
	req.stdout = longs;
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), -1);
	assert_err_contains(err, "stdout");
	longs[SHIM_STRING_MAX] = 0;
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), 0);
	req.stdout = "";
	/* repeated: the rootfs mounts, counted, and each one's strings checked */
	Containerd__Types__Mount m = CONTAINERD__TYPES__MOUNT__INIT, *mounts[SHIM_REPEATED_MAX + 1];
	for (unsigned i = 0; i <= SHIM_REPEATED_MAX; i++)
		mounts[i] = &m;
	m.type = "bind";
	m.source = "/x";
	char *opts[] = {"ro", longs};
	m.options = opts;
	m.n_options = 1;
	req.rootfs = mounts;
	req.n_rootfs = SHIM_REPEATED_MAX;
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), 0);
	req.n_rootfs = SHIM_REPEATED_MAX + 1;
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), -1);
	assert_err_contains(err, "rootfs");
	req.n_rootfs = 1;
	longs[SHIM_STRING_MAX] = 'p';
	m.n_options = 2;
	assert_int_equal(shim_check_message(&req.base, err, sizeof(err)), -1);
	assert_err_contains(err, "options");
	free(longs);
	/* an exec id is checked when given */
	Containerd__Task__V2__KillRequest k = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	k.id = "c1";
	assert_int_equal(shim_check_message(&k.base, err, sizeof(err)), 0);
	k.exec_id = "e/1";
	assert_int_equal(shim_check_message(&k.base, err, sizeof(err)), -1);
	assert_err_contains(err, "exec_id");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_template), cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_ids),           cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_check_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
