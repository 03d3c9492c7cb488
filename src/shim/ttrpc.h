/* ttrpc, containerd's RPC between containerd and its shims: the wire format as containerd's
 * ttrpc Go package (channel.go, server.go, services.go) implements it, and a dispatch
 * table from (service, method) to handlers. Pure: no sockets of its own (the reader reads
 * a descriptor it is given); library code, it never exits.
 *
 * A frame is a 10-byte header and a payload:
 *   bytes 0-3  payload length, big-endian (at most TTRPC_MESSAGE_MAX)
 *   bytes 4-7  stream id, big-endian (odd: started by the client; a response carries its
 *              request's id, so answers may come in any order)
 *   byte  8    type: 1 request, 2 response (3 data, streams of newer ttrpc versions)
 *   byte  9    flags (0 for requests and responses)
 * A request's payload is a ttrpc.Request {service, method, payload, timeout_nano,
 * metadata}, a response's a ttrpc.Response {status (google.rpc.Status), payload}; the
 * inner payloads are the method's own protobuf messages (src/shim/ttrpc.proto).
 *
 * What the peer controls is checked here: frame lengths in the reader (ttrpc_reader_feed),
 * a request's fields in ttrpc_request_decode, a method's payload in ttrpc_serve_frame. */
#ifndef HF_SHIM_TTRPC_H
#define HF_SHIM_TTRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ttrpc.pb-c.h"

#define TTRPC_HEADER_LEN 10u
#define TTRPC_MESSAGE_MAX (4u << 20) /* ttrpc's messageLengthMax: longest payload accepted */
#define TTRPC_NAME_MAX 256u	     /* longest service or method name accepted */
#define TTRPC_METADATA_MAX 64u	     /* most metadata pairs one request may carry */

enum ttrpc_type { TTRPC_REQUEST = 1, TTRPC_RESPONSE = 2, TTRPC_DATA = 3 };

/* gRPC's status codes (google.golang.org/grpc/codes), as ttrpc sends them. */
enum ttrpc_code {
	TTRPC_OK = 0,
	TTRPC_CANCELLED = 1,
	TTRPC_UNKNOWN = 2,
	TTRPC_INVALID_ARGUMENT = 3,
	TTRPC_DEADLINE_EXCEEDED = 4,
	TTRPC_NOT_FOUND = 5,
	TTRPC_ALREADY_EXISTS = 6,
	TTRPC_PERMISSION_DENIED = 7,
	TTRPC_RESOURCE_EXHAUSTED = 8,
	TTRPC_FAILED_PRECONDITION = 9,
	TTRPC_ABORTED = 10,
	TTRPC_OUT_OF_RANGE = 11,
	TTRPC_UNIMPLEMENTED = 12,
	TTRPC_INTERNAL = 13,
	TTRPC_UNAVAILABLE = 14,
	TTRPC_DATA_LOSS = 15,
	TTRPC_UNAUTHENTICATED = 16,
};

/* The code's name as gRPC spells it ("Unimplemented"), "Code(N)" for one it does not know
 * (then in a per-thread buffer, valid until the thread's next call). */
const char *ttrpc_code_name(int code);

struct ttrpc_header {
	uint32_t length; /* of the payload, the header not counted */
	uint32_t stream_id;
	uint8_t type; /* enum ttrpc_type, or any other value a peer sent */
	uint8_t flags;
};

void ttrpc_header_put(uint8_t out[TTRPC_HEADER_LEN], const struct ttrpc_header *h);
void ttrpc_header_get(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h);

/* ---- Reading frames: partial reads, any split, bad frames ---------------------------- */

/* What the reader returns. */
enum ttrpc_read {
	TTRPC_READ_MORE = 0,	 /* no whole frame yet: feed more (fd: it would block) */
	TTRPC_READ_FRAME = 1,	 /* a whole frame: the header and payload in *frame */
	TTRPC_READ_TOO_LONG = 2, /* a header announcing more than TTRPC_MESSAGE_MAX: *frame has
				  * its header (no payload) and the error its sizes; its payload
				  * is skipped as it arrives, and the frames after it are read as
				  * usual (ttrpc's Go channel does the same; its server answers
				  * ResourceExhausted on that stream: ttrpc_frame_status) */
	TTRPC_READ_EOF = 3,	 /* fd: the peer closed the connection between frames */
};

struct ttrpc_frame {
	struct ttrpc_header h;
	const uint8_t *payload; /* h.length bytes, the reader's: valid until its next call */
};

struct ttrpc_reader {
	uint8_t head[TTRPC_HEADER_LEN];
	size_t head_have;      /* header bytes of the current frame read so far */
	struct ttrpc_header h; /* the current frame's header, once head_have is 10 */
	uint8_t *payload;      /* its payload, h.length bytes once complete */
	size_t payload_have, payload_cap;
	uint32_t skip;	   /* bytes still to discard of a frame too long */
	uint8_t in[16384]; /* ttrpc_reader_read: bytes read from the fd, not yet fed */
	size_t in_off, in_len;
};

void ttrpc_reader_init(struct ttrpc_reader *r);
void ttrpc_reader_free(struct ttrpc_reader *r);

/* Takes bytes from the peer, in pieces of any size. *used says how many of the len bytes
 * it took (it stops after a frame: feed the rest again). Returns an enum ttrpc_read
 * (never TTRPC_READ_EOF), or -1 (out of memory) with err set. */
int ttrpc_reader_feed(struct ttrpc_reader *r, const uint8_t *data, size_t len, size_t *used,
		      struct ttrpc_frame *frame, char *err, size_t errlen);

