/* Unit tests for the ttrpc codec (src/shim/ttrpc.c): frames, messages, the reader over any
 * split of its input, bad frames, and dispatch by (service, method) with stream ids kept. */
#include <fcntl.h>
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

#include "shim/ttrpc.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"

#define TASK "containerd.task.v2.Task"

#define assert_err_contains(err, word)                                                             \
	do {                                                                                       \
		if (!strstr((err), (word)))                                                        \
			fail_msg("error \"%s\" does not mention \"%s\"", (err), (word));           \
	} while (0)

/* ---- a small service: Create answers a pid, Wait answers later, Kill a status ---- */

static uint32_t waiting_stream; /* Wait's stream, answered later */

static void h_create(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	const Containerd__Task__V2__CreateTaskRequest *in =
	    (const Containerd__Task__V2__CreateTaskRequest *)call->in;
	int *calls = ctx;
	(*calls)++;
	if (strcmp(in->id, "c1")) {
		ttrpc_result_status(res, TTRPC_NOT_FOUND, "no template for %s", in->id);
		return;
	}
	Containerd__Task__V2__CreateTaskResponse out =
	    CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	out.pid = 4242 + (uint32_t)strlen(in->bundle);
	assert_int_equal(ttrpc_result_message(res, &out.base), 0);
}

static void h_wait(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	(void)ctx;
	waiting_stream = call->stream_id;
	res->later = true;
}

static void h_kill(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	(void)ctx;
	const Containerd__Task__V2__KillRequest *in =
	    (const Containerd__Task__V2__KillRequest *)call->in;
	ttrpc_result_status(res, TTRPC_FAILED_PRECONDITION, "signal %u to %s", in->signal, in->id);
}

static const struct ttrpc_method methods[] = {
    {TASK, "Create", &containerd__task__v2__create_task_request__descriptor, h_create},
    {TASK, "Wait", &containerd__task__v2__wait_request__descriptor, h_wait},
    {TASK, "Kill", &containerd__task__v2__kill_request__descriptor, h_kill},
};

static int create_calls;
static const struct ttrpc_table table = {methods, 3, &create_calls};

/* ---- helpers ---- */

static uint8_t *request_frame(uint32_t id, const char *service, const char *method,
			      const ProtobufCMessage *msg, size_t *len)
{
	uint8_t payload[4096];
	size_t plen = msg ? protobuf_c_message_pack(msg, payload) : 0;
	uint8_t *f;
	char err[200];
	const char *keys[] = {"containerd-namespace-ttrpc"}, *values[] = {"k8s.io"};
	assert_int_equal(ttrpc_frame_request(id, service, method, payload, plen, 0, keys, values, 1,
					     &f, len, err, sizeof(err)),
			 0);
	return f;
}

/* Feeds all of buf (a frame split however the caller split it) and expects one frame. */
static void feed_one(struct ttrpc_reader *r, const uint8_t *buf, size_t len, size_t chunk,
		     struct ttrpc_frame *f)
{
	char err[200];
	size_t off = 0;
	int rc = TTRPC_READ_MORE;
	while (off < len) {
		size_t used, n = chunk < len - off ? chunk : len - off;
		rc = ttrpc_reader_feed(r, buf + off, n, &used, f, err, sizeof(err));
		off += used;
		if (rc == TTRPC_READ_FRAME)
			break;
		assert_int_equal(rc, TTRPC_READ_MORE);
		assert_int_equal(used, n);
	}
	assert_int_equal(rc, TTRPC_READ_FRAME);
	assert_int_equal(off, len);
}

