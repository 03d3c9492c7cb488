/* ttrpc's wire format, its messages and the dispatch of requests to a table of methods. */
#include "ttrpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/util.h"

static const char *const code_names[] = {
    [TTRPC_OK] = "OK",
    [TTRPC_CANCELLED] = "Canceled",
    [TTRPC_UNKNOWN] = "Unknown",
    [TTRPC_INVALID_ARGUMENT] = "InvalidArgument",
    [TTRPC_DEADLINE_EXCEEDED] = "DeadlineExceeded",
    [TTRPC_NOT_FOUND] = "NotFound",
    [TTRPC_ALREADY_EXISTS] = "AlreadyExists",
    [TTRPC_PERMISSION_DENIED] = "PermissionDenied",
    [TTRPC_RESOURCE_EXHAUSTED] = "ResourceExhausted",
    [TTRPC_FAILED_PRECONDITION] = "FailedPrecondition",
    [TTRPC_ABORTED] = "Aborted",
    [TTRPC_OUT_OF_RANGE] = "OutOfRange",
    [TTRPC_UNIMPLEMENTED] = "Unimplemented",
    [TTRPC_INTERNAL] = "Internal",
    [TTRPC_UNAVAILABLE] = "Unavailable",
    [TTRPC_DATA_LOSS] = "DataLoss",
    [TTRPC_UNAUTHENTICATED] = "Unauthenticated",
};

