/* Unit tests for the control protocol codec (src/api/proto.c): requests and responses, valid and malformed. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/proto.h"

#define assert_err_contains(err, word)                                                       \
	do {                                                                                 \
		if (!strstr((err), (word)))                                                  \
			fail_msg("error \"%s\" does not mention \"%s\"", (err), (word));     \
	} while (0)

static const enum hf_cmd all_cmds[] = {CMD_STATUS, CMD_PAUSE, CMD_RESUME, CMD_STOP, CMD_FORK};

/* Parse from an exact-size heap copy without a terminating NUL, so that any read past len
 * is a valgrind error. */
static int req_parse_len(const char *s, size_t len, struct hf_request *req, char *err,
			 size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, s, len);
	err[0] = 0;
	int rc = proto_parse_request(copy, len, req, err, errlen);
	free(copy);
	return rc;
}

static int req_parse(const char *s, struct hf_request *req, char *err, size_t errlen)
{
	return req_parse_len(s, strlen(s), req, err, errlen);
}

static int resp_parse_len(enum hf_cmd cmd, const char *s, size_t len, struct hf_response *r,
			  char *err, size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, s, len);
	err[0] = 0;
	int rc = proto_parse_response(cmd, copy, len, r, err, errlen);
	free(copy);
	return rc;
}

static int resp_parse(enum hf_cmd cmd, const char *s, struct hf_response *r, char *err,
		      size_t errlen)
{
	return resp_parse_len(cmd, s, strlen(s), r, err, errlen);
}

/* The request must be rejected with an error mentioning word. */
static void expect_req_reject(const char *s, const char *word)
{
	struct hf_request req;
	char err[256];
	if (req_parse(s, &req, err, sizeof(err)) != -1)
		fail_msg("request %s accepted", s);
	assert_err_contains(err, word);
}

/* The response to cmd must be rejected with an error mentioning word, leaving nothing to
 * free. */
static void expect_resp_reject(enum hf_cmd cmd, const char *s, const char *word)
{
	struct hf_response r;
	char err[256];
	if (resp_parse(cmd, s, &r, err, sizeof(err)) != -1)
		fail_msg("response to %s accepted: %s", proto_cmd_name(cmd), s);
	assert_err_contains(err, word);
	assert_null(r.clones);
	proto_response_free(&r);
}

/* Formatted messages are one line: a single '\n', at the end. */
static void assert_one_line(const char *s)
{
	size_t n = strlen(s);
	assert_true(n > 1);
	assert_int_equal(s[n - 1], '\n');
	assert_ptr_equal(strchr(s, '\n'), s + n - 1);
}

/* --- requests --- */

static void test_cmd_names(void **state)
{
	(void)state;
	assert_string_equal(proto_cmd_name(CMD_STATUS), "status");
	assert_string_equal(proto_cmd_name(CMD_PAUSE), "pause");
	assert_string_equal(proto_cmd_name(CMD_RESUME), "resume");
	assert_string_equal(proto_cmd_name(CMD_STOP), "stop");
	assert_string_equal(proto_cmd_name(CMD_FORK), "fork");
	assert_string_equal(proto_cmd_name((enum hf_cmd)99), "?");
	assert_string_equal(proto_cmd_name((enum hf_cmd)-1), "?");
}

static void test_request_round_trip_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		struct hf_request in = {.cmd = all_cmds[i], .count = 1}, out;
		char err[256];
		char *line = proto_format_request(&in);
		assert_non_null(line);
		assert_one_line(line);
		char want[64];
		snprintf(want, sizeof(want), "\"cmd\":\"%s\"", proto_cmd_name(all_cmds[i]));
		assert_non_null(strstr(line, want));
		memset(&out, 0xee, sizeof(out));
		/* Parsed with and without the trailing newline. */
		assert_int_equal(req_parse(line, &out, err, sizeof(err)), 0);
		assert_int_equal(out.cmd, all_cmds[i]);
		assert_int_equal(out.count, 1);
		assert_string_equal(out.console, "");
		assert_int_equal(req_parse_len(line, strlen(line) - 1, &out, err, sizeof(err)), 0);
		assert_int_equal(out.cmd, all_cmds[i]);
		free(line);
	}
}

static void test_request_exact_format(void **state)
{
	(void)state;
	struct hf_request status = {.cmd = CMD_STATUS};
	struct hf_request fork = {.cmd = CMD_FORK, .count = 3, .console = "file"};
	struct hf_request fork_default = {.cmd = CMD_FORK, .count = 1};

	char *s = proto_format_request(&status);
	assert_string_equal(s, "{\"cmd\":\"status\"}\n");
	free(s);
	s = proto_format_request(&fork);
	assert_string_equal(s, "{\"cmd\":\"fork\",\"count\":3,\"console\":\"file\"}\n");
	free(s);
	/* No console: the field is left out rather than sent empty. */
	s = proto_format_request(&fork_default);
	assert_string_equal(s, "{\"cmd\":\"fork\",\"count\":1}\n");
	free(s);
}