/* Serves one request frame and returns its decoded response (stream id checked). */
static Ttrpc__Response *serve(const uint8_t *frame, size_t len, uint32_t id)
{
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	char err[200];
	uint8_t *out;
	size_t outlen;
	ttrpc_reader_init(&r);
	feed_one(&r, frame, len, len, &f);
	assert_int_equal(ttrpc_serve_frame(&table, &f, &out, &outlen, err, sizeof(err)), 0);
	ttrpc_reader_free(&r);
	assert_non_null(out);
	struct ttrpc_header h;
	ttrpc_header_get(out, &h);
	assert_int_equal(h.stream_id, id);
	assert_int_equal(h.type, TTRPC_RESPONSE);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.length + TTRPC_HEADER_LEN, outlen);
	Ttrpc__Response *resp =
	    ttrpc_response_decode(out + TTRPC_HEADER_LEN, h.length, err, sizeof(err));
	assert_non_null(resp);
	free(out);
	return resp;
}

static void assert_status(const Ttrpc__Response *resp, int code, const char *word)
{
	assert_non_null(resp->status);
	if (resp->status->code != code)
		fail_msg("status %s (%s), expected %s", ttrpc_code_name(resp->status->code),
			 resp->status->message, ttrpc_code_name(code));
	assert_err_contains(resp->status->message, word);
	assert_int_equal(resp->payload.len, 0);
}

/* Sends service/method with msg (NULL: empty) on stream id and expects a status. */
static void expect_status(uint32_t id, const char *service, const char *method,
			  const ProtobufCMessage *msg, int code, const char *word)
{
	size_t len;
	uint8_t *f = request_frame(id, service, method, msg, &len);
	Ttrpc__Response *resp = serve(f, len, id);
	assert_status(resp, code, word);
	ttrpc__response__free_unpacked(resp, NULL);
	free(f);
}

/* ---- tests ---- */

static void test_header_bytes(void **state)
{
	(void)state;
	struct ttrpc_header h = {.length = 0x01020304,
				 .stream_id = 0xa0b0c0d1,
				 .type = 2,
				 .flags = 9},
			    g;
	uint8_t b[TTRPC_HEADER_LEN];
	const uint8_t want[] = {1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd1, 2, 9};
	ttrpc_header_put(b, &h);
	assert_memory_equal(b, want, sizeof(want));
	ttrpc_header_get(b, &g);
	assert_true(g.length == h.length && g.stream_id == h.stream_id && g.type == h.type &&
		    g.flags == h.flags);
	assert_string_equal(ttrpc_code_name(TTRPC_UNIMPLEMENTED), "Unimplemented");
	assert_string_equal(ttrpc_code_name(TTRPC_NOT_FOUND), "NotFound");
	assert_string_equal(ttrpc_code_name(99), "Code(99)");
}

