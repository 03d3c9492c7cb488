/* Unit tests for the parsing helpers in src/util/util.c: parse_size, parse_uint, parse_seconds, valid_vm_name, and admit_clones (the admission of clones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/admit.h"
#include "util/rundir.h"
#include "util/util.h"

static void expect_size(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	if (parse_size(s, &v) != 0)
		fail_msg("parse_size(\"%s\") failed", s);
	if (v != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", s, (unsigned long long)v,
			 (unsigned long long)want);
}

static void expect_size_fails(const char *s)
{
	uint64_t v = 0;
	if (parse_size(s, &v) != -1)
		fail_msg("parse_size(\"%s\") accepted as %llu", s ? s : "(null)",
			 (unsigned long long)v);
}

static void expect_uint(const char *s, uint64_t max, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	if (parse_uint(s, max, &v) != 0)
		fail_msg("parse_uint(\"%s\", %llu) failed", s, (unsigned long long)max);
	if (v != want)
		fail_msg("parse_uint(\"%s\") = %llu, want %llu", s, (unsigned long long)v,
			 (unsigned long long)want);
}

static void expect_uint_fails(const char *s, uint64_t max)
{
	uint64_t v = 0;
	if (parse_uint(s, max, &v) != -1)
		fail_msg("parse_uint(\"%s\", %llu) accepted as %llu", s ? s : "(null)",
			 (unsigned long long)max, (unsigned long long)v);
}

static void expect_seconds(const char *s, uint64_t want_ns)
{
	uint64_t v = 0xdeadbeef;
	if (parse_seconds(s, &v) != 0)
		fail_msg("parse_seconds(\"%s\") failed", s);
	if (v != want_ns)
		fail_msg("parse_seconds(\"%s\") = %llu ns, want %llu", s, (unsigned long long)v,
			 (unsigned long long)want_ns);
}

static void expect_seconds_fails(const char *s)
{
	uint64_t v = 0;
	if (parse_seconds(s, &v) != -1)
		fail_msg("parse_seconds(\"%s\") accepted as %llu ns", s ? s : "(null)",
			 (unsigned long long)v);
}

/* --- parse_size --- */

static void test_size_suffixes(void **state)
{
	(void)state;
	expect_size("4K", 4 * KiB);
	expect_size("4k", 4 * KiB);
	expect_size("512M", 512 * MiB);
	expect_size("512m", 512 * MiB);
	expect_size("2G", 2 * GiB);
	expect_size("2g", 2 * GiB);
	expect_size("1T", 1024 * GiB);
	expect_size("3t", 3 * 1024 * GiB);
	expect_size("0K", 0);
}

static void test_size_long_forms(void **state)
{
	(void)state;
	expect_size("1KiB", KiB);
	expect_size("1KB", KiB); /* binary units either way */
	expect_size("1kb", KiB);
	expect_size("1Ki", KiB);
	expect_size("256MiB", 256 * MiB);
	expect_size("256MB", 256 * MiB);
	expect_size("256mib", 256 * MiB);
	expect_size("8GiB", 8 * GiB);
	expect_size("8GB", 8 * GiB);
	expect_size("2TiB", 2048 * GiB);
}

static void test_size_plain_is_mib(void **state)
{
	(void)state;
	expect_size("512", 512 * MiB);
	expect_size("1", MiB);
	expect_size("0", 0);
	expect_size("007", 7 * MiB);
	expect_size("4096", 4 * GiB);
}

static void test_size_overflow(void **state)
{
	(void)state;
	/* Largest representable in each unit, and the first that is not. */
	expect_size("17592186044415", 17592186044415ull * MiB); /* 2^44 - 1 MiB */
	expect_size_fails("17592186044416");                   /* 2^44 MiB = 2^64 */
	expect_size("17179869183G", 17179869183ull * GiB);
	expect_size_fails("17179869184G");
	expect_size("16777215T", 16777215ull * 1024 * GiB);
	expect_size_fails("16777216T");
	expect_size("18014398509481983K", 18014398509481983ull * KiB);
	expect_size_fails("18014398509481984K");
	/* The number itself does not fit in 64 bits. */
	expect_size_fails("18446744073709551616K");
	expect_size_fails("99999999999999999999999999");
	expect_size_fails("1000000000000000000000000000000000000000M");
}

static void test_size_garbage(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "M", "K", "MiB", "-1", "-1M", "+1M", " 1M", "1M ", "1 M", "1.5G", "1,5G",
		"1X", "1B", "1b", "1iB", "1GG", "1GiBx", "1GiBB", "1GBi", "1Gi B", "0x10",
		"1e3", "12abc", "\t", "1\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_size_fails(bad[i]);
	expect_size_fails(NULL);
}

/* --- parse_uint --- */

static void test_uint_basic(void **state)
{
	(void)state;
	expect_uint("0", 10, 0);
	expect_uint("7", 10, 7);
	expect_uint("42", 100, 42);
	expect_uint("000123", 1000, 123);
	expect_uint("18446744073709551615", UINT64_MAX, UINT64_MAX);
}