static void test_fork_round_trip(void **state)
{
	(void)state;
	static const char *consoles[] = {"", "file", "pty", "none"};
	static const unsigned counts[] = {1, 2, 17, PROTO_FORK_MAX};

	for (size_t c = 0; c < ARRAY_SIZE(consoles); c++) {
		for (size_t k = 0; k < ARRAY_SIZE(counts); k++) {
			struct hf_request in = {.cmd = CMD_FORK, .count = counts[k]}, out;
			char err[256];
			snprintf(in.console, sizeof(in.console), "%s", consoles[c]);
			char *line = proto_format_request(&in);
			assert_non_null(line);
			assert_int_equal(req_parse(line, &out, err, sizeof(err)), 0);
			assert_int_equal(out.cmd, CMD_FORK);
			assert_int_equal(out.count, counts[k]);
			assert_string_equal(out.console, consoles[c]);
			free(line);
		}
	}
}

static void test_fork_count(void **state)
{
	(void)state;
	struct hf_request req;
	char err[256];

	assert_int_equal(req_parse("{\"cmd\":\"fork\"}", &req, err, sizeof(err)), 0);
	assert_int_equal(req.count, 1);
	assert_int_equal(req_parse("{\"cmd\":\"fork\",\"count\":1024}", &req, err, sizeof(err)), 0);
	assert_int_equal(req.count, 1024);
	/* Field order does not matter. */
	assert_int_equal(req_parse("{\"count\":7,\"cmd\":\"fork\"}", &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CMD_FORK);
	assert_int_equal(req.count, 7);

	expect_req_reject("{\"cmd\":\"fork\",\"count\":0}", "\"count\" must be an integer from 1 to 1024");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":-1}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":-4294967295}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":1025}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":4294967297}", "count"); /* 2^32 + 1 */
	expect_req_reject("{\"cmd\":\"fork\",\"count\":9223372036854775807}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":2.0}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":1.5}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":\"2\"}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":true}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":null}", "count");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":[2]}", "count");
	/* Beyond the range of a JSON integer: a parse error. */
	expect_req_reject("{\"cmd\":\"fork\",\"count\":99999999999999999999}", "malformed JSON");
}

static void test_fork_console(void **state)
{
	(void)state;
	struct hf_request req;
	char err[256];
	static const char *ok[] = {"file", "pty", "none"};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		char line[64];
		snprintf(line, sizeof(line), "{\"cmd\":\"fork\",\"console\":\"%s\"}", ok[i]);
		assert_int_equal(req_parse(line, &req, err, sizeof(err)), 0);
		assert_string_equal(req.console, ok[i]);
		assert_int_equal(req.count, 1);
	}
	expect_req_reject("{\"cmd\":\"fork\",\"console\":\"stdio\"}", "\"console\" must be");
	expect_req_reject("{\"cmd\":\"fork\",\"console\":\"\"}", "console");
	expect_req_reject("{\"cmd\":\"fork\",\"console\":\"FILE\"}", "console");
	expect_req_reject("{\"cmd\":\"fork\",\"console\":\"filex\"}", "console");
	expect_req_reject("{\"cmd\":\"fork\",\"console\":\"pty \"}", "console");
	expect_req_reject("{\"cmd\":\"fork\",\"console\":1}", "console");
	expect_req_reject("{\"cmd\":\"fork\",\"console\":null}", "console");
}

static void test_unknown_command(void **state)
{
	(void)state;
	expect_req_reject("{\"cmd\":\"reboot\"}", "unknown command \"reboot\"");
	expect_req_reject("{\"cmd\":\"STATUS\"}", "unknown command");
	expect_req_reject("{\"cmd\":\"\"}", "unknown command");
	expect_req_reject("{\"cmd\":\"status \"}", "unknown command");
	expect_req_reject("{\"cmd\":\"?\"}", "unknown command");
}

static void test_missing_or_bad_cmd(void **state)
{
	(void)state;
	expect_req_reject("{}", "no \"cmd\" string");
	expect_req_reject("{\"count\":2}", "\"cmd\"");
	expect_req_reject("{\"Cmd\":\"status\"}", "\"cmd\"");
	expect_req_reject("{\"cmd\":4}", "\"cmd\" string");
	expect_req_reject("{\"cmd\":null}", "\"cmd\" string");
	expect_req_reject("{\"cmd\":true}", "\"cmd\" string");
	expect_req_reject("{\"cmd\":[\"status\"]}", "\"cmd\" string");
	expect_req_reject("{\"cmd\":{\"name\":\"status\"}}", "\"cmd\" string");
}

static void test_unexpected_field(void **state)
{
	(void)state;
	expect_req_reject("{\"cmd\":\"status\",\"verbose\":true}",
			  "unexpected field \"verbose\" for command status");
	/* count and console belong to fork only. */
	expect_req_reject("{\"cmd\":\"stop\",\"count\":1}", "unexpected field \"count\"");
	expect_req_reject("{\"cmd\":\"pause\",\"console\":\"pty\"}", "unexpected field \"console\"");
	expect_req_reject("{\"cmd\":\"fork\",\"cnt\":2}", "unexpected field \"cnt\" for command fork");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":2,\"x\":null}", "unexpected field \"x\"");
}

