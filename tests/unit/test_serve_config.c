/* Unit tests for `hyperfork serve`'s configuration file (src/serve/config.c) and the
 * pieces of the Invoke API that need no VM: every refusal names the function and field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serve/config.h"
#include "serve/function.h"
#include "serve/serve.h"
#include "util/util.h"

static int parse(const char *text, struct serve_config *c, char *err)
{
	return serve_config_parse(text, strlen(text), "/srv/fn", c, err, 512);
}

static void test_full_function(void **state)
{
	(void)state;
	struct serve_config c;
	char err[512] = "";
	assert_int_equal(parse("{\"functions\":[{\"name\":\"hello\",\"kernel\":\"bz\","
			       "\"initrd\":\"/abs/init.cpio\",\"disks\":[\"code.img\"],"
			       "\"memory\":512,\"vcpus\":2,\"timeout\":30,\"concurrency\":64,"
			       "\"pool\":0,\"mode\":\"warm\",\"handler\":\"fn.handler\","
			       "\"cmdline\":\"loglevel=1\","
			       "\"environment\":{\"A\":\"1\",\"B_2\":\"x y\"}},"
			       "{\"name\":\"second-fn_2\",\"kernel\":\"k\",\"initrd\":\"i\"}]}",
			       &c, err),
			 0);
	assert_int_equal(c.nfns, 2);
	const struct fn_config *f = serve_config_find(&c, "hello");
	assert_non_null(f);
	assert_string_equal(f->kernel, "/srv/fn/bz"); /* relative to the file's directory */
	assert_string_equal(f->initrd, "/abs/init.cpio");
	assert_int_equal(f->ndisks, 1);
	assert_string_equal(f->disks[0], "/srv/fn/code.img");
	assert_int_equal(f->memory_mb, 512);
	assert_int_equal(f->vcpus, 2);
	assert_int_equal(f->timeout_s, 30);
	assert_int_equal(f->concurrency, 64);
	assert_int_equal(f->pool, 0);
	assert_int_equal(f->mode, FN_MODE_WARM);
	assert_string_equal(f->handler, "fn.handler");
	assert_string_equal(f->cmdline, "loglevel=1");
	assert_string_equal(f->env, "A=1\nB_2=x y\n");
	f = serve_config_find(&c, "second-fn_2");
	assert_non_null(f); /* defaults: Lambda's */
	assert_int_equal(f->memory_mb, 256);
	assert_int_equal(f->timeout_s, 3);
	assert_int_equal(f->vcpus, 1);
	assert_int_equal(f->pool, 4);
	assert_int_equal(f->mode, FN_MODE_CLONE);
	assert_int_equal(f->recycle, 0);
	assert_int_equal(f->idle_s, 600);
	assert_string_equal(f->env, "");
	assert_null(f->image);
	assert_null(serve_config_find(&c, "nope"));
	/* serve --jail's memory.max: (memory + 64 MiB) for each VM the function may have */
	assert_int_equal(fn_jail_memory_mb(serve_config_find(&c, "hello")), 512 + 64); /* warm */
	assert_int_equal(fn_jail_memory_mb(f), (256 + 64) * (1 + 4 + f->concurrency));
	serve_config_free(&c);
}