const char *ttrpc_code_name(int code)
{
	static __thread char other[24];
	if (code >= 0 && (size_t)code < ARRAY_SIZE(code_names))
		return code_names[code];
	snprintf(other, sizeof(other), "Code(%d)", code);
	return other;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ttrpc_header_put(uint8_t out[TTRPC_HEADER_LEN], const struct ttrpc_header *h)
{
	put_be32(out, h->length);
	put_be32(out + 4, h->stream_id);
	out[8] = h->type;
	out[9] = h->flags;
}

void ttrpc_header_get(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h)
{
	h->length = get_be32(in);
	h->stream_id = get_be32(in + 4);
	h->type = in[8];
	h->flags = in[9];
}

/* ---- Reading frames ----------------------------------------------------------------- */

void ttrpc_reader_init(struct ttrpc_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void ttrpc_reader_free(struct ttrpc_reader *r)
{
	free(r->payload);
	ttrpc_reader_init(r);
}

bool ttrpc_reader_partial(const struct ttrpc_reader *r)
{
	return r->head_have > 0 || r->skip > 0;
}

int ttrpc_reader_feed(struct ttrpc_reader *r, const uint8_t *data, size_t len, size_t *used,
		      struct ttrpc_frame *frame, char *err, size_t errlen)
{
	size_t off = 0;
	*used = 0;
	while (off < len || (r->head_have == TTRPC_HEADER_LEN && r->payload_have == r->h.length)) {
		if (r->skip) { /* the rest of a frame too long, discarded */
			size_t n = MIN((size_t)r->skip, len - off);
			r->skip -= n;
			off += n;
			continue;
		}
		if (r->head_have < TTRPC_HEADER_LEN) {
			size_t n = MIN(TTRPC_HEADER_LEN - r->head_have, len - off);
			memcpy(r->head + r->head_have, data + off, n);
			r->head_have += n;
			off += n;
			if (r->head_have < TTRPC_HEADER_LEN)
				break;
			ttrpc_header_get(r->head, &r->h);
			r->payload_have = 0;
			/* The one check of a frame's length: the peer's number, before any
			 * allocation. */
			if (r->h.length > TTRPC_MESSAGE_MAX) {
				r->skip = r->h.length;
				r->head_have = 0;
				frame->h = r->h;
				frame->payload = NULL;
				*used = off;
				errf(err, errlen,
				     "frame of stream %u announces %u bytes, more than the "
				     "maximum message length %u",
				     r->h.stream_id, r->h.length, TTRPC_MESSAGE_MAX);
				return TTRPC_READ_TOO_LONG;
			}
			continue;
		}
		if (r->payload_have < r->h.length) {
			size_t n = MIN(r->h.length - r->payload_have, len - off);
			/* The buffer grows with the bytes that came, not with the length a
			 * header announced: ten bytes cannot make the reader take 4 MiB. */
			if (r->payload_have + n > r->payload_cap) {
				size_t want =
				    MIN((size_t)r->h.length, MAX(2 * r->payload_cap, 4096));
				want = MAX(want, r->payload_have + n);
				uint8_t *p = realloc(r->payload, want);
				if (!p) {
					r->skip = r->h.length - r->payload_have;
					r->head_have = 0;
					*used = off;
					return errf(err, errlen,
						    "no memory for a frame of %u bytes",
						    r->h.length);
				}
				r->payload = p;
				r->payload_cap = want;
			}
			memcpy(r->payload + r->payload_have, data + off, n);
			r->payload_have += n;
			off += n;
			continue;
		}
		/* a whole frame */
		frame->h = r->h;
		frame->payload = r->payload;
		r->head_have = 0;
		r->payload_have = 0;
		*used = off;
		return TTRPC_READ_FRAME;
	}
	*used = off;
	return TTRPC_READ_MORE;
}

int ttrpc_reader_read(struct ttrpc_reader *r, int fd, struct ttrpc_frame *frame, char *err,
		      size_t errlen)
{
	for (;;) {
		if (r->in_off < r->in_len) {
			size_t used;
			int rc = ttrpc_reader_feed(r, r->in + r->in_off, r->in_len - r->in_off,
						   &used, frame, err, errlen);
			r->in_off += used;
			if (rc != TTRPC_READ_MORE)
				return rc;
		}
		r->in_off = r->in_len = 0;
		ssize_t n = read(fd, r->in, sizeof(r->in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TTRPC_READ_MORE;
		if (n < 0)
			return errf(err, errlen, "read: %s", strerror(errno));
		if (n == 0) {
			if (r->skip)
				return errf(err, errlen,
					    "connection closed with %u bytes of a frame too long "
					    "still to come",
					    r->skip);
			if (r->head_have > 0 && r->head_have < TTRPC_HEADER_LEN)
				return errf(err, errlen,
					    "connection closed after %zu of %u header bytes",
					    r->head_have, TTRPC_HEADER_LEN);
			if (r->head_have == TTRPC_HEADER_LEN)
				return errf(err, errlen,
					    "connection closed after %zu of %u payload bytes of "
					    "stream %u",
					    r->payload_have, r->h.length, r->h.stream_id);
			return TTRPC_READ_EOF;
		}
		r->in_len = (size_t)n;
	}
}

/* ---- Messages ----------------------------------------------------------------------- */

Ttrpc__Request *ttrpc_request_decode(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, p);
	if (!req) {
		errf(err, errlen, "request of %zu bytes does not decode as ttrpc.Request", len);
		return NULL;
	}
	/* The one check of a request's fields (protobuf-c has checked every length against
	 * the frame). */
	const char *bad = NULL;
	if (strlen(req->service) > TTRPC_NAME_MAX)
		bad = "service name";
	else if (strlen(req->method) > TTRPC_NAME_MAX)
		bad = "method name";
	if (bad) {
		errf(err, errlen, "request's %s longer than %u bytes", bad, TTRPC_NAME_MAX);
		ttrpc__request__free_unpacked(req, NULL);
		return NULL;
	}
	if (req->n_metadata > TTRPC_METADATA_MAX) {
		errf(err, errlen, "request carries %zu metadata pairs, more than %u",
		     req->n_metadata, TTRPC_METADATA_MAX);
		ttrpc__request__free_unpacked(req, NULL);
		return NULL;
	}
	return req;
}

Ttrpc__Response *ttrpc_response_decode(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, len, p);
	if (!resp)
		errf(err, errlen, "response of %zu bytes does not decode as ttrpc.Response", len);
	return resp;
}

const char *ttrpc_metadata_get(const Ttrpc__Request *req, const char *key)
{
	for (size_t i = 0; i < req->n_metadata; i++)
		if (req->metadata[i] && !strcasecmp(req->metadata[i]->key, key))
			return req->metadata[i]->value;
	return NULL;
}

int ttrpc_frame_message(uint32_t stream_id, enum ttrpc_type type, const ProtobufCMessage *msg,
			uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	*out = NULL;
	*outlen = 0;
	size_t size = protobuf_c_message_get_packed_size(msg);
	if (size > TTRPC_MESSAGE_MAX)
		return errf(err, errlen, "%s of %zu bytes is longer than the maximum %u",
			    msg->descriptor->name, size, TTRPC_MESSAGE_MAX);
	uint8_t *buf = malloc(TTRPC_HEADER_LEN + size);
	if (!buf)
		return errf(err, errlen, "no memory for a frame of %zu bytes", size);
	struct ttrpc_header h = {.length = (uint32_t)size, .stream_id = stream_id, .type = type};
	ttrpc_header_put(buf, &h);
	protobuf_c_message_pack(msg, buf + TTRPC_HEADER_LEN);
	*out = buf;
	*outlen = TTRPC_HEADER_LEN + size;
	return 0;
}

int ttrpc_frame_request(uint32_t stream_id, const char *service, const char *method,
			const uint8_t *payload, size_t len, int64_t timeout_nano,
			const char *const *keys, const char *const *values, size_t npairs,
			uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	req.service = (char *)service;
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = len;
	req.timeout_nano = timeout_nano;
	Ttrpc__KeyValue *pairs = calloc(npairs ? npairs : 1, sizeof(*pairs));
	Ttrpc__KeyValue **list = calloc(npairs ? npairs : 1, sizeof(*list));
	if (!pairs || !list) {
		free(pairs);
		free(list);
		*out = NULL;
		return errf(err, errlen, "no memory for %zu metadata pairs", npairs);
	}
	for (size_t i = 0; i < npairs; i++) {
		ttrpc__key_value__init(&pairs[i]);
		pairs[i].key = (char *)keys[i];
		pairs[i].value = (char *)values[i];
		list[i] = &pairs[i];
	}
	req.n_metadata = npairs;
	req.metadata = list;
	int rc = ttrpc_frame_message(stream_id, TTRPC_REQUEST, &req.base, out, outlen, err, errlen);
	free(list);
	free(pairs);
	return rc;
}

int ttrpc_frame_response(uint32_t stream_id, int code, const char *message, const uint8_t *payload,
			 size_t len, uint8_t **out, size_t *outlen)
{
	char err[160];
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	/* Like ttrpc's Go server, a status always, OK included. */
	st.code = code;
	st.message = (char *)(message && code != TTRPC_OK ? message : "");
	resp.status = &st;
	if (code == TTRPC_OK) {
		resp.payload.data = (uint8_t *)payload;
		resp.payload.len = len;
	}
	int rc = ttrpc_frame_message(stream_id, TTRPC_RESPONSE, &resp.base, out, outlen, err,
				     sizeof(err));
	if (rc == 0 || resp.payload.len == 0)
		return rc;
	/* too long (or no memory for it): a status in its place */
	snprintf(err, sizeof(err), "response of %zu bytes exceeds the maximum message length %u",
		 len, TTRPC_MESSAGE_MAX);
	return ttrpc_frame_response(stream_id, TTRPC_RESOURCE_EXHAUSTED, err, NULL, 0, out, outlen);
}

int ttrpc_frame_status(uint32_t stream_id, int code, const char *message, uint8_t **out,
		       size_t *outlen)
{
	return ttrpc_frame_response(stream_id, code, message, NULL, 0, out, outlen);
}

/* ---- Serving ------------------------------------------------------------------------ */

int ttrpc_result_message(struct ttrpc_result *res, const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg);
	uint8_t *p = malloc(size ? size : 1);
	if (!p) {
		ttrpc_result_status(res, TTRPC_INTERNAL, "no memory for a response of %zu bytes",
				    size);
		return -1;
	}
	protobuf_c_message_pack(msg, p);
	free(res->payload);
	res->code = TTRPC_OK;
	res->payload = p;
	res->len = size;
	return 0;
}

void ttrpc_result_status(struct ttrpc_result *res, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	free(res->payload);
	res->payload = NULL;
	res->len = 0;
	res->code = code;
}

const struct ttrpc_method *ttrpc_table_find(const struct ttrpc_table *t, const char *service,
					    const char *method)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->methods[i].service, service) &&
		    !strcmp(t->methods[i].method, method))
			return &t->methods[i];
	return NULL;
}