static void test_malformed_json(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",
		" ",
		"\n",
		"{",
		"}",
		"{\"cmd\"}",
		"{\"cmd\":}",
		"{cmd:\"status\"}",
		"{'cmd':'status'}",
		"{\"cmd\":\"status\",}",
		"{\"cmd\":\"status\"",
		"{\"cmd\":\"stat\nus\"}",
		"{\"cmd\":\"\\x41\"}",
		"{\"cmd\":\"status\" \"count\":1}",
		"status",
		"\xff\xfe{}",
		"{\"cmd\":\"\xc3\x28\"}", /* invalid UTF-8 */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct hf_request req;
		char err[256];
		if (req_parse(bad[i], &req, err, sizeof(err)) != -1)
			fail_msg("malformed request #%zu accepted", i);
		assert_err_contains(err, "malformed JSON");
	}
}

/* Every prefix of a valid request fails cleanly. */
static void test_truncated_request(void **state)
{
	(void)state;
	const char *full = "{\"cmd\":\"fork\",\"count\":12,\"console\":\"pty\"}\n";
	size_t n = strlen(full);
	struct hf_request req;
	char err[256];

	assert_int_equal(req_parse(full, &req, err, sizeof(err)), 0);
	assert_int_equal(req.count, 12);
	/* The whole object (without the newline) parses; anything shorter does not. */
	for (size_t len = 0; len < n - 1; len++) {
		if (req_parse_len(full, len, &req, err, sizeof(err)) != -1)
			fail_msg("prefix of %zu bytes accepted", len);
		assert_true(err[0] != 0);
	}
}