/* The bytes ttrpc's Go client sends for Request{Service: "s", Method: "m"} on stream 1. */
static void test_wire_bytes(void **state)
{
	(void)state;
	const uint8_t want[] = {0, 0, 0, 6, 0, 0, 0, 1, 1, 0, 0x0a, 1, 's', 0x12, 1, 'm'};
	uint8_t *f;
	size_t len;
	char err[200];
	assert_int_equal(
	    ttrpc_frame_request(1, "s", "m", NULL, 0, 0, NULL, NULL, 0, &f, &len, err, sizeof(err)),
	    0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(f, want, len);
	free(f);
}

static void test_request_round_trip(void **state)
{
	(void)state;
	uint8_t *f;
	size_t len;
	char err[200];
	const uint8_t payload[] = {0x0a, 2, 'c', '1'};
	const char *keys[] = {"containerd-namespace-ttrpc", "x-trace"},
		   *values[] = {"default", "t"};
	assert_int_equal(ttrpc_frame_request(7, TASK, "Create", payload, sizeof(payload),
					     5000000000, keys, values, 2, &f, &len, err,
					     sizeof(err)),
			 0);
	struct ttrpc_reader r;
	struct ttrpc_frame fr;
	ttrpc_reader_init(&r);
	feed_one(&r, f, len, len, &fr);
	assert_int_equal(fr.h.stream_id, 7);
	assert_int_equal(fr.h.type, TTRPC_REQUEST);
	assert_int_equal(fr.h.length, len - TTRPC_HEADER_LEN);
	Ttrpc__Request *req = ttrpc_request_decode(fr.payload, fr.h.length, err, sizeof(err));
	assert_non_null(req);
	assert_string_equal(req->service, TASK);
	assert_string_equal(req->method, "Create");
	assert_int_equal(req->payload.len, sizeof(payload));
	assert_memory_equal(req->payload.data, payload, sizeof(payload));
	assert_int_equal(req->timeout_nano, 5000000000);
	assert_int_equal(req->n_metadata, 2);
	assert_string_equal(ttrpc_metadata_get(req, "Containerd-Namespace-TTRPC"), "default");
	assert_string_equal(ttrpc_metadata_get(req, "x-trace"), "t");
	assert_null(ttrpc_metadata_get(req, "nope"));
	ttrpc__request__free_unpacked(req, NULL);
	ttrpc_reader_free(&r);
	free(f);
}

static void test_response_round_trip(void **state)
{
	(void)state;
	uint8_t *f;
	size_t len;
	char err[200];
	const uint8_t payload[] = {8, 42};
	assert_int_equal(ttrpc_frame_response(9, TTRPC_OK, "ignored", payload, 2, &f, &len), 0);
	struct ttrpc_header h;
	ttrpc_header_get(f, &h);
	assert_int_equal(h.stream_id, 9);
	assert_int_equal(h.type, TTRPC_RESPONSE);
	Ttrpc__Response *resp =
	    ttrpc_response_decode(f + TTRPC_HEADER_LEN, h.length, err, sizeof(err));
	assert_non_null(resp);
	assert_non_null(resp->status); /* always sent, as ttrpc's Go server does */
	assert_int_equal(resp->status->code, TTRPC_OK);
	assert_string_equal(resp->status->message, "");
	assert_int_equal(resp->payload.len, 2);
	assert_memory_equal(resp->payload.data, payload, 2);
	ttrpc__response__free_unpacked(resp, NULL);
	free(f);

	assert_int_equal(ttrpc_frame_status(11, TTRPC_NOT_FOUND, "no task c9", &f, &len), 0);
	ttrpc_header_get(f, &h);
	resp = ttrpc_response_decode(f + TTRPC_HEADER_LEN, h.length, err, sizeof(err));
	assert_non_null(resp);
	assert_status(resp, TTRPC_NOT_FOUND, "no task c9");
	ttrpc__response__free_unpacked(resp, NULL);
	free(f);
}

/* One frame fed in every chunk size from 1 to its length, and three frames back to back
 * in one buffer: the reader stops after each. */
static void test_split_reads(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = request_frame(3, TASK, "Start", NULL, &len);
	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct ttrpc_reader r;
		struct ttrpc_frame fr;
		ttrpc_reader_init(&r);
		feed_one(&r, f, len, chunk, &fr);
		assert_int_equal(fr.h.stream_id, 3);
		assert_int_equal(fr.h.length, len - TTRPC_HEADER_LEN);
		assert_memory_equal(fr.payload, f + TTRPC_HEADER_LEN, fr.h.length);
		assert_false(ttrpc_reader_partial(&r));
		ttrpc_reader_free(&r);
	}
	uint8_t *three = malloc(3 * len);
	assert_non_null(three);
	for (int i = 0; i < 3; i++) {
		memcpy(three + i * len, f, len);
		three[i * len + 7] = (uint8_t)(1 + 2 * i); /* stream ids 1, 3, 5 */
	}
	struct ttrpc_reader r;
	struct ttrpc_frame fr;
	char err[200];
	size_t off = 0, used;
	ttrpc_reader_init(&r);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    ttrpc_reader_feed(&r, three + off, 3 * len - off, &used, &fr, err, sizeof(err)),
		    TTRPC_READ_FRAME);
		assert_int_equal(used, len);
		assert_int_equal(fr.h.stream_id, 1 + 2 * i);
		off += used;
	}
	assert_int_equal(ttrpc_reader_feed(&r, three + off, 0, &used, &fr, err, sizeof(err)),
			 TTRPC_READ_MORE);
	ttrpc_reader_free(&r);
	free(three);
	free(f);
}