static void test_bare_function(void **state)
{
	(void)state;
	struct serve_config c;
	char err[512] = "";
	assert_int_equal(parse("{\"functions\":[{\"name\":\"b\",\"image\":\"echo-fn.elf\","
			       "\"memory\":128,\"cmdline\":\"echo.x=1\"}]}", &c, err), 0);
	const struct fn_config *f = serve_config_find(&c, "b");
	assert_non_null(f);
	assert_string_equal(f->image, "/srv/fn/echo-fn.elf");
	assert_null(f->kernel);
	assert_null(f->initrd);
	assert_string_equal(f->cmdline, "echo.x=1");
	assert_null(f->runtime);
	serve_config_free(&c);
	/* A managed runtime's function: its zip's path made absolute like the others. */
	assert_int_equal(parse("{\"functions\":[{\"name\":\"p\",\"kernel\":\"k\",\"initrd\":\"i\","
			       "\"runtime\":\"python3.11\",\"code\":\"app.zip\",\"handler\":\"app.h\"}]}",
			       &c, err), 0);
	assert_string_equal(serve_config_find(&c, "p")->runtime, "python3.11");
	assert_string_equal(serve_config_find(&c, "p")->code, "/srv/fn/app.zip");
	assert_int_equal(serve_config_find(&c, "p")->ndisks, 0);
	serve_config_free(&c);
	assert_int_equal(parse("{\"functions\":[{\"name\":\"n\",\"kernel\":\"k\",\"initrd\":\"i\","
			       "\"runtime\":\"nodejs18.x\",\"code\":\"n.zip\",\"handler\":\"lib/index.handler\"}]}",
			       &c, err), 0);
	assert_string_equal(serve_config_find(&c, "n")->runtime, "nodejs18.x");
	assert_string_equal(serve_config_find(&c, "n")->handler, "lib/index.handler");
	serve_config_free(&c);
	/* A fresh clone for each invocation, or clones reused up to a count. */
	assert_int_equal(parse("{\"functions\":[{\"name\":\"f\",\"image\":\"e.elf\",\"mode\":\"fresh\"},"
			       "{\"name\":\"r\",\"image\":\"e.elf\",\"recycle\":50,\"idle\":0}]}", &c, err), 0);
	assert_int_equal(serve_config_find(&c, "f")->mode, FN_MODE_FRESH);
	assert_true(fn_cloned(serve_config_find(&c, "f")));
	assert_int_equal(serve_config_find(&c, "r")->mode, FN_MODE_CLONE);
	assert_int_equal(serve_config_find(&c, "r")->recycle, 50);
	assert_int_equal(serve_config_find(&c, "r")->idle_s, 0);
	assert_true(serve_config_find(&c, "r")->cpu == 0); /* no limit unless given */
	/* mode fresh has a template, its pool and a clone per invocation, as mode clone */
	assert_int_equal(fn_jail_memory_mb(serve_config_find(&c, "f")), (256 + 64) * (1 + 4 + 10));
	serve_config_free(&c);
}