static void test_trailing_data(void **state)
{
	(void)state;
	struct hf_request req;
	char err[256];

	expect_req_reject("{\"cmd\":\"status\"}x", "trailing data");
	expect_req_reject("{\"cmd\":\"status\"}{\"cmd\":\"stop\"}", "trailing data");
	expect_req_reject("{\"cmd\":\"status\"}\n{\"cmd\":\"stop\"}", "trailing data");
	expect_req_reject("{\"cmd\":\"status\"} 1", "trailing data");
	expect_req_reject("{\"cmd\":\"status\"}}", "trailing data");
	/* Whitespace around the object is fine. */
	assert_int_equal(req_parse("{\"cmd\":\"stop\"} \t\r\n", &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CMD_STOP);
	assert_int_equal(req_parse("  {\"cmd\":\"resume\"}\r\n", &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CMD_RESUME);
}

static void test_not_an_object(void **state)
{
	(void)state;
	expect_req_reject("[]", "not a JSON object");
	expect_req_reject("[{\"cmd\":\"status\"}]", "not a JSON object");
	/* Scalars at the top level are not even accepted as JSON text here. */
	expect_req_reject("5", "malformed JSON");
	expect_req_reject("\"status\"", "malformed JSON");
	expect_req_reject("null", "malformed JSON");
	expect_req_reject("true", "malformed JSON");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	expect_req_reject("{\"cmd\":\"status\",\"cmd\":\"stop\"}", "duplicate");
	expect_req_reject("{\"cmd\":\"stop\",\"cmd\":\"stop\"}", "duplicate");
	expect_req_reject("{\"cmd\":\"fork\",\"count\":1,\"count\":1000}", "duplicate");
}

static void test_embedded_nul(void **state)
{
	(void)state;
	struct hf_request req;
	char err[256];
	static const char inside[] = "{\"cmd\":\"sta\0tus\"}";
	static const char after[] = "{\"cmd\":\"status\"}\0";
	static const char before[] = "\0{\"cmd\":\"status\"}";
	static const char between[] = "{\"cmd\":\0\"status\"}";

	assert_int_equal(req_parse_len(inside, sizeof(inside) - 1, &req, err, sizeof(err)), -1);
	assert_err_contains(err, "malformed JSON");
	assert_int_equal(req_parse_len(after, sizeof(after) - 1, &req, err, sizeof(err)), -1);
	assert_err_contains(err, "trailing data");
	assert_int_equal(req_parse_len(before, sizeof(before) - 1, &req, err, sizeof(err)), -1);
	assert_err_contains(err, "malformed JSON");
	assert_int_equal(req_parse_len(between, sizeof(between) - 1, &req, err, sizeof(err)), -1);
	assert_err_contains(err, "malformed JSON");
	/* The escaped form is refused too: "stop\u0000x" must not pass as "stop". */
	expect_req_reject("{\"cmd\":\"stop\\u0000x\"}", "malformed JSON");
	expect_req_reject("{\"cmd\":\"stop\\u0000\"}", "malformed JSON");
}

static void test_very_long_line(void **state)
{
	(void)state;
	struct hf_request req;
	char err[256];
	const char *obj = "{\"cmd\":\"status\"}";
	size_t olen = strlen(obj);

	/* Exactly at the limit (object padded with spaces): accepted. */
	char *buf = malloc(PROTO_MAX_LINE + 1);
	assert_non_null(buf);
	memset(buf, ' ', PROTO_MAX_LINE + 1);
	memcpy(buf, obj, olen);
	assert_int_equal(req_parse_len(buf, PROTO_MAX_LINE, &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CMD_STATUS);
	/* One byte over: refused before parsing, with the size. */
	assert_int_equal(req_parse_len(buf, PROTO_MAX_LINE + 1, &req, err, sizeof(err)), -1);
	assert_err_contains(err, "too long");
	assert_err_contains(err, "1048577");
	free(buf);

	/* A long command name: reported, but truncated in the message. */
	size_t n = 100000;
	buf = malloc(n + 32);
	assert_non_null(buf);
	strcpy(buf, "{\"cmd\":\"");
	memset(buf + 8, 'a', n);
	strcpy(buf + 8 + n, "\"}");
	assert_int_equal(req_parse(buf, &req, err, sizeof(err)), -1);
	assert_err_contains(err, "unknown command \"aaaa");
	assert_true(strlen(err) < 100);
	/* A tiny error buffer is respected. */
	char small[8];
	memset(small, 'X', sizeof(small));
	assert_int_equal(proto_parse_request(buf, strlen(buf), &req, small, 4), -1);
	assert_int_equal(strlen(small), 3);
	assert_int_equal(small[4], 'X');
	free(buf);

	/* Deeply nested input fails cleanly (no stack exhaustion). */
	n = 200000;
	buf = malloc(n + 1);
	assert_non_null(buf);
	memset(buf, '[', n);
	buf[n] = 0;
	assert_int_equal(req_parse_len(buf, n, &req, err, sizeof(err)), -1);
	assert_err_contains(err, "malformed JSON");
	free(buf);
}

/* --- responses --- */

static struct hf_vm_status sample_status(void)
{
	struct hf_vm_status s = {
		.pid = 4242,
		.cpus = 4,
		.clone_id = 3,
		.clones = 17,
		.mem_bytes = 6ull << 30,
		.uptime_ms = 123456789012ull,
		.rss_kb = 1048576,
		.pss_kb = 65537,
		.private_kb = 4099,
		.pool_ready = 3,
		.pool_target = 64,
		.on_demand = 5000000000ull,
	};
	strcpy(s.name, "web.3");
	strcpy(s.parent, "web");
	strcpy(s.state, "paused");
	strcpy(s.kind, "linux");
	strcpy(s.console, "file");
	strcpy(s.console_path, "/run/hf/web.3/\"con sole\"\\log \xc3\xa9");
	strcpy(s.net, "hf0.3");
	return s;
}

static void test_status_round_trip(void **state)
{
	(void)state;
	struct hf_response in = {.ok = true, .vm = sample_status()}, out;
	char err[256];

	char *line = proto_format_response(CMD_STATUS, &in);
	assert_non_null(line);
	assert_one_line(line);
	assert_int_equal(resp_parse(CMD_STATUS, line, &out, err, sizeof(err)), 0);
	assert_true(out.ok);
	assert_string_equal(out.error, "");
	assert_string_equal(out.vm.name, "web.3");
	assert_string_equal(out.vm.parent, "web");
	assert_string_equal(out.vm.state, "paused");
	assert_string_equal(out.vm.kind, "linux");
	assert_string_equal(out.vm.console, "file");
	assert_string_equal(out.vm.console_path, in.vm.console_path);
	assert_string_equal(out.vm.net, "hf0.3");
	assert_int_equal(out.vm.pid, 4242);
	assert_int_equal(out.vm.cpus, 4);
	assert_int_equal(out.vm.clone_id, 3);
	assert_int_equal(out.vm.clones, 17);
	assert_int_equal(out.vm.mem_bytes, 6ull << 30);
	assert_int_equal(out.vm.uptime_ms, 123456789012ull);
	assert_int_equal(out.vm.rss_kb, 1048576);
	assert_int_equal(out.vm.pss_kb, 65537);
	assert_int_equal(out.vm.private_kb, 4099);
	assert_int_equal(out.vm.pool_ready, 3);
	assert_int_equal(out.vm.pool_target, 64);
	assert_int_equal(out.vm.on_demand, 5000000000ull);
	assert_int_equal(out.nclones, 0);
	assert_null(out.clones);
	proto_response_free(&out);
	free(line);

	/* A booted VM: empty parent. */
	in.vm.parent[0] = 0;
	in.vm.clone_id = 0;
	line = proto_format_response(CMD_STATUS, &in);
	assert_int_equal(resp_parse(CMD_STATUS, line, &out, err, sizeof(err)), 0);
	assert_string_equal(out.vm.parent, "");
	assert_int_equal(out.vm.clone_id, 0);
	free(line);
}

static void test_fork_response_round_trip(void **state)
{
	(void)state;
	struct hf_clone_info clones[3];
	struct hf_response in = {.ok = true, .nclones = 3, .clones = clones}, out;
	char err[256];

	memset(clones, 0, sizeof(clones));
	for (int i = 0; i < 3; i++) {
		snprintf(clones[i].name, sizeof(clones[i].name), "vm.%d", i + 1);
		clones[i].pid = 1000 + i;
		snprintf(clones[i].socket, sizeof(clones[i].socket), "/run/hf/vm.%d/ctl.sock", i + 1);
		snprintf(clones[i].console, sizeof(clones[i].console), i == 2 ? "" : "/dev/pts/%d",
			 i);
		clones[i].on_demand = i == 1;
	}
	char *line = proto_format_response(CMD_FORK, &in);
	assert_non_null(line);
	assert_one_line(line);
	assert_int_equal(resp_parse(CMD_FORK, line, &out, err, sizeof(err)), 0);
	assert_true(out.ok);
	assert_string_equal(out.error, "");
	assert_int_equal(out.nclones, 3);
	assert_non_null(out.clones);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(out.clones[i].name, clones[i].name);
		assert_int_equal(out.clones[i].pid, 1000 + i);
		assert_string_equal(out.clones[i].socket, clones[i].socket);
		assert_string_equal(out.clones[i].console, clones[i].console);
		assert_int_equal(out.clones[i].on_demand, i == 1);
	}
	proto_response_free(&out);
	assert_null(out.clones);
	assert_int_equal(out.nclones, 0);
	proto_response_free(&out); /* twice is harmless */
	free(line);

	/* No clones made: an empty array. */
	in.nclones = 0;
	in.clones = NULL;
	line = proto_format_response(CMD_FORK, &in);
	assert_non_null(strstr(line, "\"clones\":[]"));
	assert_int_equal(resp_parse(CMD_FORK, line, &out, err, sizeof(err)), 0);
	assert_true(out.ok);
	assert_int_equal(out.nclones, 0);
	proto_response_free(&out);
	free(line);
}

static void test_simple_ok_responses(void **state)
{
	(void)state;
	static const enum hf_cmd cmds[] = {CMD_PAUSE, CMD_RESUME, CMD_STOP};
	struct hf_response in = {.ok = true}, out;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		char *line = proto_format_response(cmds[i], &in);
		assert_string_equal(line, "{\"ok\":true}\n");
		memset(&out, 0xee, sizeof(out));
		assert_int_equal(resp_parse(cmds[i], line, &out, err, sizeof(err)), 0);
		assert_true(out.ok);
		assert_string_equal(out.error, "");
		assert_null(out.clones);
		free(line);
	}
}

static void test_error_response(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		struct hf_response in = {.ok = false}, out;
		char err[256];
		snprintf(in.error, sizeof(in.error), "VM \"x\" is exiting; cannot %s",
			 proto_cmd_name(all_cmds[i]));
		char *line = proto_format_response(all_cmds[i], &in);
		assert_non_null(line);
		assert_one_line(line);
		assert_int_equal(strncmp(line, "{\"ok\":false,\"error\":", 20), 0);
		/* An error response carries neither vm nor clones. */
		assert_null(strstr(line, "\"vm\""));
		assert_null(strstr(line, "\"clones\""));
		assert_int_equal(resp_parse(all_cmds[i], line, &out, err, sizeof(err)), 0);
		assert_false(out.ok);
		assert_string_equal(out.error, in.error);
		assert_null(out.clones);
		free(line);
	}
	/* Hand-written, as another implementation might send it. */
	struct hf_response out;
	char err[256];
	assert_int_equal(resp_parse(CMD_FORK, "{\"error\":\"no memory\",\"ok\":false}", &out, err,
				    sizeof(err)),
			 0);
	assert_false(out.ok);
	assert_string_equal(out.error, "no memory");
}

