/* libFuzzer target: `hyperfork serve`'s HTTP side (src/serve/http.c on libmicrohttpd) over a
 * real TCP connection. Each input is what one client sends before it stops writing. The
 * server has one function whose initialisation failed, so that no input can start a VM:
 * invocations reach every check up to the function's state (404, 405, 400, 413, DryRun 204,
 * 409), and /metrics and /health are answered; the management API answers too, its layers
 * included (a function it would make cannot be started: nothing ticks the table, and serve's
 * run directory does not exist). Whatever comes back must be HTTP. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/config.h"
#include "serve/function.h"
#include "serve/http.h"
#include "serve/manage.h"
#include "serve/table.h"
#include "util/log.h"
#include "util/rundir.h"

static struct serve_config config;
static struct fn_table table;
static struct manage manage;
static struct serve_http h = {.table = &table, .manage = &manage};
static struct sockaddr_in addr;

static char state[] = "/tmp/hf-fuzz-state.XXXXXX";

static void remove_state(void)
{
	remove_tree(state);
}

static void setup(void)
{
	static const char cfg[] = "{\"functions\":[{\"name\":\"f\",\"kernel\":\"/nonexistent/k\","
				  "\"initrd\":\"/nonexistent/i\",\"concurrency\":2}]}";
	char err[256];
	log_set_level(HF_LOG_ERROR);
	assert(serve_config_parse(cfg, strlen(cfg), "/", &config, err, sizeof(err)) == 0);
	table_init(&table, "/nonexistent", "/nonexistent", 0, false, -1, -1);
	struct fn_slot *s = &table.slots[0];
	s->cfg = config.fns[0];
	s->state = SLOT_LIVE;
	s->from_file = true;
	struct function *f = &s->fn;
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->warm_lock, NULL);
	f->cfg = &s->cfg;
	f->run_dir = "/nonexistent";
	f->state = FN_FAILED;
	snprintf(f->why, sizeof(f->why), "its init failed");
	assert(mkdtemp(state));
	atexit(remove_state);
	assert(manage_open(&manage, MANAGE_CODE_STORAGE, &table, state, "/nonexistent/k", "/nonexistent/i", err,
			   sizeof(err)) == 0);
	h.listen.sin_family = AF_INET; /* 127.0.0.1, any free port */
	h.listen.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert(serve_http_start(&h) == 0);
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(h.daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert(i && i->port);
	addr = h.listen;
	addr.sin_port = htons(i->port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready++)
		setup();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert(fd >= 0);
	/* The harness's own limits are waited out: thousands of connections a second run this
	 * machine out of local ports (each waits out TIME_WAIT), and libFuzzer's timer
	 * interrupts a connect that waits for a busy server's backlog (it goes on: EALREADY,
	 * then EISCONN). Anything else (the server refusing, or gone) is a finding. */
	int tries = 0;
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EISCONN) {
		if ((errno != EADDRNOTAVAIL && errno != EINTR && errno != EALREADY) || ++tries > 1000) {
			fprintf(stderr, "cannot connect to serve: %s\n", strerror(errno));
			abort();
		}
		usleep(10 * 1000);
	}
	for (size_t sent = 0; sent < size;) {
		ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server closed: it may, on garbage */
		sent += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	char buf[65536];
	size_t got = 0;
	for (;;) { /* until the server closes, or 2 s of silence (a request it still waits on) */
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0)
			break;
		ssize_t r = recv(fd, buf + (got < 16 ? got : 16), got < 16 ? 16 - got : sizeof(buf) - 16,
				 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got >= 9 && memcmp(buf, "HTTP/1.", 7) != 0) {
		fprintf(stderr, "not HTTP: %.16s\n", buf);
		abort();
	}
	close(fd);
	return 0;
}