/* Over a non-blocking socket written a few bytes at a time: MORE until the frame is whole. */
static void test_split_reads_fd(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	size_t len;
	uint8_t *f = request_frame(5, TASK, "State", NULL, &len);
	struct ttrpc_reader r;
	struct ttrpc_frame fr;
	char err[200];
	ttrpc_reader_init(&r);
	size_t off = 0, step = 1, reads = 0;
	int rc = TTRPC_READ_MORE;
	while (off < len) {
		size_t n = step < len - off ? step : len - off;
		assert_int_equal(write(sv[1], f + off, n), (ssize_t)n);
		off += n;
		step = step % 3 + 1;
		rc = ttrpc_reader_read(&r, sv[0], &fr, err, sizeof(err));
		reads++;
		if (off < len)
			assert_int_equal(rc, TTRPC_READ_MORE);
	}
	assert_true(reads > 5);
	assert_int_equal(rc, TTRPC_READ_FRAME);
	assert_int_equal(fr.h.stream_id, 5);
	assert_memory_equal(fr.payload, f + TTRPC_HEADER_LEN, fr.h.length);
	/* then the peer closes between frames: a clean end */
	close(sv[1]);
	assert_int_equal(ttrpc_reader_read(&r, sv[0], &fr, err, sizeof(err)), TTRPC_READ_EOF);
	ttrpc_reader_free(&r);
	close(sv[0]);
	free(f);
}

/* A header announcing more than 4 MiB: refused before any allocation, its payload skipped,
 * the next frame read as usual, and the server's answer ResourceExhausted on its stream.
 * Exactly TTRPC_MESSAGE_MAX is accepted. */
