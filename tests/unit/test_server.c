/* Control socket server (src/api/server.c) over a real Unix socket and event loop: answers
 * larger than the socket buffer reach a client that does not read at once, whole; requests
 * sent meanwhile are answered after them, in order; a client that leaves mid-answer costs
 * nothing. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/server.h"
#include "util/sock.h"

#define BIG_CLONES 1024 /* a fork answer of ~400 KiB: past any Unix socket buffer */

struct fixture {
	char dir[64], path[128];
	struct loop loop;
	struct server srv;
	unsigned answered;
};

/* Answers status with a small reply, fork with BIG_CLONES clones of long names. */
static int handler(void *arg, struct server_client *c, const struct hf_request *req,
		   struct hf_response *resp)
{
	struct fixture *f = arg;
	(void)c;
	f->answered++;
	resp->ok = true;
	if (req->cmd == CMD_FORK) {
		resp->nclones = BIG_CLONES;
		resp->clones = calloc(BIG_CLONES, sizeof(*resp->clones));
		assert_non_null(resp->clones);
		for (unsigned i = 0; i < BIG_CLONES; i++) {
			struct hf_clone_info *ci = &resp->clones[i];
			snprintf(ci->name, sizeof(ci->name), "a-rather-long-function-name.%u", i + 1);
			ci->pid = 100000 + (int)i;
			snprintf(ci->socket, sizeof(ci->socket),
				 "/run/hyperfork/a/rather/long/directory/name/for/sockets/%s.sock",
				 ci->name);
			snprintf(ci->console, sizeof(ci->console),
				 "/run/hyperfork/a/rather/long/directory/name/for/consoles/%s.console",
				 ci->name);
		}
	} else {
		snprintf(resp->vm.name, sizeof(resp->vm.name), "vm");
		snprintf(resp->vm.state, sizeof(resp->vm.state), "running");
	}
	return SERVER_ANSWER;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/hf-test-server.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.sock", f->dir);
	assert_int_equal(loop_init(&f->loop), 0);
	assert_int_equal(server_open(&f->srv, &f->loop, f->path, handler, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	server_close(&f->srv);
	loop_close(&f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Run the server's loop until it has nothing to do for idle_ms. */
static void pump(struct fixture *f, int idle_ms)
{
	struct pollfd p = {.fd = f->loop.epfd, .events = POLLIN};
	while (poll(&p, 1, idle_ms) > 0)
		assert_int_equal(loop_once(&f->loop, 0), 0);
}

static int client(struct fixture *f)
{
	int fd = unix_connect(f->path, 0);
	assert_true(fd >= 0);
	int small = 4096; /* the smallest buffer the kernel gives */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	return fd;
}

static void send_all(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read one line from fd, running the server meanwhile. malloc'd, without its '\n'. */
static char *read_line(struct fixture *f, int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		pump(f, 0);
		ssize_t r = recv(fd, buf + n, 1, MSG_DONTWAIT); /* a byte at a time: one line */
		if (r < 0 && errno == EAGAIN) {
			pump(f, 20);
			continue;
		}
		assert_int_equal(r, 1);
		if (buf[n] == '\n')
			break;
		if (++n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

static void test_big_answer_to_a_slow_reader(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);
	/* A fork answer, then a status request sent before reading a byte of it. */
	send_all(fd, "{\"cmd\":\"fork\",\"count\":2}\n{\"cmd\":\"status\"}\n");
	pump(f, 100); /* the server answers as far as the socket takes it, and waits */
	assert_int_equal(f->answered, 1); /* the status request waits for the fork answer */
	size_t len;
	char *line = read_line(f, fd, &len);
	if (len < 256 * 1024)
		fail_msg("the fork answer is only %zu bytes (cut short?)", len);
	struct hf_response resp;
	char err[256];
	if (proto_parse_response(CMD_FORK, line, len, &resp, err, sizeof(err)) < 0)
		fail_msg("the fork answer (%zu bytes) does not parse: %s", len, err);
	assert_true(resp.ok);
	assert_int_equal(resp.nclones, BIG_CLONES);
	assert_string_equal(resp.clones[BIG_CLONES - 1].name, "a-rather-long-function-name.1024");
	proto_response_free(&resp);
	free(line);
	line = read_line(f, fd, &len); /* then the status answer */
	assert_int_equal(proto_parse_response(CMD_STATUS, line, len, &resp, err, sizeof(err)), 0);
	assert_string_equal(resp.vm.state, "running");
	assert_int_equal(f->answered, 2);
	free(line);
	close(fd);
	pump(f, 20);
}

/* A client that leaves with most of its answer unsent: dropped, the server serves on. */
static void test_client_leaves_mid_answer(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);
	send_all(fd, "{\"cmd\":\"fork\",\"count\":2}\n");
	pump(f, 100);
	close(fd);
	pump(f, 100);
	fd = client(f);
	send_all(fd, "{\"cmd\":\"status\"}\n");
	size_t len;
	char *line = read_line(f, fd, &len);
	assert_non_null(strstr(line, "\"running\""));
	free(line);
	close(fd);
	pump(f, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_big_answer_to_a_slow_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_leaves_mid_answer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
