/* Unit tests for what serve believes of a template's answers (src/serve/launch.c): a
 * clone's name, pid and console as a function's control socket gives them are checked
 * before serve, as root, builds paths from them, reads and removes files or signals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/function_private.h"

static struct hf_clone_info info(const char *name, int pid, const char *console)
{
	struct hf_clone_info c = {.pid = pid};
	snprintf(c.name, sizeof(c.name), "%s", name);
	snprintf(c.console, sizeof(c.console), "%s", console);
	return c;
}

static void test_names_and_pids(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int pid;
		const char *why;
	} bad[] = {
		{"../../etc/x", 100, "named the clone '../../etc/x', not fn.N"},
		{"fn", 100, "not fn.N"},
		{"fn.", 100, "not fn.N"},
		{"fn.1/../../x", 100, "not fn.N"},
		{"fn.12345678901", 100, "not fn.N"},
		{"fnx.1", 100, "not fn.N"},
		{"other.1", 100, "not fn.N"},
		{"fn.3", 1, "gave clone fn.3 pid 1"},
		{"fn.3", -5, "pid -5"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hf_clone_info c = info(bad[i].name, bad[i].pid, "");
		char why[256] = "";
		assert_int_equal(fn_clone_reply_check("fn", "/run/d", true, &c, why, sizeof(why)), -1);
		if (!strstr(why, bad[i].why))
			fail_msg("reply %zu: '%s' does not say '%s'", i, why, bad[i].why);
	}
}

/* The console is the one serve names, whatever the reply said. */
static void test_console_is_serves(void **state)
{
	(void)state;
	char why[256];
	struct hf_clone_info c = info("fn.12", 4242, "/etc/shadow");
	assert_int_equal(fn_clone_reply_check("fn", "/run/d", true, &c, why, sizeof(why)), 0);
	assert_string_equal(c.console, "/run/d/fn.12.console");
	c = info("fn.12", 4242, "/etc/shadow");
	assert_int_equal(fn_clone_reply_check("fn", "/run/d", false, &c, why, sizeof(why)), 0);
	assert_string_equal(c.console, "");
}

static void test_descends(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t child = fork();
	if (child == 0) { /* a grandchild of the test, then wait to be ended */
		pid_t g = fork();
		if (g == 0) {
			pause();
			_exit(0);
		}
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		pause();
		_exit(0);
	}
	pid_t grandchild;
	assert_int_equal(read(p[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	assert_true(fn_descends(grandchild, getpid()));
	assert_true(fn_descends(grandchild, child));
	assert_true(fn_descends(child, child));
	assert_false(fn_descends(getpid(), child));
	assert_false(fn_descends(1, getpid()));
	assert_false(fn_descends(getppid(), getpid()));
	assert_false(fn_descends(grandchild, 0));
	kill(grandchild, SIGKILL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_pids),
		cmocka_unit_test(test_console_is_serves),
		cmocka_unit_test(test_descends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