static void test_too_long(void **state)
{
	(void)state;
	struct ttrpc_reader r;
	struct ttrpc_frame fr;
	char err[200];
	size_t used;
	uint8_t head[TTRPC_HEADER_LEN];
	struct ttrpc_header h = {.length = TTRPC_MESSAGE_MAX + 1, .stream_id = 13, .type = 1};
	ttrpc_header_put(head, &h);
	ttrpc_reader_init(&r);
	assert_int_equal(ttrpc_reader_feed(&r, head, sizeof(head), &used, &fr, err, sizeof(err)),
			 TTRPC_READ_TOO_LONG);
	assert_int_equal(used, sizeof(head));
	assert_int_equal(fr.h.stream_id, 13);
	assert_null(fr.payload);
	assert_err_contains(err, "4194305");
	assert_err_contains(err, "maximum message length 4194304");
	assert_null(r.payload); /* nothing allocated for it */
	assert_true(ttrpc_reader_partial(&r));

	uint8_t *junk = calloc(1, TTRPC_MESSAGE_MAX + 1);
	assert_non_null(junk);
	for (size_t off = 0; off < TTRPC_MESSAGE_MAX + 1; off += used) {
		size_t n =
		    TTRPC_MESSAGE_MAX + 1 - off < 65536 ? TTRPC_MESSAGE_MAX + 1 - off : 65536;
		assert_int_equal(ttrpc_reader_feed(&r, junk + off, n, &used, &fr, err, sizeof(err)),
				 TTRPC_READ_MORE);
		assert_int_equal(used, n);
	}
	assert_false(ttrpc_reader_partial(&r));
	size_t len;
	uint8_t *f = request_frame(15, TASK, "Pids", NULL, &len);
	feed_one(&r, f, len, 7, &fr);
	assert_int_equal(fr.h.stream_id, 15);
	free(f);

	uint8_t *out;
	assert_int_equal(ttrpc_frame_status(13, TTRPC_RESOURCE_EXHAUSTED, err, &out, &len), 0);
	ttrpc_header_get(out, &h);
	assert_int_equal(h.stream_id, 13);
	Ttrpc__Response *resp =
	    ttrpc_response_decode(out + TTRPC_HEADER_LEN, h.length, err, sizeof(err));
	assert_status(resp, TTRPC_RESOURCE_EXHAUSTED, "maximum message length");
	ttrpc__response__free_unpacked(resp, NULL);
	free(out);

	/* the largest frame there may be */
	h.length = TTRPC_MESSAGE_MAX;
	h.stream_id = 17;
	ttrpc_header_put(head, &h);
	ttrpc_reader_free(&r);
	ttrpc_reader_init(&r);
	uint8_t *big = malloc(TTRPC_HEADER_LEN + TTRPC_MESSAGE_MAX);
	assert_non_null(big);
	memcpy(big, head, sizeof(head));
	memset(big + TTRPC_HEADER_LEN, 0, TTRPC_MESSAGE_MAX);
	assert_int_equal(ttrpc_reader_feed(&r, big, TTRPC_HEADER_LEN, &used, &fr, err, sizeof(err)),
			 TTRPC_READ_MORE);
	assert_int_equal(r.payload_cap, 0); /* the announced length allocates nothing yet */
	feed_one(&r, big + TTRPC_HEADER_LEN, TTRPC_MESSAGE_MAX, 1 << 20, &fr);
	assert_int_equal(fr.h.length, TTRPC_MESSAGE_MAX);
	ttrpc_reader_free(&r);
	free(big);
	free(junk);

	/* and a response whose payload would pass the maximum is answered ResourceExhausted */
	uint8_t *huge = calloc(1, TTRPC_MESSAGE_MAX);
	assert_non_null(huge);
	assert_int_equal(
	    ttrpc_frame_response(19, TTRPC_OK, NULL, huge, TTRPC_MESSAGE_MAX, &out, &len), 0);
	ttrpc_header_get(out, &h);
	assert_int_equal(h.stream_id, 19);
	resp = ttrpc_response_decode(out + TTRPC_HEADER_LEN, h.length, err, sizeof(err));
	assert_status(resp, TTRPC_RESOURCE_EXHAUSTED, "exceeds");
	ttrpc__response__free_unpacked(resp, NULL);
	free(out);
	free(huge);
}

/* The peer closes in the middle of a header, or of a payload: an error saying where. */
static void test_truncated(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = request_frame(1, TASK, "Delete", NULL, &len);
	const size_t cuts[] = {1, 4, TTRPC_HEADER_LEN - 1, TTRPC_HEADER_LEN + 1, len - 1};
	const char *words[] = {"after 1 of 10 header bytes", "after 4 of 10 header bytes",
			       "after 9 of 10 header bytes", "after 1 of", "payload bytes"};
	for (size_t i = 0; i < 5; i++) {
		int sv[2];
		struct ttrpc_reader r;
		struct ttrpc_frame fr;
		char err[200] = "";
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(write(sv[1], f, cuts[i]), (ssize_t)cuts[i]);
		close(sv[1]);
		ttrpc_reader_init(&r);
		assert_int_equal(ttrpc_reader_read(&r, sv[0], &fr, err, sizeof(err)), -1);
		assert_err_contains(err, words[i]);
		assert_err_contains(err, "connection closed");
		ttrpc_reader_free(&r);
		close(sv[0]);
	}
	free(f);
}

/* Frames of a type the server does not serve (a response, data, 0, 200) are read whole,
 * ignored, and the request after them is answered. */