static bool service_known(const struct ttrpc_table *t, const char *service)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->methods[i].service, service))
			return true;
	return false;
}

/* The result of one decoded request (services.go's call: resolve, unmarshal, handle). */
static void call_method(const struct ttrpc_table *t, uint32_t stream_id, const Ttrpc__Request *req,
			struct ttrpc_result *res)
{
	const struct ttrpc_method *m = ttrpc_table_find(t, req->service, req->method);
	if (!m) {
		if (!service_known(t, req->service))
			ttrpc_result_status(res, TTRPC_UNIMPLEMENTED, "service %s", req->service);
		else
			ttrpc_result_status(res, TTRPC_UNIMPLEMENTED, "method %s", req->method);
		return;
	}
	ProtobufCMessage *in =
	    protobuf_c_message_unpack(m->input, NULL, req->payload.len, req->payload.data);
	if (!in) {
		ttrpc_result_status(res, TTRPC_INTERNAL,
				    "ttrpc: error unmarshalling payload: %zu bytes are no %s",
				    req->payload.len, m->input->name);
		return;
	}
	struct ttrpc_call call = {.stream_id = stream_id, .req = req, .in = in};
	m->fn(t->ctx, &call, res);
	protobuf_c_message_free_unpacked(in, NULL);
}

int ttrpc_serve_frame(const struct ttrpc_table *t, const struct ttrpc_frame *frame, uint8_t **out,
		      size_t *outlen, char *err, size_t errlen)
{
	*out = NULL;
	*outlen = 0;
	if (frame->h.type != TTRPC_REQUEST)
		return 0; /* as ttrpc's server: only requests are answered */
	uint32_t id = frame->h.stream_id;
	char why[200];
	Ttrpc__Request *req =
	    ttrpc_request_decode(frame->payload, frame->h.length, why, sizeof(why));
	int rc;
	if (!req) {
		rc = ttrpc_frame_status(id, TTRPC_INVALID_ARGUMENT, why, out, outlen);
	} else if (id % 2 != 1) {
		rc = ttrpc_frame_status(id, TTRPC_INVALID_ARGUMENT,
					"StreamID must be odd for client initiated streams", out,
					outlen);
	} else {
		struct ttrpc_result res = {.code = TTRPC_OK};
		call_method(t, id, req, &res);
		if (res.later)
			rc = 0;
		else
			rc = ttrpc_frame_response(id, res.code, res.message, res.payload, res.len,
						  out, outlen);
		free(res.payload);
	}
	if (req)
		ttrpc__request__free_unpacked(req, NULL);
	if (rc < 0)
		return errf(err, errlen, "no memory for the response to stream %u", id);
	return 0;
}
