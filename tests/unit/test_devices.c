/* Unit tests for the device options (src/devices/): each device parses its own
 * command-line argument, refusing what it cannot use with the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/devices.h"

static const struct device_option *find(const char *name)
{
	for (const struct device_option *const *o = device_options; *o; o++)
		if (!strcmp((*o)->name, name))
			return *o;
	return NULL;
}

/* Whether opt accepts arg (err receives the reason if not). */
static bool accepts(const char *name, const char *arg, char *err, size_t errlen)
{
	const struct device_option *o = find(name);
	assert_non_null(o);
	void *p = o->parse(arg, err, errlen);
	free(p);
	return p != NULL;
}

static void test_registry(void **state)
{
	(void)state;
	assert_ptr_equal(find("net"), &virtio_net_option);
	assert_ptr_equal(find("disk"), &virtio_blk_option);
	for (const struct device_option *const *o = device_options; *o; o++) {
		assert_non_null((*o)->parse);
		assert_non_null((*o)->add);
		assert_non_null(strstr((*o)->help, (*o)->name)); /* --help names the option */
	}
	assert_int_equal(find("net")->max, 1);
	assert_true(find("disk")->linux_only && find("net")->linux_only);
}

static void test_net(void **state)
{
	(void)state;
	char err[256] = "";
	assert_true(accepts("net", "hf0", err, sizeof(err)));
	assert_true(accepts("net", "hf0,mac=02:00:00:00:00:01", err, sizeof(err)));
	assert_true(accepts("net", "abcdefghijklmno", err, sizeof(err))); /* 15 characters */
	const char *bad[] = {"", "abcdefghijklmnop", ".", "..", "a/b", "a:b", "a b",
			     "hf0,mac=01:00:5e:00:00:01" /* multicast */, "hf0,mac=02:00:00:00:00",
			     "hf0,mac=02:00:00:00:00:01x", "hf0,", ",mac=02:00:00:00:00:01"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_false(accepts("net", bad[i], err, sizeof(err)));
		assert_non_null(strstr(err, "expected TAP"));
	}
}

static void test_disk(void **state)
{
	(void)state;
	char err[256] = "";
	const char *good[] = {"a.img", "a.img,ro", "a.img,persist", "dir/a,b.img", "x,ro,ro"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(accepts("disk", good[i], err, sizeof(err)));
	const char *bad[] = {"", ",ro", ",persist"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_false(accepts("disk", bad[i], err, sizeof(err)));
		assert_non_null(strstr(err, "expected FILE"));
	}
}

static void test_vsock(void **state)
{
	(void)state;
	char err[256] = "", longpath[160];
	const char *good[] = {"3", "4294967294", "3,uds=/tmp/v.sock", "3,cid-per-clone",
			      "3,uds=/tmp/v,cid-per-clone", "3,cid-per-clone,uds=/tmp/v"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(accepts("vsock", good[i], err, sizeof(err)));
	const char *bad[] = {"", "0", "1", "2" /* the host */, "4294967295" /* VMADDR_CID_ANY */,
			     "99999999999999999999", "-3", "x", "3x", "3,", "3,,uds=/a", "3,uds=",
			     "3,foo", "3,uds=/a,uds=/b", ",uds=/a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_false(accepts("vsock", bad[i], err, sizeof(err)));
		assert_non_null(strstr(err, "expected CID"));
	}
	snprintf(longpath, sizeof(longpath), "3,uds=/%0150d", 0);
	assert_false(accepts("vsock", longpath, err, sizeof(err)));
	assert_non_null(strstr(err, "socket path is longer than"));
	assert_true(find("vsock")->linux_only);
	assert_int_equal(find("vsock")->max, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_net),
		cmocka_unit_test(test_disk),
		cmocka_unit_test(test_vsock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
