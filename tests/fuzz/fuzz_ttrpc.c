/* libFuzzer target: the ttrpc codec (src/shim/ttrpc.c). The first byte picks how the rest,
 * a client's byte stream, is cut into reads (1..256 bytes each); every frame the reader
 * yields is served through a table of containerd's Task methods (the request decoded, its
 * payload unpacked as the method's input and packed again as the answer), and every
 * answer must be a well-formed response frame on the request's stream id. Each unpacked
 * request first goes through the shim's one check of what containerd sends
 * (shim_check_message, src/shim/bundle.c): what it accepts keeps its promises. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/bundle.h"
#include "shim/ttrpc.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"

#define TASK "containerd.task.v2.Task"

/* What shim_check_message promises of a message it accepted. */
static void check_accepted(const ProtobufCMessage *m)
{
	if (m->descriptor == &containerd__task__v2__create_task_request__descriptor) {
		const Containerd__Task__V2__CreateTaskRequest *c =
		    (const Containerd__Task__V2__CreateTaskRequest *)m;
		assert(shim_valid_id(c->id));
		assert(strlen(c->bundle) <= SHIM_STRING_MAX && strlen(c->stdout) <= SHIM_STRING_MAX);
		assert(c->n_rootfs <= SHIM_REPEATED_MAX);
		for (size_t i = 0; i < c->n_rootfs; i++)
			assert(c->rootfs[i]->n_options <= SHIM_REPEATED_MAX);
	} else if (m->descriptor == &containerd__task__v2__update_task_request__descriptor) {
		const Containerd__Task__V2__UpdateTaskRequest *u =
		    (const Containerd__Task__V2__UpdateTaskRequest *)m;
		assert(u->n_annotations <= SHIM_REPEATED_MAX);
		for (size_t i = 0; i < u->n_annotations; i++)
			assert(strlen(u->annotations[i]->value) <= SHIM_STRING_MAX);
	} else if (m->descriptor == &containerd__task__v2__kill_request__descriptor) {
		const Containerd__Task__V2__KillRequest *k = (const Containerd__Task__V2__KillRequest *)m;
		assert(shim_valid_id(k->id) && (!k->exec_id[0] || shim_valid_id(k->exec_id)));
	}
}

static void echo(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	(void)ctx;
	char err[256];
	if (shim_check_message(call->in, err, sizeof(err)) < 0) {
		ttrpc_result_status(res, TTRPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	check_accepted(call->in);
	if (call->req->timeout_nano < 0)
		ttrpc_result_status(res, TTRPC_DEADLINE_EXCEEDED, "timeout %lld",
				    (long long)call->req->timeout_nano);
	else
		ttrpc_result_message(res, call->in);
}

static void later(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	(void)ctx;
	(void)call;
	res->later = true;
}

static const struct ttrpc_method methods[] = {
    {TASK, "Create", &containerd__task__v2__create_task_request__descriptor, echo},
    {TASK, "State", &containerd__task__v2__state_request__descriptor, echo},
    {TASK, "Kill", &containerd__task__v2__kill_request__descriptor, echo},
    {TASK, "Update", &containerd__task__v2__update_task_request__descriptor, echo},
    {TASK, "Wait", &containerd__task__v2__wait_request__descriptor, later},
};

static const struct ttrpc_table table = {methods, sizeof(methods) / sizeof(methods[0]), NULL};

static void check_answer(const uint8_t *out, size_t outlen, uint32_t stream_id)
{
	char err[256];
	struct ttrpc_header h;
	assert(outlen >= TTRPC_HEADER_LEN);
	ttrpc_header_get(out, &h);
	assert(h.length == outlen - TTRPC_HEADER_LEN && h.length <= TTRPC_MESSAGE_MAX);
	assert(h.type == TTRPC_RESPONSE && h.stream_id == stream_id);
	Ttrpc__Response *resp =
	    ttrpc_response_decode(out + TTRPC_HEADER_LEN, h.length, err, sizeof(err));
	assert(resp && resp->status);
	assert(resp->status->code == TTRPC_OK || resp->payload.len == 0);
	ttrpc__response__free_unpacked(resp, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] + 1, off = 1;
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	ttrpc_reader_init(&r);
	while (off < size) {
		size_t n = chunk < size - off ? chunk : size - off, used;
		int rc = ttrpc_reader_feed(&r, data + off, n, &used, &f, err, sizeof(err));
		assert(rc >= 0 && used <= n);
		off += used;
		uint8_t *out = NULL;
		size_t outlen = 0;
		if (rc == TTRPC_READ_FRAME) {
			assert(f.h.length <= TTRPC_MESSAGE_MAX);
			assert(ttrpc_serve_frame(&table, &f, &out, &outlen, err, sizeof(err)) == 0);
			if (out)
				check_answer(out, outlen, f.h.stream_id);
			else
				assert(f.h.type != TTRPC_REQUEST || f.h.stream_id % 2 == 1);
			/* the same bytes read as a client reads a response */
			Ttrpc__Response *resp =
			    ttrpc_response_decode(f.payload, f.h.length, err, sizeof(err));
			if (resp)
				ttrpc__response__free_unpacked(resp, NULL);
		} else if (rc == TTRPC_READ_TOO_LONG) {
			assert(f.h.length > TTRPC_MESSAGE_MAX && !f.payload);
			assert(ttrpc_frame_status(f.h.stream_id, TTRPC_RESOURCE_EXHAUSTED, err,
						  &out, &outlen) == 0);
			check_answer(out, outlen, f.h.stream_id);
		} else {
			assert(rc == TTRPC_READ_MORE && used == n);
		}
		free(out);
	}
	ttrpc_reader_free(&r);
	return 0;
}
