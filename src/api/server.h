/* Control socket server: a Unix stream socket per VM at <run-dir>/<name>.sock speaking the
 * line protocol of api/proto.h. It only parses and answers; the VM work is done by the
 * handler the run loop supplies. */
#ifndef HF_SERVER_H
#define HF_SERVER_H

#include <limits.h>
#include <stddef.h>

#include "api/proto.h"
#include "util/loop.h"

struct server_client;

/* What a handler returns. SERVER_ANSWER: resp is sent now. SERVER_LATER: the request waits
 * (e.g. a fork, done by the run loop outside any callback); client c is read no further
 * until server_answer. */
enum { SERVER_ANSWER = 0, SERVER_LATER = 1 };
typedef int (*server_handler)(void *arg, struct server_client *c, const struct hf_request *req,
			      struct hf_response *resp);

struct server {
	struct loop *loop;
	struct watch listen;
	int spare; /* kept open to answer a client when no descriptor is left */
	char path[PATH_MAX];
	server_handler handler;
	void *arg;
	struct server_client *clients;
};

/* Bind the socket at path and start serving on loop. A path left by a VM that died
 * (nothing accepts on it) is replaced; a live one is an error ("already running").
 * Returns 0 or -1 (logged). */
int server_open(struct server *s, struct loop *l, const char *path, server_handler fn, void *arg);
/* Answer the request client c was left waiting on (SERVER_LATER) with resp (freed here),
 * then go on with what it sent since. */
void server_answer(struct server *s, struct server_client *c, struct hf_response *resp);
/* Stop serving and remove the socket file. */
void server_close(struct server *s);
/* Fork child: drop the inherited fds without touching the parent's socket file. */
void server_abandon(struct server *s);

#endif
