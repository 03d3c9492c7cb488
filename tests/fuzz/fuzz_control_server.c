/* libFuzzer target: the control server's byte stream (src/api/server.c) over a real Unix
 * socket and event loop. Each input is what one client sends before it stops writing; the
 * handler answers at once, except fork requests, which wait (SERVER_LATER) and are answered
 * after the loop has run, as the run loop does. Every line the server sends must be a whole
 * response, and once the client has gone the server must hold no client. */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/server.h"
#include "util/log.h"
#include "util/sock.h"

static struct loop loop;
static struct server srv;
static char path[128];
static struct server_client *waiting; /* a fork request left for later */

static int handler(void *arg, struct server_client *c, const struct hf_request *req,
		   struct hf_response *resp)
{
	(void)arg;
	if (req->cmd == CMD_FORK && !waiting) {
		waiting = c;
		return SERVER_LATER;
	}
	resp->ok = req->cmd != CMD_PAUSE; /* some failures too */
	if (!resp->ok)
		snprintf(resp->error, sizeof(resp->error), "cannot pause");
	if (req->cmd == CMD_STATUS)
		snprintf(resp->vm.state, sizeof(resp->vm.state), "running");
	return SERVER_ANSWER;
}

static void answer_waiting(void)
{
	if (!waiting)
		return;
	struct hf_response resp = {.ok = true, .nclones = 1};
	resp.clones = calloc(1, sizeof(*resp.clones));
	assert(resp.clones);
	snprintf(resp.clones[0].name, sizeof(resp.clones[0].name), "vm.1");
	struct server_client *c = waiting;
	waiting = NULL;
	server_answer(&srv, c, &resp);
}

/* Run the loop until it is idle, answering what waits. */
static void pump(void)
{
	struct pollfd p = {.fd = loop.epfd, .events = POLLIN};
	for (;;) {
		answer_waiting();
		if (poll(&p, 1, 0) <= 0)
			break;
		loop_once(&loop, 0);
	}
}

static void setup(void)
{
	char dir[] = "/tmp/hf-fuzz-server.XXXXXX";
	assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.sock", dir);
	log_set_level(HF_LOG_ERROR); /* the server warns of what it refuses */
	assert(loop_init(&loop) == 0);
	assert(server_open(&srv, &loop, path, handler, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready++)
		setup();
	int fd = unix_connect(path, 0);
	assert(fd >= 0);
	pump(); /* accepted */
	size_t sent = 0;
	char *in = NULL;
	size_t inlen = 0, incap = 0;
	while (sent < size) {
		ssize_t w = send(fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			sent += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break; /* the server hung up (a request too long) */
		pump();
		for (;;) { /* read as we go: answers may be large */
			if (inlen + 65536 > incap) {
				incap = incap ? incap * 2 : 1 << 17;
				in = realloc(in, incap);
				assert(in);
			}
			ssize_t r = recv(fd, in + inlen, incap - inlen, MSG_DONTWAIT);
			if (r <= 0)
				break;
			inlen += (size_t)r;
		}
	}
	shutdown(fd, SHUT_WR);
	for (int idle = 0; idle < 3;) {
		pump();
		if (inlen + 65536 > incap) {
			incap = incap ? incap * 2 : 1 << 17;
			in = realloc(in, incap);
			assert(in);
		}
		ssize_t r = recv(fd, in + inlen, incap - inlen, MSG_DONTWAIT);
		if (r > 0)
			inlen += (size_t)r;
		else
			idle++;
	}
	/* Every whole line is a response. */
	for (size_t at = 0; at < inlen;) {
		char *nl = memchr(in + at, '\n', inlen - at);
		if (!nl)
			break;
		struct hf_response resp;
		char err[256];
		if (proto_parse_response(CMD_STOP, in + at, (size_t)(nl - (in + at)), &resp, err,
					 sizeof(err)) != 0) {
			fprintf(stderr, "not a response: %.*s (%s)\n", (int)(nl - (in + at)), in + at,
				err);
			abort();
		}
		proto_response_free(&resp);
		at = (size_t)(nl - in) + 1;
	}
	free(in);
	close(fd);
	pump();
	assert(!waiting && !srv.clients); /* the client is dropped, nothing waits */
	return 0;
}