static void test_uint_max_bound(void **state)
{
	(void)state;
	expect_uint("1024", 1024, 1024);
	expect_uint_fails("1025", 1024);
	expect_uint_fails("1030", 1024);
	expect_uint_fails("10240", 1024);
	expect_uint("1019", 1024, 1019);
	expect_uint("999", 1000, 999);
	expect_uint_fails("1001", 1000);
	expect_uint("15", 15, 15);
	expect_uint_fails("16", 15);
	expect_uint_fails("19", 15);
	/* Bounds below 10: a single digit above the bound must fail too. */
	expect_uint("0", 0, 0);
	expect_uint_fails("1", 0);
	expect_uint_fails("9", 0);
	expect_uint("5", 5, 5);
	expect_uint_fails("6", 5);
	expect_uint_fails("9", 8);
	expect_uint("8", 8, 8);
	expect_uint_fails("10", 5);
}

static void test_uint_overflow(void **state)
{
	(void)state;
	expect_uint_fails("18446744073709551616", UINT64_MAX);
	expect_uint_fails("18446744073709551620", UINT64_MAX);
	expect_uint_fails("99999999999999999999", UINT64_MAX);
	expect_uint_fails("184467440737095516150", UINT64_MAX);
	expect_uint("18446744073709551614", UINT64_MAX, UINT64_MAX - 1);
	expect_uint_fails("4294967296", UINT32_MAX);
	expect_uint("4294967295", UINT32_MAX, UINT32_MAX);
}

static void test_uint_garbage(void **state)
{
	(void)state;
	static const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "a1", "0x1", "1.0", "1e2",
				    "١"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_uint_fails(bad[i], UINT64_MAX);
	expect_uint_fails(NULL, UINT64_MAX);
}

/* --- parse_seconds --- */

static void test_seconds_whole(void **state)
{
	(void)state;
	expect_seconds("0", 0);
	expect_seconds("1", 1000000000ull);
	expect_seconds("30", 30000000000ull);
	expect_seconds("1000000000", 1000000000ull * 1000000000ull); /* the largest */
	expect_seconds_fails("1000000001");
	expect_seconds_fails("99999999999999999999");
}

static void test_seconds_fractions(void **state)
{
	(void)state;
	expect_seconds("2.5", 2500000000ull);
	expect_seconds("0.5", 500000000ull);
	expect_seconds(".5", 500000000ull);
	expect_seconds("5.", 5000000000ull);
	expect_seconds("0.25", 250000000ull);
	expect_seconds("1.05", 1050000000ull);
	expect_seconds("0.000000001", 1);
	expect_seconds("0.123456789", 123456789);
	expect_seconds("0.0", 0);
	expect_seconds(".0", 0);
	/* Digits beyond nanoseconds are dropped, not rounded. */
	expect_seconds("0.0000000019", 1);
	expect_seconds("1.9999999999", 1999999999ull);
	expect_seconds("1000000000.5", 1000000000500000000ull);
}

static void test_seconds_garbage(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", ".", "..", "-1", "-0.5", "+1", "1..5", "1.2.3", "1.5s", "1s", "abc", "x.5",
		"5.x", "1,5", " 1", "1 ", "1e3", "0x10", "inf", "nan", "1. 5",
		"0.0000000000000000000000000000001", /* too long to be a timeout */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_seconds_fails(bad[i]);
	expect_seconds_fails(NULL);
}

/* --- valid_vm_name --- */

static void test_name_allowed(void **state)
{
	(void)state;
	static const char *good[] = {"a",   "vm",     "web-1", "my_vm.2", "A-Z_09", "_x",
				     "x.",  "x-",     "9",     "web.1",   "a..b",   "UPPER"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!valid_vm_name(good[i]))
			fail_msg("\"%s\" rejected", good[i]);
}

