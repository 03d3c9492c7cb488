/* Unit tests for the function device (src/devices/fnport.c), driven through its ports as
 * a hostile bare guest would, over real guest RAM, against real Unix sockets and a real
 * event loop: invocations both ways round (client first, guest first), payloads over the
 * guest's cap, errors and init errors, every bad address, length, cap and error type (each
 * must end the guest, never the VMM), answers without an invocation, clients that hang up
 * or stall, bad INVOKE lines, a clone's own socket, and a worker's channel (WORKER: a
 * reset asked after each answer, READY after it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/loop.h"
#include "core/vcpu.h"
#include "devices/devices.h"
#include "host_socket.h"
#include "hyperfork/abi.h"

#define RAM (16 * MiB)
#define INV 0x10000u	  /* struct hf_invocation */
#define ANS 0x11000u	  /* struct hf_buf / struct hf_fn_error */
#define PAY 0x100000ull	  /* payload buffer */
#define BODY 0x800000ull  /* answers */

struct fixture {
	struct vm vm;
	struct vcpu cpus[2];
	struct device *dev;
	struct loop loop;
	char dir[64], path[96];
};

static void *gp(struct fixture *f, uint64_t gpa)
{
	return mem_ptr(&f->vm.mem, gpa, 1);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	mem_layout(&f->vm.mem, RAM, 0);
	if (mem_map(&f->vm.mem, false) < 0)
		return -1;
	vm_init_sync(&f->vm);
	f->vm.vm_fd = f->vm.notify_fd = -1;
	f->vm.ncpus = 2;
	f->vm.vcpus = f->cpus;
	for (unsigned i = 0; i < 2; i++)
		f->cpus[i] = (struct vcpu){.vm = &f->vm, .index = i, .fd = -1};
	snprintf(f->dir, sizeof(f->dir), "/tmp/hf-test-fn.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->vm.cfg.name, sizeof(f->vm.cfg.name), "f");
	f->vm.cfg.run_dir = f->dir;
	snprintf(f->path, sizeof(f->path), "%s/f.fn", f->dir);
	char err[128];
	void *a = fnport_option.parse("", err, sizeof(err));
	int r = a ? fnport_option.add(&f->vm, a) : -1;
	free(a);
	if (r < 0 || loop_init(&f->loop) < 0)
		return -1;
	f->dev = f->vm.bus.devices[0];
	if (f->dev->ops->attach(f->dev, &f->loop) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	f->dev->ops->destroy(f->dev);
	loop_close(&f->loop);
	mem_unmap(&f->vm.mem);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void pump(struct fixture *f)
{
	pump_loop(&f->loop);
}

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* A client sends an invocation (with a client context) and stays connected. */
static int invoke(struct fixture *f, const char *id, const void *payload, size_t len)
{
	int fd = host_connect(f->path);
	char line[256];
	int n = snprintf(line, sizeof(line), "INVOKE %s 1700000000123 arn:x - 4 %zu 1\nctx!", id,
			 len);
	send_all(fd, line, (size_t)n);
	if (len)
		send_all(fd, payload, len);
	pump(f);
	return fd;
}

/* Read until the end of stream (2 s at most) into buf; returns the bytes read. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0)
			return got;
		ssize_t r = read(fd, buf + got, cap - got);
		if (r <= 0)
			return got;
		got += (size_t)r;
		if (got == cap)
			return got;
	}
}

static void expect_answer(struct fixture *f, int fd, const char *want, size_t want_len)
{
	char buf[512] = "";
	pump(f);
	size_t n = read_all(fd, buf, sizeof(buf) - 1);
	if (n != want_len || memcmp(buf, want, n))
		fail_msg("answer '%.*s', wanted '%.*s'", (int)n, buf, (int)want_len, want);
	close(fd);
}

static int port(struct fixture *f, unsigned cpu, uint16_t p, uint32_t value)
{
	return f->dev->ops->pio(f->dev, &f->cpus[cpu], p, true, (uint8_t *)&value, 4);
}

static struct hf_invocation *inv(struct fixture *f)
{
	return gp(f, INV);
}

/* HF_PORT_NEXT on vCPU 0 with a buffer of cap bytes at PAY. */
static int next(struct fixture *f, uint64_t cap)
{
	memset(inv(f), 0xee, sizeof(struct hf_invocation));
	inv(f)->buf = PAY;
	inv(f)->cap = cap;
	return port(f, 0, HF_PORT_NEXT, INV);
}

static int respond(struct fixture *f, const char *body)
{
	memcpy(gp(f, BODY), body, strlen(body));
	*(struct hf_buf *)gp(f, ANS) = (struct hf_buf){.addr = BODY, .len = strlen(body)};
	return port(f, 0, HF_PORT_RESPOND, ANS);
}

static int report(struct fixture *f, const char *type, const char *body)
{
	struct hf_fn_error *e = gp(f, ANS);
	memcpy(gp(f, BODY), body, strlen(body));
	*e = (struct hf_fn_error){.addr = BODY, .len = strlen(body)};
	snprintf(e->type, sizeof(e->type), "%s", type);
	return port(f, 0, HF_PORT_FAIL, ANS);
}

static bool waiting(struct fixture *f)
{
	return f->cpus[0].waiting;
}

/* The guest was stopped for misbehaving, with a message holding what; then the VM is
 * made to run again for the next check. */
static void expect_guest_error(struct fixture *f, int r, const char *what)
{
	assert_int_equal(r, -1);
	assert_true(f->vm.exiting);
	assert_int_equal(f->vm.exit_status, HF_STATUS_CRASH);
	if (!strstr(f->vm.exit_msg, what))
		fail_msg("guest error '%s' does not say '%s'", f->vm.exit_msg, what);
	f->vm.exiting = false;
	f->vm.exit_msg[0] = 0;
}

static void test_client_first(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	int c = invoke(f, "req-1", "hello", 5);
	assert_int_equal(next(f, 4096), 0);
	assert_false(waiting(f)); /* it was there already */
	assert_int_equal(inv(f)->status, HF_NEXT_OK);
	assert_int_equal(inv(f)->len, 5);
	assert_int_equal(inv(f)->deadline_ms, 1700000000123ull);
	assert_int_equal(inv(f)->left_ms, 0); /* a deadline long past */
	assert_int_equal(inv(f)->buf, PAY); /* the guest's fields are left alone */
	assert_int_equal(inv(f)->cap, 4096);
	assert_string_equal(inv(f)->request_id, "req-1");
	assert_memory_equal(gp(f, PAY), "hello", 5);
	assert_int_equal(respond(f, "{\"ok\":1}"), 0);
	expect_answer(f, c, "RESPONSE 8\n{\"ok\":1}", 19);
	assert_false(f->vm.exiting);
}

static void test_guest_first_then_warm_loop(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(next(f, 4096), 0);
		assert_true(waiting(f)); /* the vCPU parks */
		pump(f);
		assert_true(waiting(f));
		char id[16];
		snprintf(id, sizeof(id), "r%d", i);
		int c = invoke(f, id, "", 0); /* an empty payload */
		assert_false(waiting(f));
		assert_int_equal(inv(f)->status, HF_NEXT_OK);
		assert_int_equal(inv(f)->len, 0);
		assert_string_equal(inv(f)->request_id, id);
		assert_int_equal(respond(f, "x"), 0);
		expect_answer(f, c, "RESPONSE 1\nx", 12);
	}
}

/* The time left to the deadline, by the host's clock, as the guest takes the invocation. */
static void test_time_left(void **state)
{
	struct fixture *f = *state;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	unsigned long long deadline = (unsigned long long)now.tv_sec * 1000 + 60000;
	int c = host_connect(f->path);
	char line[128];
	int n = snprintf(line, sizeof(line), "INVOKE t %llu arn - 0 1 1\nz", deadline);
	send_all(c, line, (size_t)n);
	pump(f);
	assert_int_equal(next(f, 16), 0);
	assert_int_equal(inv(f)->deadline_ms, deadline);
	if (inv(f)->left_ms > 60000 || inv(f)->left_ms < 55000)
		fail_msg("%u ms left of a deadline 60 s away", inv(f)->left_ms);
	assert_int_equal(respond(f, "x"), 0);
	expect_answer(f, c, "RESPONSE 1\nx", 12);
}

static void test_payload_larger_than_cap(void **state)
{
	struct fixture *f = *state;
	int c = invoke(f, "big", "0123456789", 10);
	assert_int_equal(next(f, 4), 0);
	assert_false(waiting(f));
	assert_int_equal(inv(f)->status, HF_NEXT_TOO_LARGE);
	assert_int_equal(inv(f)->len, 10);
	assert_int_equal(*(uint8_t *)gp(f, PAY), 0); /* nothing written */
	/* The same invocation, again, with room. */
	assert_int_equal(next(f, 10), 0);
	assert_int_equal(inv(f)->status, HF_NEXT_OK);
	assert_string_equal(inv(f)->request_id, "big");
	assert_memory_equal(gp(f, PAY), "0123456789", 10);
	assert_int_equal(respond(f, "ok"), 0);
	expect_answer(f, c, "RESPONSE 2\nok", 13);
}

static void test_6_mib_payload_both_ways(void **state)
{
	struct fixture *f = *state;
	size_t len = HF_FN_PAYLOAD_MAX;
	char *p = malloc(len);
	for (size_t i = 0; i < len; i++)
		p[i] = (char)('a' + i % 26);
	assert_int_equal(next(f, HF_FN_PAYLOAD_MAX), 0);
	int c = host_connect(f->path);
	char line[128];
	int n = snprintf(line, sizeof(line), "INVOKE big 1 arn - 0 %zu 1\n", len);
	send_all(c, line, (size_t)n);
	/* Sent in pieces while the loop reads them. */
	for (size_t off = 0; off < len; off += 65536) {
		send_all(c, p + off, MIN(65536, len - off));
		pump(f);
	}
	assert_false(waiting(f));
	assert_int_equal(inv(f)->len, len);
	assert_memory_equal(gp(f, PAY), p, len);
	/* The answer back, 6 MiB: more than the socket holds at once. */
	memcpy(gp(f, BODY), p, len);
	*(struct hf_buf *)gp(f, ANS) = (struct hf_buf){.addr = BODY, .len = len};
	assert_int_equal(port(f, 0, HF_PORT_RESPOND, ANS), 0);
	char *back = malloc(len + 64);
	size_t got = 0;
	while (got < len + 64) {
		pump(f);
		struct pollfd pf = {.fd = c, .events = POLLIN};
		if (poll(&pf, 1, 2000) <= 0)
			break;
		ssize_t r = read(c, back + got, len + 64 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	n = snprintf(line, sizeof(line), "RESPONSE %zu\n", len);
	assert_int_equal(got, (size_t)n + len);
	assert_memory_equal(back, line, (size_t)n);
	assert_memory_equal(back + n, p, len);
	close(c);
	free(p);
	free(back);
}

static void test_errors_and_init_errors(void **state)
{
	struct fixture *f = *state;
	/* Before any invocation was taken: an init error, to a client whose invocation
	 * waits. */
	int c = invoke(f, "i1", "p", 1);
	assert_int_equal(report(f, "Init.Broken", "{\"e\":1}"), 0);
	expect_answer(f, c, "INIT_ERROR 7 Init.Broken\n{\"e\":1}", 32);
	/* With nobody waiting it goes nowhere, and is no misbehaviour. */
	assert_int_equal(report(f, "Init.Broken", "{}"), 0);
	assert_false(f->vm.exiting);
	/* Then an invocation's error, and one without a type. */
	c = invoke(f, "e1", "p", 1);
	assert_int_equal(next(f, 16), 0);
	assert_int_equal(report(f, "My.Error", "oops"), 0);
	expect_answer(f, c, "ERROR 4 My.Error\noops", 21);
	c = invoke(f, "e2", "p", 1);
	assert_int_equal(next(f, 16), 0);
	assert_int_equal(report(f, "", ""), 0);
	expect_answer(f, c, "ERROR 0 -\n", 10);
	/* A result over 6 MiB: Lambda's error for it. */
	c = invoke(f, "e3", "p", 1);
	assert_int_equal(next(f, 16), 0);
	*(struct hf_buf *)gp(f, ANS) = (struct hf_buf){.addr = 0, .len = HF_FN_PAYLOAD_MAX + 1};
	assert_int_equal(port(f, 0, HF_PORT_RESPOND, ANS), 0);
	char buf[512] = "";
	pump(f);
	read_all(c, buf, sizeof(buf) - 1);
	close(c);
	assert_non_null(strstr(buf, "ERROR "));
	assert_non_null(strstr(buf, " Function.ResponseSizeTooLarge\n{\"errorMessage\":\"Response "
				    "payload size (6291457 bytes) exceeded"));
	assert_false(f->vm.exiting);
}

static void test_bad_addresses_lengths_caps_types(void **state)
{
	struct fixture *f = *state;
	expect_guest_error(f, port(f, 0, HF_PORT_NEXT, RAM - 8), "hf_invocation at 0x");
	expect_guest_error(f, port(f, 0, HF_PORT_NEXT, 0xfffffff0u), "outside guest RAM");
	expect_guest_error(f, next(f, HF_FN_PAYLOAD_MAX + 1), "longer than 6291456 bytes");
	inv(f)->buf = RAM - 100;
	inv(f)->cap = 101;
	expect_guest_error(f, port(f, 0, HF_PORT_NEXT, INV), "payload buffer");
	inv(f)->buf = UINT64_MAX - 10;
	inv(f)->cap = 100; /* wraps around */
	expect_guest_error(f, port(f, 0, HF_PORT_NEXT, INV), "payload buffer");
	assert_false(waiting(f));
	/* The answers, with an invocation taken so that only the argument is wrong. */
	int c = invoke(f, "a", "p", 1);
	assert_int_equal(next(f, 16), 0);
	expect_guest_error(f, port(f, 0, HF_PORT_RESPOND, RAM), "struct hf_buf at");
	*(struct hf_buf *)gp(f, ANS) = (struct hf_buf){.addr = RAM - 1, .len = 2};
	expect_guest_error(f, port(f, 0, HF_PORT_RESPOND, ANS), "result 0x");
	expect_guest_error(f, port(f, 0, HF_PORT_FAIL, RAM - 16), "struct hf_fn_error at");
	struct hf_fn_error *e = gp(f, ANS);
	*e = (struct hf_fn_error){.addr = BODY, .len = 1};
	memset(e->type, 'A', sizeof(e->type));
	expect_guest_error(f, port(f, 0, HF_PORT_FAIL, ANS), "not NUL-terminated");
	snprintf(e->type, sizeof(e->type), "Bad Type");
	expect_guest_error(f, port(f, 0, HF_PORT_FAIL, ANS), "byte 0x20 at 3");
	snprintf(e->type, sizeof(e->type), "T\n");
	expect_guest_error(f, port(f, 0, HF_PORT_FAIL, ANS), "byte 0x0a at 1");
	snprintf(e->type, sizeof(e->type), "T");
	e->len = HF_FN_PAYLOAD_MAX + 1;
	expect_guest_error(f, port(f, 0, HF_PORT_FAIL, ANS), "longer than 6291456");
	e->addr = RAM - 1;
	e->len = 2;
	expect_guest_error(f, port(f, 0, HF_PORT_FAIL, ANS), "outside guest RAM");
	/* Wrong access sizes and directions. */
	uint8_t v[4] = {0};
	expect_guest_error(f, f->dev->ops->pio(f->dev, &f->cpus[0], HF_PORT_NEXT, false, v, 4),
			   "read of 4 bytes");
	expect_guest_error(f, f->dev->ops->pio(f->dev, &f->cpus[0], HF_PORT_RESPOND, true, v, 1),
			   "write of 1 bytes");
	/* None of it disturbed the invocation: it is answered as usual. */
	assert_int_equal(respond(f, "fine"), 0);
	expect_answer(f, c, "RESPONSE 4\nfine", 15);
}

static void test_answers_without_an_invocation(void **state)
{
	struct fixture *f = *state;
	expect_guest_error(f, respond(f, "x"), "response with no invocation taken");
	int c = invoke(f, "a", "p", 1);
	/* Held but not taken yet: no answer for it either. */
	expect_guest_error(f, respond(f, "x"), "response with no invocation taken");
	assert_int_equal(next(f, 16), 0);
	assert_int_equal(respond(f, "one"), 0);
	expect_answer(f, c, "RESPONSE 3\none", 14);
	/* Answered already: a second answer, or an error after it (no longer an init error). */
	expect_guest_error(f, respond(f, "two"), "response with no invocation taken");
	expect_guest_error(f, report(f, "T", "x"), "error report with no invocation taken");
	/* Two vCPUs may not both wait. */
	assert_int_equal(next(f, 16), 0);
	assert_true(waiting(f));
	expect_guest_error(f, port(f, 1, HF_PORT_NEXT, INV), "vCPU 0 already waits");
}

static void test_client_hangs_up(void **state)
{
	struct fixture *f = *state;
	/* Before the guest took it: the invocation is gone, the guest never sees it. */
	int c = invoke(f, "gone", "p", 1);
	close(c);
	pump(f);
	assert_int_equal(next(f, 16), 0);
	assert_true(waiting(f));
	/* After: the answer is dropped quietly, and the next client is served. */
	c = invoke(f, "taken", "p", 1);
	assert_false(waiting(f));
	assert_string_equal(inv(f)->request_id, "taken");
	close(c);
	pump(f);
	assert_int_equal(respond(f, "late"), 0);
	assert_false(f->vm.exiting);
	c = invoke(f, "after", "q", 1);
	assert_int_equal(next(f, 16), 0);
	assert_string_equal(inv(f)->request_id, "after");
	assert_int_equal(report(f, "T", "late"), 0);
	expect_answer(f, c, "ERROR 4 T\nlate", 14);
	/* A client that only shut its sending side still gets its answer. */
	c = host_connect(f->path);
	send_all(c, "INVOKE h 1 a - 0 1 1\nz", 22);
	shutdown(c, SHUT_WR);
	pump(f);
	assert_int_equal(next(f, 16), 0);
	assert_string_equal(inv(f)->request_id, "h");
	assert_int_equal(respond(f, "y"), 0);
	expect_answer(f, c, "RESPONSE 1\ny", 12);
}

static void test_next_again_without_answering(void **state)
{
	struct fixture *f = *state;
	int c = invoke(f, "a", "p", 1);
	assert_int_equal(next(f, 16), 0);
	assert_int_equal(next(f, 16), 0); /* a's client sees its connection end */
	assert_true(waiting(f));
	expect_answer(f, c, "", 0);
}

static void test_bad_invoke_lines(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {
	    "CONNECT 9000\n",
	    "INVOKE a 1 arn - 0 1\n",
	    "INVOKE a 1 arn - 0 1 1 extra\n",
	    "INVOKE a 1 arn - 0 1 now\n",
	    "INVOKE a 1 arn - 0 1 99999999999999999999\n",
	    "INVOKE  a 1 arn - 0 1 1\n",
	    "INVOKE a 1 arn  - 0 1 1\n",
	    "INVOKE a x arn - 0 1 1\n",
	    "INVOKE a 1 arn - -1 1 1\n",
	    "INVOKE a 1 arn - 0 6291457 1\n",
	    "INVOKE a 1 arn - 6291457 0 1\n",
	    "INVOKE a 99999999999999999999 arn - 0 1 1\n",
	    "INVOKE 0123456789012345678901234567890123456789 1 arn - 0 1 1\n",
	    "INVOKE a\x01 1 arn - 0 1 1\n",
	    "INVOKE a 1 arn - 0 1 1", /* no end of line, then a hang-up */
	};
	assert_int_equal(next(f, 16), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int c = host_connect(f->path);
		send_all(c, bad[i], strlen(bad[i]));
		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			shutdown(c, SHUT_WR);
		pump(f);
		char buf[64];
		if (read_all(c, buf, sizeof(buf)) != 0)
			fail_msg("line %zu was answered", i);
		close(c);
		assert_true(waiting(f));
	}
	/* A line past 512 bytes. */
	int c = host_connect(f->path);
	char longline[700];
	memset(longline, 'A', sizeof(longline));
	send_all(c, longline, sizeof(longline));
	pump(f);
	char buf[16];
	assert_int_equal(read_all(c, buf, sizeof(buf)), 0);
	close(c);
	/* A 39-byte id is fine. */
	c = invoke(f, "012345678901234567890123456789012345678", "p", 1);
	assert_false(waiting(f));
	assert_string_equal(inv(f)->request_id, "012345678901234567890123456789012345678");
	close(c);
	assert_false(f->vm.exiting);
}

static void test_stalled_client_does_not_hold_the_loop(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(next(f, 16), 0);
	int stall = host_connect(f->path);
	send_all(stall, "INVOKE slow 1 arn - 0 5 1\nab", 28); /* 3 bytes short */
	uint64_t t = now_ns();
	pump(f);
	assert_true(now_ns() - t < 2000000000ull); /* pump returned: the loop never blocked */
	assert_true(waiting(f));
	/* Another client waits in the backlog meanwhile (one connection at a time). */
	int other = host_connect(f->path);
	send_all(other, "INVOKE next 1 arn - 0 1 1\nz", 27);
	pump(f);
	assert_true(waiting(f));
	send_all(stall, "cde", 3);
	pump(f);
	assert_false(waiting(f));
	assert_string_equal(inv(f)->request_id, "slow");
	assert_memory_equal(gp(f, PAY), "abcde", 5);
	assert_int_equal(respond(f, "1"), 0);
	expect_answer(f, stall, "RESPONSE 1\n1", 12);
	assert_int_equal(next(f, 16), 0);
	assert_string_equal(inv(f)->request_id, "next");
	assert_int_equal(respond(f, "2"), 0);
	expect_answer(f, other, "RESPONSE 1\n2", 12);
}

static void test_clone_gets_its_own_socket(void **state)
{
	struct fixture *f = *state;
	/* The parent's guest has taken an invocation and waits for nothing else. */
	int c = invoke(f, "p", "p", 1);
	assert_int_equal(next(f, 16), 0);
	/* Fork: the child drops the parent's sockets (never its file) and, at attach, listens
	 * on its own. */
	assert_int_equal(f->dev->ops->post_fork(f->dev), 0);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	snprintf(f->vm.cfg.name, sizeof(f->vm.cfg.name), "f.1");
	struct loop l2;
	assert_int_equal(loop_init(&l2), 0);
	assert_int_equal(f->dev->ops->attach(f->dev, &l2), 0);
	loop_close(&f->loop);
	f->loop = l2;
	char path1[128];
	snprintf(path1, sizeof(path1), "%s/f.1.fn", f->dir);
	assert_int_equal(stat(path1, &st), 0);
	/* The invocation the parent took is answered into the void in the clone. */
	assert_int_equal(respond(f, "clone"), 0);
	assert_false(f->vm.exiting);
	close(c);
	/* The clone's own invocations. */
	snprintf(f->path, sizeof(f->path), "%s", path1);
	c = invoke(f, "c1", "q", 1);
	assert_int_equal(next(f, 16), 0);
	assert_string_equal(inv(f)->request_id, "c1");
	assert_int_equal(respond(f, "mine"), 0);
	expect_answer(f, c, "RESPONSE 4\nmine", 15);
	/* Its socket goes with it; the parent's file is the parent's. */
	f->dev->ops->destroy(f->dev);
	assert_int_equal(stat(path1, &st), -1);
	snprintf(f->path, sizeof(f->path), "%s/f.fn", f->dir);
	assert_int_equal(stat(f->path, &st), 0);
	f->vm.bus.ndevices = 0; /* a fresh device for teardown */
	void *a = fnport_option.parse("", (char[8]){0}, 8);
	assert_int_equal(fnport_option.add(&f->vm, a), 0);
	free(a);
	f->dev = f->vm.bus.devices[0];
}

static void test_template_refuses_clients(void **state)
{
	struct fixture *f = *state;
	f->vm.frozen = true;
	int c = host_connect(f->path);
	send_all(c, "INVOKE a 1 arn - 0 1 1\nz", 24);
	pump(f);
	char buf[16];
	assert_int_equal(read_all(c, buf, sizeof(buf)), 0);
	close(c);
	f->vm.frozen = false;
}

static void test_option(void **state)
{
	(void)state;
	char err[64] = "";
	void *p = fnport_option.parse("", err, sizeof(err));
	assert_non_null(p);
	free(p);
	assert_null(fnport_option.parse("x", err, sizeof(err)));
	assert_string_equal(err, "takes no argument");
	assert_true(fnport_option.bare_only && !fnport_option.linux_only);
	assert_null(fnport_option.metavar);
	bool listed = false;
	for (const struct device_option *const *o = device_options; *o; o++)
		listed |= *o == &fnport_option;
	assert_true(listed);
}

static void test_live_socket_is_refused(void **state)
{
	struct fixture *f = *state;
	/* A second VM of the same name: its attach fails, naming the path. */
	struct vm other = {0};
	vm_init_sync(&other);
	other.cfg = f->vm.cfg;
	void *a = fnport_option.parse("", (char[8]){0}, 8);
	assert_int_equal(fnport_option.add(&other, a), 0);
	free(a);
	struct device *d = other.bus.devices[0];
	assert_int_equal(d->ops->attach(d, &f->loop), -1);
	d->ops->destroy(d);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0); /* the first VM's socket stays */
}

/* Read one line (with its '\n') from fd, 2 s at most, into buf; returns it. */
static const char *read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0 || read(fd, buf + n, 1) != 1)
			break;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return buf;
}

/* A worker: its VM back at its start (as clone id) after the answer, which the layer
 * above does on the main loop when the device asks; the device's part is its reset hook. */
static void reset_as(struct fixture *f, unsigned id)
{
	assert_true(f->vm.reset_asked);
	f->vm.reset_asked = false;
	f->vm.clone_id = id;
	f->cpus[0].waiting = false; /* (the vCPUs start again from their snapshot) */
	assert_int_equal(f->dev->ops->reset(f->dev), 0);
	pump(f);
}

static void test_worker_channel(void **state)
{
	struct fixture *f = *state;
	char line[600];
	/* A VM that cannot be reset refuses, naming why, and lets the client go. */
	int c = host_connect(f->path);
	send_all(c, "WORKER\n", 7);
	pump(f);
	assert_string_equal(read_line(c, line, sizeof(line)),
			    "REFUSED this VM cannot be reset (a clone of a template started with "
			    "--reusable can)\n");
	expect_answer(f, c, "", 0);
	/* One that can: READY with its number, then invocation after invocation on the one
	 * connection, each answer followed by a reset the device asks for and READY again
	 * with the new number. */
	f->vm.resettable = true;
	f->vm.clone_id = 3;
	c = host_connect(f->path);
	send_all(c, "WORKER\n", 7);
	pump(f);
	assert_string_equal(read_line(c, line, sizeof(line)), "READY 3\n");
	for (unsigned i = 0; i < 3; i++) {
		char id[16], inv_line[64];
		snprintf(id, sizeof(id), "w%u", i);
		int n = snprintf(inv_line, sizeof(inv_line), "INVOKE %s 1 a - 0 2 1\np%u", id, i);
		send_all(c, inv_line, (size_t)n);
		pump(f);
		assert_int_equal(next(f, 16), 0);
		assert_string_equal(inv(f)->request_id, id);
		assert_false(f->vm.reset_asked);
		assert_int_equal(respond(f, "ok"), 0);
		pump(f);
		assert_string_equal(read_line(c, line, sizeof(line)), "RESPONSE 2\n");
		assert_int_equal(read_all(c, line, 2), 2);
		assert_memory_equal(line, "ok", 2);
		assert_true(f->vm.reset_asked);
		/* Until the reset, the guest has no invocation: answering again is its error. */
		expect_guest_error(f, respond(f, "again"), "response with no invocation taken");
		/* An INVOKE sent ahead waits for the reset, then goes to the reset guest. */
		if (i == 1) {
			send_all(c, "INVOKE ahead 1 a - 0 1 1\nz", 26);
			pump(f);
		}
		reset_as(f, 100 + i);
		snprintf(inv_line, sizeof(inv_line), "READY %u\n", 100 + i);
		assert_string_equal(read_line(c, line, sizeof(line)), inv_line);
		if (i == 1) {
			assert_int_equal(next(f, 16), 0);
			assert_false(waiting(f));
			assert_string_equal(inv(f)->request_id, "ahead");
			assert_int_equal(respond(f, "ok"), 0);
			pump(f);
			assert_string_equal(read_line(c, line, sizeof(line)), "RESPONSE 2\n");
			assert_int_equal(read_all(c, line, 2), 2);
			reset_as(f, 200);
			assert_string_equal(read_line(c, line, sizeof(line)), "READY 200\n");
		}
	}
	/* Saying WORKER twice is refused. */
	send_all(c, "WORKER\n", 7);
	pump(f);
	assert_string_equal(read_line(c, line, sizeof(line)),
			    "REFUSED this connection is a worker's already\n");
	expect_answer(f, c, "", 0);
	/* (its connection gone, the VM goes back to its start all the same) */
	reset_as(f, 300);
	assert_false(f->vm.exiting);
}

static void test_worker_hangs_up(void **state)
{
	struct fixture *f = *state;
	char line[64];
	f->vm.resettable = true;
	int c = host_connect(f->path);
	send_all(c, "WORKER\nINVOKE gone 1 a - 0 1 1\nz", 33);
	pump(f);
	assert_string_equal(read_line(c, line, sizeof(line)), "READY 0\n");
	assert_int_equal(next(f, 16), 0);
	assert_string_equal(inv(f)->request_id, "gone");
	/* The worker leaves while its guest runs the invocation: the VM is reset all the
	 * same, and the guest's late answer is dropped quietly, not held against it. */
	close(c);
	pump(f);
	assert_true(f->vm.reset_asked);
	assert_int_equal(respond(f, "late"), 0);
	assert_false(f->vm.exiting);
	/* Until the reset, no one else is let in. */
	c = invoke(f, "next", "q", 1);
	assert_int_equal(next(f, 16), 0);
	assert_true(waiting(f));
	reset_as(f, 9);
	assert_int_equal(next(f, 16), 0);
	assert_false(waiting(f));
	assert_string_equal(inv(f)->request_id, "next");
	assert_int_equal(respond(f, "y"), 0);
	expect_answer(f, c, "RESPONSE 1\ny", 12);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_client_first),
	    T(test_guest_first_then_warm_loop),
	    T(test_time_left),
	    T(test_payload_larger_than_cap),
	    T(test_6_mib_payload_both_ways),
	    T(test_errors_and_init_errors),
	    T(test_bad_addresses_lengths_caps_types),
	    T(test_answers_without_an_invocation),
	    T(test_client_hangs_up),
	    T(test_next_again_without_answering),
	    T(test_bad_invoke_lines),
	    T(test_stalled_client_does_not_hold_the_loop),
	    T(test_clone_gets_its_own_socket),
	    T(test_template_refuses_clients),
	    T(test_live_socket_is_refused),
	    T(test_worker_channel),
	    T(test_worker_hangs_up),
	    cmocka_unit_test(test_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