static void test_warning_on_success(void **state)
{
	(void)state;
	struct hf_clone_info c = {.pid = 77};
	struct hf_response in = {.ok = true, .nclones = 1, .clones = &c}, out;
	char err[256];

	strcpy(c.name, "db.1");
	strcpy(c.socket, "/s");
	strcpy(c.console, "/c");
	strcpy(in.error, "only 1 of 2 clones made: out of memory");
	char *line = proto_format_response(CMD_FORK, &in);
	assert_non_null(strstr(line, "\"warning\":\"only 1 of 2 clones made: out of memory\""));
	assert_null(strstr(line, "\"error\""));
	assert_int_equal(resp_parse(CMD_FORK, line, &out, err, sizeof(err)), 0);
	assert_true(out.ok);
	assert_string_equal(out.error, "only 1 of 2 clones made: out of memory");
	assert_int_equal(out.nclones, 1);
	assert_string_equal(out.clones[0].name, "db.1");
	assert_int_equal(out.clones[0].pid, 77);
	proto_response_free(&out);
	free(line);

	/* On a status response too. */
	struct hf_response st = {.ok = true, .vm = sample_status()};
	strcpy(st.error, "stale");
	line = proto_format_response(CMD_STATUS, &st);
	assert_int_equal(resp_parse(CMD_STATUS, line, &out, err, sizeof(err)), 0);
	assert_true(out.ok);
	assert_string_equal(out.error, "stale");
	assert_string_equal(out.vm.name, "web.3");
	free(line);

	expect_resp_reject(CMD_STOP, "{\"ok\":true,\"warning\":5}", "\"warning\" is not a string");
	expect_resp_reject(CMD_STOP, "{\"ok\":true,\"warning\":null}", "warning");
}

static void test_response_missing_or_bad_ok(void **state)
{
	(void)state;
	expect_resp_reject(CMD_STOP, "{}", "no \"ok\" boolean");
	expect_resp_reject(CMD_STOP, "{\"error\":\"x\"}", "\"ok\"");
	expect_resp_reject(CMD_STOP, "{\"ok\":\"true\"}", "\"ok\" boolean");
	expect_resp_reject(CMD_STOP, "{\"ok\":1}", "\"ok\" boolean");
	expect_resp_reject(CMD_STOP, "{\"ok\":0}", "\"ok\" boolean");
	expect_resp_reject(CMD_STOP, "{\"ok\":null}", "\"ok\" boolean");
	expect_resp_reject(CMD_STOP, "{\"OK\":true}", "\"ok\"");
	/* A failure must say why. */
	expect_resp_reject(CMD_STOP, "{\"ok\":false}", "no \"error\" string");
	expect_resp_reject(CMD_STOP, "{\"ok\":false,\"error\":42}", "\"error\" string");
	/* The envelope itself. */
	expect_resp_reject(CMD_STOP, "[true]", "not a JSON object");
	expect_resp_reject(CMD_STOP, "{\"ok\":true}x", "trailing data");
	expect_resp_reject(CMD_STOP, "{\"ok\":true,\"ok\":false}", "duplicate");
	expect_resp_reject(CMD_STOP, "{\"ok\":tru}", "malformed JSON");
}