static void test_unknown_type(void **state)
{
	(void)state;
	const uint8_t types[] = {TTRPC_RESPONSE, TTRPC_DATA, 0, 200};
	for (size_t i = 0; i < sizeof(types); i++) {
		uint8_t buf[TTRPC_HEADER_LEN + 3] = {0, 0,	  0,	3, 0, 0, 0,
						     1, types[i], 0xff, 1, 2, 3};
		struct ttrpc_reader r;
		struct ttrpc_frame fr;
		char err[200];
		uint8_t *out;
		size_t outlen, len;
		ttrpc_reader_init(&r);
		feed_one(&r, buf, sizeof(buf), 2, &fr);
		assert_int_equal(fr.h.type, types[i]);
		assert_int_equal(fr.h.flags, 0xff);
		assert_int_equal(ttrpc_serve_frame(&table, &fr, &out, &outlen, err, sizeof(err)),
				 0);
		assert_null(out);
		uint8_t *f = request_frame(3, TASK, "Nope", NULL, &len);
		feed_one(&r, f, len, len, &fr);
		assert_int_equal(ttrpc_serve_frame(&table, &fr, &out, &outlen, err, sizeof(err)),
				 0);
		assert_non_null(out);
		free(out);
		free(f);
		ttrpc_reader_free(&r);
	}
}

/* A request that is no protobuf is InvalidArgument; a method payload that does not unpack
 * as the method's input is Internal (as ttrpc's services.go), and its handler not called. */
static void test_bad_protobuf(void **state)
{
	(void)state;
	const uint8_t bad[][6] = {
	    {0x0a, 0x7f, 's'},		    /* a string longer than the message */
	    {0xff, 0xff, 0xff, 0xff, 0xff}, /* a tag's varint that never ends */
	    {0x0b},			    /* a group start: wire type 3 */
	    {0x1a, 0x05, 1, 2},		    /* payload bytes cut short */
	};
	const size_t lens[] = {3, 5, 1, 4};
	char err[200];
	for (size_t i = 0; i < 4; i++) {
		uint8_t buf[TTRPC_HEADER_LEN + 6];
		struct ttrpc_header h = {.length = (uint32_t)lens[i], .stream_id = 21, .type = 1};
		ttrpc_header_put(buf, &h);
		memcpy(buf + TTRPC_HEADER_LEN, bad[i], lens[i]);
		assert_null(ttrpc_request_decode(bad[i], lens[i], err, sizeof(err)));
		assert_err_contains(err, "does not decode");
		Ttrpc__Response *resp = serve(buf, TTRPC_HEADER_LEN + lens[i], 21);
		assert_status(resp, TTRPC_INVALID_ARGUMENT, "does not decode as ttrpc.Request");
		ttrpc__response__free_unpacked(resp, NULL);
	}
	assert_null(ttrpc_response_decode((const uint8_t *)"\x0a\x09", 2, err, sizeof(err)));
	assert_err_contains(err, "ttrpc.Response");

	/* a good Request whose payload is no CreateTaskRequest */
	const uint8_t junk[] = {0x0a, 0x40, 'x'};
	uint8_t *f;
	size_t len;
	create_calls = 0;
	assert_int_equal(ttrpc_frame_request(23, TASK, "Create", junk, sizeof(junk), 0, NULL, NULL,
					     0, &f, &len, err, sizeof(err)),
			 0);
	Ttrpc__Response *resp = serve(f, len, 23);
	assert_status(resp, TTRPC_INTERNAL, "containerd.task.v2.CreateTaskRequest");
	assert_int_equal(create_calls, 0);
	ttrpc__response__free_unpacked(resp, NULL);
	free(f);
}

static void test_unimplemented(void **state)
{
	(void)state;
	expect_status(25, TASK, "Checkpoint", NULL, TTRPC_UNIMPLEMENTED, "method Checkpoint");
	expect_status(27, "containerd.task.v3.Task", "Create", NULL, TTRPC_UNIMPLEMENTED,
		      "service containerd.task.v3.Task");
	expect_status(29, "", "", NULL, TTRPC_UNIMPLEMENTED, "service");
}