/* Reads fd (blocking or not) until a whole frame, TTRPC_READ_MORE (EAGAIN: call again when
 * fd is readable), TTRPC_READ_TOO_LONG or TTRPC_READ_EOF. Returns -1 with err set if read
 * fails or the peer closes the connection in the middle of a frame ("closed after 4 of
 * 10 header bytes"). Bytes read past a frame stay in the reader for the next call. */
int ttrpc_reader_read(struct ttrpc_reader *r, int fd, struct ttrpc_frame *frame, char *err,
		      size_t errlen);

/* True if the reader holds part of a frame (a peer closing now would cut it). */
bool ttrpc_reader_partial(const struct ttrpc_reader *r);

/* ---- Messages --------------------------------------------------------------------- */

/* A frame's payload as a Request: unpacked by protobuf-c (free with
 * ttrpc__request__free_unpacked(req, NULL)) and checked (service and method at most
 * TTRPC_NAME_MAX bytes, at most TTRPC_METADATA_MAX metadata pairs). NULL with err set if
 * it does not decode or breaks a limit. */
Ttrpc__Request *ttrpc_request_decode(const uint8_t *p, size_t len, char *err, size_t errlen);

/* A frame's payload as a Response (free with ttrpc__response__free_unpacked(resp, NULL)).
 * NULL with err set if it does not decode. A response without a status is OK. */
Ttrpc__Response *ttrpc_response_decode(const uint8_t *p, size_t len, char *err, size_t errlen);

/* The value of metadata key (matched without regard to case, as ttrpc's MD does), the
 * first if several; NULL if none. */
const char *ttrpc_metadata_get(const Ttrpc__Request *req, const char *key);

/* A whole frame (header and msg packed), malloc'd into *out (*outlen bytes). Returns 0, or
 * -1 with err set: msg packs to more than TTRPC_MESSAGE_MAX, or no memory. */
int ttrpc_frame_message(uint32_t stream_id, enum ttrpc_type type, const ProtobufCMessage *msg,
			uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* A request frame: service, method, the packed payload (len bytes), timeout_nano (0: none)
 * and npairs metadata pairs (keys[i], values[i]). As ttrpc_frame_message. */
int ttrpc_frame_request(uint32_t stream_id, const char *service, const char *method,
			const uint8_t *payload, size_t len, int64_t timeout_nano,
			const char *const *keys, const char *const *values, size_t npairs,
			uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* A response frame: OK with payload (len bytes, possibly 0), or, for code != TTRPC_OK, a
 * status with message and no payload. A payload that would make the frame longer than
 * TTRPC_MESSAGE_MAX is answered ResourceExhausted instead. Returns 0, or -1 (no memory). */
int ttrpc_frame_response(uint32_t stream_id, int code, const char *message, const uint8_t *payload,
			 size_t len, uint8_t **out, size_t *outlen);

/* A response frame carrying only a status (the answer to a frame too long, or to a
 * request that could not be read). As ttrpc_frame_response. */
int ttrpc_frame_status(uint32_t stream_id, int code, const char *message, uint8_t **out,
		       size_t *outlen);

/* ---- Serving: a table of methods ---------------------------------------------------- */

/* What a handler answers: either a payload (ttrpc_result_message) or a status
 * (ttrpc_result_status), or that it answers later (later = true: the server sends
 * ttrpc_frame_response for this stream id when it has the answer, e.g. Wait once the task
 * has ended; other requests are answered meanwhile). */
struct ttrpc_result {
	int code;	   /* enum ttrpc_code; TTRPC_OK: payload is the answer */
	char message[256]; /* the status's message if code != TTRPC_OK */
	uint8_t *payload;  /* malloc'd packed response message (NULL: empty) */
	size_t len;
	bool later;
};

/* The answer is msg, packed now (msg may live on the handler's stack). Returns 0, or -1
 * (no memory: the result is then an Internal status). */
int ttrpc_result_message(struct ttrpc_result *res, const ProtobufCMessage *msg);

/* The answer is a status: code and a formatted message. */
void ttrpc_result_status(struct ttrpc_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A call as the handler sees it: its stream id, the request (metadata, timeout), and its
 * payload unpacked as the method's input message (never NULL). */
struct ttrpc_call {
	uint32_t stream_id;
	const Ttrpc__Request *req;
	const ProtobufCMessage *in;
};

typedef void (*ttrpc_handler)(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res);

struct ttrpc_method {
	const char *service;			 /* e.g. "containerd.task.v2.Task" */
	const char *method;			 /* e.g. "Create" */
	const ProtobufCMessageDescriptor *input; /* what its payload unpacks to */
	ttrpc_handler fn;
};

struct ttrpc_table {
	const struct ttrpc_method *methods;
	size_t n;
	void *ctx; /* handed to every handler */
};

/* The method of table for (service, method), NULL if none. */
const struct ttrpc_method *ttrpc_table_find(const struct ttrpc_table *t, const char *service,
					    const char *method);

/* Answers one frame read from a client, as ttrpc's Go server does: a frame that is not a
 * request is ignored; a request whose stream id is even, or that does not decode or breaks
 * a limit, is answered InvalidArgument; an unknown service or method Unimplemented; a
 * payload that does not unpack as the method's input Internal; otherwise the handler's
 * result. *out is the response frame to send (malloc'd, *outlen bytes), or NULL when
 * nothing is to be sent now (ignored, or the handler answers later). Returns 0, or -1 (no
 * memory) with err set. */
int ttrpc_serve_frame(const struct ttrpc_table *t, const struct ttrpc_frame *frame, uint8_t **out,
		      size_t *outlen, char *err, size_t errlen);

#endif