static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"", "not valid JSON"},
		{"[]", "expected {\"functions\""},
		{"{\"functions\":[]}", "at least one function"},
		{"{\"functions\":[{}],\"x\":1}", "expected {\"functions\""},
		{"{\"functions\":[1]}", "function 1: not an object"},
		{"{\"functions\":[{\"name\":\"a b\",\"kernel\":\"k\",\"initrd\":\"i\"}]}", "\"name\" must"},
		{"{\"functions\":[{\"name\":\"a\",\"initrd\":\"i\"}]}", "function a: \"kernel\" must"},
		{"{\"functions\":[{\"name\":\"a\"}]}", "function a: needs \"image\" (a bare guest's ELF) or \"kernel\" and \"initrd\""},
		{"{\"functions\":[{\"name\":\"a\",\"image\":\"f.elf\",\"kernel\":\"k\",\"initrd\":\"i\"}]}",
		 "function a: \"image\" (a bare guest) goes without \"kernel\""},
		{"{\"functions\":[{\"name\":\"a\",\"image\":\"f.elf\",\"disks\":[\"d\"]}]}", "goes without"},
		{"{\"functions\":[{\"name\":\"a\",\"image\":\"f.elf\",\"environment\":{}}]}", "goes without"},
		{"{\"functions\":[{\"name\":\"a\",\"image\":\"\"}]}", "function a: \"image\" must be a non-empty string"},
		{"{\"functions\":[{\"name\":\"a\",\"image\":1}]}", "function a: \"image\" must be"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\"}]}", "function a: \"initrd\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"memory\":64}]}",
		 "function a: \"memory\" must be a whole number from 128 to 10240"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"timeout\":901}]}",
		 "\"timeout\" must"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"timeout\":\"3\"}]}",
		 "\"timeout\" must"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"pool\":65}]}",
		 "\"pool\" must be a whole number from 0 to 64"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"mode\":\"hot\"}]}",
		 "function a: \"mode\" must be \"clone\", \"fresh\", \"warm\" or \"boot\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"recycle\":1000001}]}",
		 "\"recycle\" must be a whole number from 0 to 1000000"},
		{"{\"functions\":[{\"name\":\"a\",\"image\":\"e\",\"cpu\":0}]}",
		 "function a: \"cpu\" must be a number of CPUs from 0.01 to 1024"},
		{"{\"functions\":[{\"name\":\"a\",\"image\":\"e\",\"cpu\":\"1\"}]}",
		 "function a: \"cpu\" must be a number of CPUs from 0.01 to 1024"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"mode\":1}]}",
		 "\"mode\" must"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"vcpus\":4294967297}]}",
		 "\"vcpus\" must"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"colour\":1}]}",
		 "function a: unknown field \"colour\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\"},"
		 "{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\"}]}",
		 "function a is declared twice"},
		{"{\"functions\":[{\"name\":\"foo\",\"kernel\":\"k\",\"initrd\":\"i\"},"
		 "{\"name\":\"foo-b1\",\"kernel\":\"k\",\"initrd\":\"i\"}]}",
		 "functions foo and foo-b1: one's name is what serve names the VMs it boots for the other"},
		{"{\"functions\":[{\"name\":\"foo-b12\",\"kernel\":\"k\",\"initrd\":\"i\"},"
		 "{\"name\":\"foo\",\"kernel\":\"k\",\"initrd\":\"i\"}]}",
		 "functions foo-b12 and foo: one's name"},
		{"{\"functions\":[{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaXYZ\",\"kernel\":\"k\",\"initrd\":\"i\"},"
		 "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-b3\",\"kernel\":\"k\",\"initrd\":\"i\"}]}",
		 "one's name is what serve names"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"disks\":[\"x,ro\"]}]}",
		 "disk 1 must be a path without ','"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"disks\":[\"1\",\"2\",\"3\",\"4\",\"5\"]}]}",
		 "at most 4"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"environment\":{\"1A\":\"x\"}}]}",
		 "environment variable \"1A\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"environment\":{\"A\":\"x\\ny\"}}]}",
		 "environment variable \"A\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"environment\":{\"A\":1}}]}",
		 "environment variable \"A\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"handler\":\"x y\"}]}",
		 "\"handler\" must not contain spaces"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"x\":1,\"x\":2}]}",
		 "not valid JSON"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3.11\","
		 "\"handler\":\"app.h\"}]}",
		 "function a: \"runtime\" and \"code\" (a zip) go together, without \"disks\" or \"image\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"code\":\"c.zip\"}]}",
		 "\"runtime\" and \"code\" (a zip) go together"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3.11\","
		 "\"code\":\"c.zip\",\"disks\":[\"d\"],\"handler\":\"app.h\"}]}",
		 "\"runtime\" and \"code\" (a zip) go together"},
		{"{\"functions\":[{\"name\":\"a\",\"image\":\"e\",\"runtime\":\"python3.11\",\"code\":\"c.zip\"}]}",
		 "\"runtime\" and \"code\" (a zip) go together"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3\","
		 "\"code\":\"c.zip\",\"handler\":\"app.h\"}]}",
		 "function a: unknown \"runtime\" \"python3\": python3.11 nodejs18.x"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3.11\","
		 "\"code\":\"c.zip\"}]}",
		 "function a: runtime python3.11 needs a \"handler\" (module.function)"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"disks\":[\"d\"],"
		 "\"layers\":[\"l.zip\"]}]}",
		 "function a: \"layers\" go with \"runtime\" and \"code\""},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3.11\","
		 "\"code\":\"c.zip\",\"handler\":\"app.h\",\"layers\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"]}]}",
		 "function a: \"layers\" must be a list of at most 5 zips"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3.11\","
		 "\"code\":\"c.zip\",\"handler\":\"app.h\",\"layers\":\"l.zip\"}]}",
		 "\"layers\" must be a list"},
		{"{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3.11\","
		 "\"code\":\"c.zip\",\"handler\":\"app.h\",\"layers\":[\"l.zip\",\"\"]}]}",
		 "function a: layer 2 must be a zip's path"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct serve_config c;
		char err[512] = "";
		assert_int_equal(parse(bad[i].text, &c, err), -1);
		if (!strstr(err, bad[i].why))
			fail_msg("config %zu: '%s' does not say '%s'", i, err, bad[i].why);
		assert_int_equal(c.nfns, 0); /* freed */
	}
}