/* Limits on what a request may carry: names, metadata pairs; even stream ids refused. */
static void test_request_limits(void **state)
{
	(void)state;
	char name[TTRPC_NAME_MAX + 2];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	expect_status(31, name, "Create", NULL, TTRPC_INVALID_ARGUMENT,
		      "service name longer than 256");
	expect_status(33, TASK, name, NULL, TTRPC_INVALID_ARGUMENT, "method name longer than 256");
	name[TTRPC_NAME_MAX] = 0; /* exactly the limit: fine (and unknown) */
	expect_status(35, TASK, name, NULL, TTRPC_UNIMPLEMENTED, "method aaa");

	const char *keys[TTRPC_METADATA_MAX + 1], *values[TTRPC_METADATA_MAX + 1];
	for (size_t i = 0; i <= TTRPC_METADATA_MAX; i++)
		keys[i] = values[i] = "k";
	char err[200];
	uint8_t *f;
	size_t len;
	assert_int_equal(ttrpc_frame_request(37, TASK, "Wait", NULL, 0, 0, keys, values,
					     TTRPC_METADATA_MAX + 1, &f, &len, err, sizeof(err)),
			 0);
	Ttrpc__Response *resp = serve(f, len, 37);
	assert_status(resp, TTRPC_INVALID_ARGUMENT, "65 metadata pairs, more than 64");
	ttrpc__response__free_unpacked(resp, NULL);
	free(f);

	expect_status(38, TASK, "Create", NULL, TTRPC_INVALID_ARGUMENT, "StreamID must be odd");
}

/* Requests served through the table keep their stream ids: Create answered now with the
 * method's message, Kill with the handler's status, Wait later (no frame now; the server
 * answers its stream when it can, after others). */
static void test_dispatch_stream_ids(void **state)
{
	(void)state;
	Containerd__Task__V2__CreateTaskRequest cr =
	    CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	cr.id = "c1";
	cr.bundle = "/run/b";
	cr.stdout = "/run/fifo.out";
	size_t len;
	create_calls = 0;
	uint8_t *f = request_frame(0xfffffffdu, TASK, "Create", &cr.base, &len);
	Ttrpc__Response *resp = serve(f, len, 0xfffffffdu);
	assert_int_equal(create_calls, 1);
	assert_int_equal(resp->status->code, TTRPC_OK);
	Containerd__Task__V2__CreateTaskResponse *out =
	    containerd__task__v2__create_task_response__unpack(NULL, resp->payload.len,
							       resp->payload.data);
	assert_non_null(out);
	assert_int_equal(out->pid, 4242 + 6);
	containerd__task__v2__create_task_response__free_unpacked(out, NULL);
	ttrpc__response__free_unpacked(resp, NULL);
	free(f);

	cr.id = "c2";
	expect_status(41, TASK, "Create", &cr.base, TTRPC_NOT_FOUND, "no template for c2");

	/* Wait on 43: nothing now */
	Containerd__Task__V2__WaitRequest wr = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	wr.id = "c1";
	f = request_frame(43, TASK, "Wait", &wr.base, &len);
	struct ttrpc_reader r;
	struct ttrpc_frame fr;
	char err[200];
	uint8_t *o;
	size_t olen;
	ttrpc_reader_init(&r);
	feed_one(&r, f, len, len, &fr);
	waiting_stream = 0;
	assert_int_equal(ttrpc_serve_frame(&table, &fr, &o, &olen, err, sizeof(err)), 0);
	assert_null(o);
	assert_int_equal(waiting_stream, 43);
	ttrpc_reader_free(&r);
	free(f);

	/* Kill on 45 answered meanwhile */
	Containerd__Task__V2__KillRequest kr = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	kr.id = "c1";
	kr.signal = 9;
	expect_status(45, TASK, "Kill", &kr.base, TTRPC_FAILED_PRECONDITION, "signal 9 to c1");

	/* then Wait's answer, on its own stream */
	Containerd__Task__V2__WaitResponse wo = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	at.seconds = 1700000000;
	wo.exit_status = 7;
	wo.exited_at = &at;
	struct ttrpc_result res = {0};
	assert_int_equal(ttrpc_result_message(&res, &wo.base), 0);
	assert_int_equal(ttrpc_frame_response(waiting_stream, res.code, res.message, res.payload,
					      res.len, &o, &olen),
			 0);
	free(res.payload);
	struct ttrpc_header h;
	ttrpc_header_get(o, &h);
	assert_int_equal(h.stream_id, 43);
	resp = ttrpc_response_decode(o + TTRPC_HEADER_LEN, h.length, err, sizeof(err));
	assert_non_null(resp);
	Containerd__Task__V2__WaitResponse *w = containerd__task__v2__wait_response__unpack(
	    NULL, resp->payload.len, resp->payload.data);
	assert_non_null(w);
	assert_int_equal(w->exit_status, 7);
	assert_int_equal(w->exited_at->seconds, 1700000000);
	containerd__task__v2__wait_response__free_unpacked(w, NULL);
	ttrpc__response__free_unpacked(resp, NULL);
	free(o);
}