static void test_name_rejected(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",     ".",     "..",    ".hidden", "-x",   "-",     "a/b",   "../etc",
		"a b",  "a:b",   "a\\b",  "vm\n",    "vm\t", "caf\xc3\xa9", "a*", "a@b",
		"$HOME", "a;b",  "a\"b",  "a'b",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (valid_vm_name(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);
	assert_false(valid_vm_name(NULL));
}

static void test_name_length_limit(void **state)
{
	(void)state;
	char name[HF_NAME_MAX + 2];

	memset(name, 'n', sizeof(name));
	name[HF_NAME_MAX] = 0;
	assert_int_equal(strlen(name), 64);
	assert_true(valid_vm_name(name));
	name[HF_NAME_MAX] = 'n';
	name[HF_NAME_MAX + 1] = 0;
	assert_false(valid_vm_name(name));
	/* A clone name is the parent's plus ".N": it must still fit. */
	memset(name, 'p', sizeof(name));
	memcpy(name + HF_NAME_MAX - 3, ".12", 4);
	assert_true(valid_vm_name(name));
}

/* Admission: the one decision before each clone (VMM fork, pool refill, serve). */
static void test_admit_under_limits(void **state)
{
	(void)state;
	struct clone_limits l = {.max_clones = 4, .reserve_bytes = 256 * MiB};
	char why[256] = "x";
	assert_int_equal(admit_clones(&l, 0, 1, 1 * GiB, why, sizeof(why)), ADMIT_OK);
	assert_string_equal(why, "");
	assert_int_equal(admit_clones(&l, 3, 1, 256 * MiB, why, sizeof(why)), ADMIT_OK);
	assert_int_equal(admit_clones(&l, 0, 4, 257 * MiB, why, sizeof(why)), ADMIT_OK);
}

static void test_admit_max_clones(void **state)
{
	(void)state;
	struct clone_limits l = {.max_clones = 2};
	char why[256];
	assert_int_equal(admit_clones(&l, 2, 1, 0, why, sizeof(why)), ADMIT_MAX_CLONES);
	assert_non_null(strstr(why, "clone limit reached: 2 live clone(s) and 1 more asked for, "
				    "over the 2 allowed (hyperfork run --max-clones)"));
	/* a request that would go over is refused whole, */
	assert_int_equal(admit_clones(&l, 1, 2, 0, why, sizeof(why)), ADMIT_MAX_CLONES);
	/* even one so large that live + count wraps */
	assert_int_equal(admit_clones(&l, 1, UINT32_MAX, 0, why, sizeof(why)), ADMIT_MAX_CLONES);
	assert_int_equal(admit_clones(&l, 5, 1, 0, why, sizeof(why)), ADMIT_MAX_CLONES);
	l.max_clones = 0; /* no limit */
	assert_int_equal(admit_clones(&l, 100000, 1000, 0, why, sizeof(why)), ADMIT_OK);
}

static void test_admit_memory_reserve(void **state)
{
	(void)state;
	struct clone_limits l = {.max_clones = 10, .reserve_bytes = 256 * MiB};
	char why[256];
	assert_int_equal(admit_clones(&l, 0, 1, 256 * MiB - 1, why, sizeof(why)), ADMIT_MEMORY);
	assert_non_null(strstr(why, "host memory reserve reached: the host has 255 MiB of memory "
				    "available, below the 256 MiB kept in reserve (--reserve-memory)"));
	/* memory that cannot be read does not pass for plenty */
	assert_int_equal(admit_clones(&l, 0, 1, 0, why, sizeof(why)), ADMIT_MEMORY);
	assert_non_null(strstr(why, "cannot be read"));
	/* the clone count is the first limit named */
	assert_int_equal(admit_clones(&l, 10, 1, 0, why, sizeof(why)), ADMIT_MAX_CLONES);
	l.reserve_bytes = 0; /* off: memory is not looked at */
	assert_int_equal(admit_clones(&l, 0, 1, 0, why, sizeof(why)), ADMIT_OK);
}

/* A process's CPU time, threads and memory from /proc: this one's, after it burned CPU and
 * touched 8 MiB of its own; none for a pid that does not exist. */
static void test_proc_figures(void **state)
{
	(void)state;
	size_t len = 8u << 20;
	volatile char *p = malloc(len);
	assert_non_null(p);
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	uint64_t t0 = now_ns();
	volatile unsigned x = 0;
	while (now_ns() - t0 < 50000000ull) /* 50 ms of user time, at least a tick */
		x++;
	struct proc_cpu c;
	assert_int_equal(proc_cpu(getpid(), &c), 0);
	assert_true(c.threads >= 1);
	assert_true(c.user_us + c.system_us >= 10000);
	struct proc_memory m, self;
	assert_int_equal(proc_memory(getpid(), &m), 0);
	assert_int_equal(proc_memory(0, &self), 0);
	assert_true(m.rss_kb >= 8192 && m.pss_kb >= 8192 && m.private_kb >= 8192);
	assert_true(m.pss_anon_kb >= 8192);
	assert_true(m.pss_kb <= m.rss_kb);
	assert_true(self.rss_kb >= 8192);
	free((void *)p);
	assert_int_equal(proc_cpu(0x7ffffff0, &c), -1);
	assert_int_equal(proc_memory(0x7ffffff0, &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_long_forms),
		cmocka_unit_test(test_size_plain_is_mib),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_size_garbage),
		cmocka_unit_test(test_uint_basic),
		cmocka_unit_test(test_uint_max_bound),
		cmocka_unit_test(test_uint_overflow),
		cmocka_unit_test(test_uint_garbage),
		cmocka_unit_test(test_seconds_whole),
		cmocka_unit_test(test_seconds_fractions),
		cmocka_unit_test(test_seconds_garbage),
		cmocka_unit_test(test_name_allowed),
		cmocka_unit_test(test_name_rejected),
		cmocka_unit_test(test_name_length_limit),
		cmocka_unit_test(test_admit_under_limits),
		cmocka_unit_test(test_admit_max_clones),
		cmocka_unit_test(test_admit_memory_reserve),
		cmocka_unit_test(test_proc_figures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
