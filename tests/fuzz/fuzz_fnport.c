/* libFuzzer target: the function device (src/devices/fnport.c) reading what a client sends
 * on the VM's .fn socket (lambda.h's INVOKE line, client context and payload), over real guest
 * RAM, a real Unix socket and a real event loop. A well-behaved guest waits in HF_PORT_NEXT;
 * what the client sent must either be refused (no invocation delivered, nothing answered) or
 * delivered within the guest's buffer, in which case the guest's answer must reach the
 * client as "RESPONSE 2\nok". The VM can be reset, so a client may say WORKER first: it is
 * then told READY (or REFUSED, a second time) before anything else. The guest is never
 * blamed for the client's bytes. */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/loop.h"
#include "core/vcpu.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "util/log.h"

#define RAM (8 * MiB)
#define INV 0x10000u    /* struct hf_invocation */
#define ANS 0x11000u    /* struct hf_buf */
#define PAY 0x100000ull /* payload buffer */
#define CAP (64 * 1024) /* its size */
#define BODY 0x400000ull

static char dir[64] = "/tmp/hf-fuzz-fn.XXXXXX", path[128];

struct fixture {
	struct vm vm;
	struct vcpu cpu;
	struct device *dev;
	struct loop loop;
};

static void *gp(struct fixture *f, uint64_t gpa)
{
	return mem_ptr(&f->vm.mem, gpa, 1);
}

static void setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	mem_layout(&f->vm.mem, RAM, 0);
	assert(mem_map(&f->vm.mem, false) == 0);
	vm_init_sync(&f->vm);
	f->vm.vm_fd = f->vm.notify_fd = -1;
	f->vm.resettable = true;
	f->vm.ncpus = 1;
	f->vm.vcpus = &f->cpu;
	f->cpu = (struct vcpu){.vm = &f->vm, .index = 0, .fd = -1};
	snprintf(f->vm.cfg.name, sizeof(f->vm.cfg.name), "f");
	f->vm.cfg.run_dir = dir;
	char err[128];
	void *a = fnport_option.parse("", err, sizeof(err));
	assert(a && fnport_option.add(&f->vm, a) == 0);
	free(a);
	assert(loop_init(&f->loop) == 0);
	f->dev = f->vm.bus.devices[0];
	assert(f->dev->ops->attach(f->dev, &f->loop) == 0);
}

static void teardown(struct fixture *f)
{
	f->dev->ops->destroy(f->dev);
	loop_close(&f->loop);
	mem_unmap(&f->vm.mem);
}

static void pump(struct fixture *f)
{
	struct pollfd p = {.fd = f->loop.epfd, .events = POLLIN};
	for (int i = 0; i < 64 && poll(&p, 1, 0) > 0; i++)
		loop_once(&f->loop, 0);
}

static int port(struct fixture *f, uint16_t p, uint32_t value)
{
	return f->dev->ops->pio(f->dev, &f->cpu, p, true, (uint8_t *)&value, 4);
}

/* What a worker is told before an answer: READY lines, a REFUSED one. */
static int worker_lines(const char *s)
{
	while (*s) {
		const char *nl = strchr(s, '\n');
		if (!nl || (strncmp(s, "READY 0\n", 8) && strncmp(s, "REFUSED ", 8)))
			return 0;
		s = nl + 1;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fixture f;
	static int ready;
	if (!ready++) {
		log_set_level(HF_LOG_ERROR);
		assert(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/f.fn", dir);
	}
	setup(&f);
	struct hf_invocation *inv = gp(&f, INV);
	memset(inv, 0xee, sizeof(*inv));
	inv->buf = PAY;
	inv->cap = CAP;
	assert(port(&f, HF_PORT_NEXT, INV) == 0 && f.cpu.waiting); /* the guest waits */

	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	for (size_t sent = 0; sent < size;) {
		ssize_t w = send(fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			sent += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break; /* refused and closed */
		pump(&f);
	}
	shutdown(fd, SHUT_WR);
	pump(&f);
	assert(!f.vm.exiting); /* nothing the client sends is the guest's fault */

	char buf[256];
	ssize_t n;
	if (!f.cpu.waiting) { /* delivered: a whole invocation within the guest's buffer */
		assert(inv->status == 0 && inv->len <= CAP);
		assert(memchr(inv->request_id, 0, sizeof(inv->request_id)));
		memcpy(gp(&f, BODY), "ok", 2);
		*(struct hf_buf *)gp(&f, ANS) = (struct hf_buf){.addr = BODY, .len = 2};
		assert(port(&f, HF_PORT_RESPOND, ANS) == 0 && !f.vm.exiting);
		pump(&f);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		n = 0;
		while (poll(&p, 1, 1000) > 0) {
			ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - (size_t)n, MSG_DONTWAIT);
			if (r <= 0)
				break;
			n += r;
			if (n >= 13 && !memcmp(buf + n - 13, "RESPONSE 2\nok", 13))
				break;
		}
		assert(n >= 13 && !memcmp(buf + n - 13, "RESPONSE 2\nok", 13));
		buf[n - 13] = 0;
		assert(worker_lines(buf));
	} else { /* refused or incomplete: no answer, but a worker's READY or REFUSED */
		n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		buf[n > 0 ? n : 0] = 0;
		assert(worker_lines(buf));
	}
	close(fd);
	pump(&f);
	teardown(&f);
	return 0;
}