/* A task event as a shim sends it to containerd: TaskExit in an Any, in an Envelope, in
 * the Events service's Forward request. */
static void test_event_forward(void **state)
{
	(void)state;
	Containerd__Events__TaskExit ex = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	ex.container_id = "c1";
	ex.id = "c1";
	ex.pid = 4242;
	ex.exit_status = 7;
	uint8_t packed[256];
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = "containerd.events.TaskExit";
	any.value.len = containerd__events__task_exit__pack(&ex, packed);
	any.value.data = packed;
	Containerd__Services__Events__Ttrpc__V1__Envelope env =
	    CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	env.namespace_ = "k8s.io";
	env.topic = "/tasks/exit";
	env.event = &any;
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest fwd =
	    CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	fwd.envelope = &env;
	uint8_t payload[512];
	size_t plen = protobuf_c_message_pack(&fwd.base, payload);
	uint8_t *f;
	size_t len;
	char err[200];
	assert_int_equal(ttrpc_frame_request(1, "containerd.services.events.ttrpc.v1.Events",
					     "Forward", payload, plen, 0, NULL, NULL, 0, &f, &len,
					     err, sizeof(err)),
			 0);
	Ttrpc__Request *req =
	    ttrpc_request_decode(f + TTRPC_HEADER_LEN, len - TTRPC_HEADER_LEN, err, sizeof(err));
	assert_non_null(req);
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest *back =
	    containerd__services__events__ttrpc__v1__forward_request__unpack(NULL, req->payload.len,
									     req->payload.data);
	assert_non_null(back);
	assert_string_equal(back->envelope->topic, "/tasks/exit");
	Containerd__Events__TaskExit *ex2 = containerd__events__task_exit__unpack(
	    NULL, back->envelope->event->value.len, back->envelope->event->value.data);
	assert_non_null(ex2);
	assert_int_equal(ex2->exit_status, 7);
	assert_string_equal(ex2->container_id, "c1");
	containerd__events__task_exit__free_unpacked(ex2, NULL);
	containerd__services__events__ttrpc__v1__forward_request__free_unpacked(back, NULL);
	ttrpc__request__free_unpacked(req, NULL);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_bytes),
	    cmocka_unit_test(test_wire_bytes),
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_response_round_trip),
	    cmocka_unit_test(test_split_reads),
	    cmocka_unit_test(test_split_reads_fd),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_unknown_type),
	    cmocka_unit_test(test_bad_protobuf),
	    cmocka_unit_test(test_unimplemented),
	    cmocka_unit_test(test_request_limits),
	    cmocka_unit_test(test_dispatch_stream_ids),
	    cmocka_unit_test(test_event_forward),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