static void test_status_missing_vm(void **state)
{
	(void)state;
	expect_resp_reject(CMD_STATUS, "{\"ok\":true}", "missing or malformed \"vm\" object");
	expect_resp_reject(CMD_STATUS, "{\"ok\":true,\"vm\":null}", "\"vm\"");
	expect_resp_reject(CMD_STATUS, "{\"ok\":true,\"vm\":[]}", "\"vm\"");
	expect_resp_reject(CMD_STATUS, "{\"ok\":true,\"vm\":\"web\"}", "\"vm\"");
	expect_resp_reject(CMD_STATUS, "{\"ok\":true,\"vm\":{}}", "\"vm\"");
}

/* Format a valid status response, then break one field of "vm": removed, or replaced by
 * repl (a JSON value). The result must be rejected. */
static void status_with_field(const char *key, json_t *repl)
{
	struct hf_response in = {.ok = true, .vm = sample_status()}, out;
	char err[256];
	char *line = proto_format_response(CMD_STATUS, &in);
	json_t *j = json_loads(line, 0, NULL);
	assert_non_null(j);
	json_t *vm = json_object_get(j, "vm");
	assert_non_null(json_object_get(vm, key));
	if (repl)
		json_object_set_new(vm, key, repl);
	else
		json_object_del(vm, key);
	char *bad = json_dumps(j, JSON_COMPACT);
	if (resp_parse(CMD_STATUS, bad, &out, err, sizeof(err)) != -1)
		fail_msg("status response with field \"%s\" broken accepted: %s", key, bad);
	assert_err_contains(err, "\"vm\"");
	free(bad);
	json_decref(j);
	free(line);
}

static void test_status_vm_fields(void **state)
{
	(void)state;
	static const char *str_keys[] = {"name", "parent", "state", "kind", "console",
					 "console_path", "net"};
	static const char *int_keys[] = {"pid", "cpus", "clone_id", "clones", "mem_bytes",
					 "uptime_ms", "rss_kb", "pss_kb", "private_kb",
					 "pool_ready", "pool_target", "on_demand"};

	for (size_t i = 0; i < ARRAY_SIZE(str_keys); i++) {
		status_with_field(str_keys[i], NULL);
		status_with_field(str_keys[i], json_integer(1));
		status_with_field(str_keys[i], json_null());
	}
	for (size_t i = 0; i < ARRAY_SIZE(int_keys); i++) {
		status_with_field(int_keys[i], NULL);
		status_with_field(int_keys[i], json_string("1"));
		status_with_field(int_keys[i], json_real(1.0));
		status_with_field(int_keys[i], json_integer(-1));
		status_with_field(int_keys[i], json_true());
	}
	/* Never narrowed: a value past what the field holds is refused, not read modulo 2^32. */
	static const char *narrow_keys[] = {"pid", "cpus", "clone_id", "clones", "pool_ready",
					    "pool_target"};
	for (size_t i = 0; i < ARRAY_SIZE(narrow_keys); i++)
		status_with_field(narrow_keys[i], json_integer(4294967297ll));
	status_with_field("pid", json_integer(2147483648ll));
	status_with_field("pool_target", json_integer(PROTO_POOL_MAX + 1));
}

static void test_fork_response_malformed(void **state)
{
	(void)state;
	expect_resp_reject(CMD_FORK, "{\"ok\":true}", "missing or malformed \"clones\" array");
	expect_resp_reject(CMD_FORK, "{\"ok\":true,\"clones\":null}", "\"clones\"");
	expect_resp_reject(CMD_FORK, "{\"ok\":true,\"clones\":{}}", "\"clones\"");
	expect_resp_reject(CMD_FORK, "{\"ok\":true,\"clones\":\"vm.1\"}", "\"clones\"");
	expect_resp_reject(CMD_FORK, "{\"ok\":true,\"clones\":[1]}", "clone 0 is malformed");
	expect_resp_reject(CMD_FORK, "{\"ok\":true,\"clones\":[null]}", "clone 0 is malformed");

	/* Each field missing or mistyped, in the second of two entries (the first, already
	 * parsed, must be freed). */
	static const char *entries[] = {
		"{\"pid\":2,\"socket\":\"s\",\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"socket\":\"s\",\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":2,\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":2,\"socket\":\"s\",\"on_demand\":false}",
		"{\"name\":1,\"pid\":2,\"socket\":\"s\",\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":\"2\",\"socket\":\"s\",\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":-2,\"socket\":\"s\",\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":4294967297,\"socket\":\"s\",\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":2,\"socket\":null,\"console\":\"c\",\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":2,\"socket\":\"s\",\"console\":[],\"on_demand\":false}",
		"{\"name\":\"b\",\"pid\":2,\"socket\":\"s\",\"console\":\"c\"}",
		"{\"name\":\"b\",\"pid\":2,\"socket\":\"s\",\"console\":\"c\",\"on_demand\":1}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(entries); i++) {
		char line[512];
		snprintf(line, sizeof(line),
			 "{\"ok\":true,\"clones\":[{\"name\":\"a\",\"pid\":1,\"socket\":\"s\","
			 "\"console\":\"c\",\"on_demand\":true},%s]}",
			 entries[i]);
		expect_resp_reject(CMD_FORK, line, "clone 1 is malformed");
	}
}