/* A managed runtime's function with layers: their paths, in order, from the file's
 * directory. */
static void test_layers(void **state)
{
	(void)state;
	struct serve_config c;
	char err[512] = "";
	assert_int_equal(parse("{\"functions\":[{\"name\":\"py\",\"kernel\":\"k\",\"initrd\":\"i\","
			       "\"runtime\":\"python3.11\",\"code\":\"app.zip\",\"handler\":\"app.h\","
			       "\"layers\":[\"deps.zip\",\"/abs/more.zip\"]},"
			       "{\"name\":\"none\",\"kernel\":\"k\",\"initrd\":\"i\",\"runtime\":\"python3.11\","
			       "\"code\":\"app.zip\",\"handler\":\"app.h\",\"layers\":[]}]}",
			       &c, err),
			 0);
	const struct fn_config *f = serve_config_find(&c, "py");
	assert_int_equal(f->nlayers, 2);
	assert_string_equal(f->layers[0], "/srv/fn/deps.zip");
	assert_string_equal(f->layers[1], "/abs/more.zip");
	assert_int_equal(serve_config_find(&c, "none")->nlayers, 0);
	serve_config_free(&c);
}

/* Names that only look like a boot VM's of another function are fine. */
static void test_names_near_boot_names(void **state)
{
	(void)state;
	struct serve_config c;
	char err[512] = "";
	assert_int_equal(parse("{\"functions\":[{\"name\":\"foo\",\"image\":\"f.elf\"},"
			       "{\"name\":\"foo-bar\",\"image\":\"f.elf\"},"
			       "{\"name\":\"foo-b\",\"image\":\"f.elf\"},"
			       "{\"name\":\"fo-b1\",\"image\":\"f.elf\"}]}",
			       &c, err),
			 0);
	assert_int_equal(c.nfns, 4);
	serve_config_free(&c);
}

static void test_large_environment_refused(void **state)
{
	(void)state;
	char *text = malloc(FN_ENV_MAX + 200);
	char big[FN_ENV_MAX];
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	sprintf(text, "{\"functions\":[{\"name\":\"a\",\"kernel\":\"k\",\"initrd\":\"i\","
		      "\"environment\":{\"A\":\"%s\"}}]}", big);
	struct serve_config c;
	char err[512] = "";
	assert_int_equal(parse(text, &c, err), -1);
	assert_non_null(strstr(err, "larger than 1024 bytes"));
	free(text);
}

static void test_listen_address(void **state)
{
	(void)state;
	struct sockaddr_in a;
	assert_int_equal(serve_parse_listen("127.0.0.1:9000", &a), 0);
	assert_int_equal(ntohs(a.sin_port), 9000);
	assert_int_equal(serve_parse_listen("0.0.0.0:1", &a), 0);
	const char *bad[] = {"", "9000", ":9000", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
			     "127.0.0.1:9x", "localhost:9000", "1.2.3:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(serve_parse_listen(bad[i], &a), -1);
}

static void test_base64_and_request_ids(void **state)
{
	(void)state;
	char out[BASE64_LEN(6)];
	assert_int_equal(base64_encode("", 0, out), 0);
	assert_string_equal(out, "");
	base64_encode("f", 1, out);
	assert_string_equal(out, "Zg==");
	base64_encode("fo", 2, out);
	assert_string_equal(out, "Zm8=");
	base64_encode("foobar", 6, out);
	assert_string_equal(out, "Zm9vYmFy");
	base64_encode("\xff\xfe\x00", 3, out);
	assert_string_equal(out, "//4A");
	char a[40], b[40];
	request_id_new(a);
	request_id_new(b);
	assert_int_equal(strlen(a), 36);
	assert_true(a[14] == '4' && strchr("89ab", a[19])); /* version 4, RFC 4122 variant */
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_function),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_layers),
		cmocka_unit_test(test_bare_function),
		cmocka_unit_test(test_large_environment_refused),
		cmocka_unit_test(test_names_near_boot_names),
		cmocka_unit_test(test_listen_address),
		cmocka_unit_test(test_base64_and_request_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