/* More clones than a fork request may ask for is a malformed response. */
static void test_fork_response_too_many_clones(void **state)
{
	(void)state;
	const char *entry =
		"{\"name\":\"a\",\"pid\":1,\"socket\":\"s\",\"console\":\"c\",\"on_demand\":false}";
	size_t elen = strlen(entry);
	size_t cap = 64 + (PROTO_FORK_MAX + 1) * (elen + 1);
	char *line = malloc(cap);
	struct hf_response out;
	char err[256];

	assert_non_null(line);
	for (unsigned n = PROTO_FORK_MAX; n <= PROTO_FORK_MAX + 1; n++) {
		char *p = line + sprintf(line, "{\"ok\":true,\"clones\":[");
		for (unsigned i = 0; i < n; i++) {
			if (i)
				*p++ = ',';
			memcpy(p, entry, elen);
			p += elen;
		}
		strcpy(p, "]}");
		int rc = resp_parse(CMD_FORK, line, &out, err, sizeof(err));
		if (n == PROTO_FORK_MAX) {
			assert_int_equal(rc, 0);
			assert_int_equal(out.nclones, PROTO_FORK_MAX);
			proto_response_free(&out);
		} else {
			assert_int_equal(rc, -1);
			assert_err_contains(err, "\"clones\"");
			assert_null(out.clones);
		}
	}
	free(line);
}

/* Every truncated prefix of a valid response fails cleanly and leaves nothing allocated. */
static void test_truncated_responses(void **state)
{
	(void)state;
	struct hf_clone_info clones[2] = {{.pid = 5}, {.pid = 6}};
	strcpy(clones[0].name, "x.1");
	strcpy(clones[1].name, "x.2");
	struct hf_response fork = {.ok = true, .nclones = 2, .clones = clones};
	struct hf_response status = {.ok = true, .vm = sample_status()};
	struct hf_response error = {.ok = false};
	strcpy(fork.error, "warn");
	strcpy(error.error, "boom");
	struct {
		enum hf_cmd cmd;
		const struct hf_response *r;
	} cases[] = {{CMD_FORK, &fork}, {CMD_STATUS, &status}, {CMD_STOP, &error}};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		char *line = proto_format_response(cases[c].cmd, cases[c].r);
		size_t n = strlen(line);
		struct hf_response out;
		char err[256];
		assert_int_equal(resp_parse_len(cases[c].cmd, line, n, &out, err, sizeof(err)), 0);
		proto_response_free(&out);
		for (size_t len = 0; len < n - 1; len++) {
			if (resp_parse_len(cases[c].cmd, line, len, &out, err, sizeof(err)) != -1)
				fail_msg("%s response: prefix of %zu bytes accepted",
					 proto_cmd_name(cases[c].cmd), len);
			assert_true(err[0] != 0);
			assert_null(out.clones);
		}
		free(line);
	}
}

/* A response parsed for the wrong command: a status parser needs "vm", a fork parser needs
 * "clones". */
static void test_response_for_wrong_cmd(void **state)
{
	(void)state;
	struct hf_response in = {.ok = true, .vm = sample_status()};
	char *line = proto_format_response(CMD_STATUS, &in);
	expect_resp_reject(CMD_FORK, line, "\"clones\"");
	free(line);
	line = proto_format_response(CMD_STOP, &in);
	expect_resp_reject(CMD_STATUS, line, "\"vm\"");
	free(line);
}

static void test_template_request(void **state)
{
	(void)state;
	struct hf_request req;
	char err[256];
	const char *ok = "{\"cmd\":\"template\"}";
	assert_int_equal(proto_parse_request(ok, strlen(ok), &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CMD_TEMPLATE);
	assert_int_equal(req.pool, PROTO_POOL_DEFAULT);
	const char *eight = "{\"cmd\":\"template\",\"pool\":8}";
	assert_int_equal(proto_parse_request(eight, strlen(eight), &req, err, sizeof(err)), 0);
	assert_int_equal(req.pool, 8);
	char *line = proto_format_request(&req);
	struct hf_request back;
	assert_int_equal(proto_parse_request(line, strlen(line), &back, err, sizeof(err)), 0);
	assert_int_equal(back.cmd, CMD_TEMPLATE);
	assert_int_equal(back.pool, 8);
	free(line);
	const char *bad[] = {"{\"cmd\":\"template\",\"pool\":-1}",
			     "{\"cmd\":\"template\",\"pool\":65}",
			     "{\"cmd\":\"template\",\"pool\":\"4\"}",
			     "{\"cmd\":\"template\",\"count\":2}",
			     "{\"cmd\":\"fork\",\"pool\":2}"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(proto_parse_request(bad[i], strlen(bad[i]), &req, err, sizeof(err)), -1);
		assert_true(strstr(err, "pool") || strstr(err, "count"));
	}
}

/* reset: an optional new number, 1..2^32-1; its answer carries the pages put back. */
static void test_reset_request(void **state)
{
	(void)state;
	struct hf_request req, back;
	char err[256];
	const char *plain = "{\"cmd\":\"reset\"}";
	assert_int_equal(proto_parse_request(plain, strlen(plain), &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd, CMD_RESET);
	assert_int_equal(req.id, 0);
	const char *seven = "{\"cmd\":\"reset\",\"id\":7}";
	assert_int_equal(proto_parse_request(seven, strlen(seven), &req, err, sizeof(err)), 0);
	assert_int_equal(req.id, 7);
	char *line = proto_format_request(&req);
	assert_int_equal(proto_parse_request(line, strlen(line), &back, err, sizeof(err)), 0);
	assert_int_equal(back.cmd, CMD_RESET);
	assert_int_equal(back.id, 7);
	free(line);
	const char *bad[] = {"{\"cmd\":\"reset\",\"id\":0}", "{\"cmd\":\"reset\",\"id\":4294967296}",
			     "{\"cmd\":\"reset\",\"id\":\"7\"}", "{\"cmd\":\"fork\",\"id\":7}"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(proto_parse_request(bad[i], strlen(bad[i]), &req, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "id"));
	}
	struct hf_response r = {.ok = true, .pages = 16}, rb;
	line = proto_format_response(CMD_RESET, &r);
	assert_int_equal(proto_parse_response(CMD_RESET, line, strlen(line), &rb, err, sizeof(err)), 0);
	assert_true(rb.ok);
	assert_int_equal(rb.pages, 16);
	free(line);
	const char *nopages = "{\"ok\":true}";
	assert_int_equal(proto_parse_response(CMD_RESET, nopages, strlen(nopages), &rb, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pages"));
}

/* Paths and names are bytes, JSON strings are UTF-8: the reply must still be whole, with
 * the offending bytes replaced, and errors must keep their text. */
static void test_non_utf8_strings(void **state)
{
	(void)state;
	struct hf_response r = {.ok = true}, back;
	char err[256];
	snprintf(r.vm.name, sizeof(r.vm.name), "vm");
	snprintf(r.vm.state, sizeof(r.vm.state), "running");
	snprintf(r.vm.console_path, sizeof(r.vm.console_path), "/tmp/con\xff\xfesole");
	char *line = proto_format_response(CMD_STATUS, &r);
	assert_non_null(line);
	assert_int_equal(proto_parse_response(CMD_STATUS, line, strlen(line), &back, err,
					      sizeof(err)), 0);
	assert_true(back.ok);
	assert_string_equal(back.vm.name, "vm");
	assert_string_equal(back.vm.console_path, "/tmp/con??sole");
	free(line);

	struct hf_response e = {.ok = false};
	snprintf(e.error, sizeof(e.error), "unknown command \"abc\xc3\"");
	line = proto_format_response(CMD_STATUS, &e);
	assert_non_null(line);
	assert_int_equal(proto_parse_response(CMD_STATUS, line, strlen(line), &back, err,
					      sizeof(err)), 0);
	assert_false(back.ok);
	assert_string_equal(back.error, "unknown command \"abc?\"");
	free(line);

	struct hf_clone_info c = {.pid = 7};
	snprintf(c.name, sizeof(c.name), "vm.1");
	snprintf(c.console, sizeof(c.console), "/run/\x80.console");
	struct hf_response f = {.ok = true, .nclones = 1, .clones = &c};
	line = proto_format_response(CMD_FORK, &f);
	assert_non_null(line);
	assert_int_equal(proto_parse_response(CMD_FORK, line, strlen(line), &back, err,
					      sizeof(err)), 0);
	assert_int_equal(back.nclones, 1);
	assert_string_equal(back.clones[0].console, "/run/?.console");
	proto_response_free(&back);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test(test_request_round_trip_all),
		cmocka_unit_test(test_request_exact_format),
		cmocka_unit_test(test_fork_round_trip),
		cmocka_unit_test(test_fork_count),
		cmocka_unit_test(test_fork_console),
		cmocka_unit_test(test_unknown_command),
		cmocka_unit_test(test_missing_or_bad_cmd),
		cmocka_unit_test(test_unexpected_field),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_truncated_request),
		cmocka_unit_test(test_trailing_data),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_very_long_line),
		cmocka_unit_test(test_status_round_trip),
		cmocka_unit_test(test_fork_response_round_trip),
		cmocka_unit_test(test_simple_ok_responses),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_warning_on_success),
		cmocka_unit_test(test_response_missing_or_bad_ok),
		cmocka_unit_test(test_status_missing_vm),
		cmocka_unit_test(test_status_vm_fields),
		cmocka_unit_test(test_fork_response_malformed),
		cmocka_unit_test(test_fork_response_too_many_clones),
		cmocka_unit_test(test_truncated_responses),
		cmocka_unit_test(test_response_for_wrong_cmd),
		cmocka_unit_test(test_non_utf8_strings),
		cmocka_unit_test(test_template_request),
		cmocka_unit_test(test_reset_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
