/* The hypercall ports of include/hyperfork/abi.h: console, exit, fork point, clone id,
 * timestamps, vCPU halt and sleep, console buffers, host randomness. (The function ports
 * are the function device's, devices/fnport.c.) */
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/marks.h"
#include "core/vcpu.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "util/log.h"

static uint32_t load32(const uint8_t *d)
{
	uint32_t v;
	memcpy(&v, d, 4);
	return v;
}

static int hfport_pio(struct device *d, struct vcpu *c, uint16_t port, bool write,
		      uint8_t *data, unsigned size)
{
	struct vm *vm = d->vm;
	unsigned want = 4;
	bool want_write = true;

	switch (port) {
	case HF_PORT_CONSOLE:
	case HF_PORT_HALT:
		want = 1;
		break;
	case HF_PORT_FORK:
	case HF_PORT_CLONE_ID:
	case HF_PORT_RANDOM:
		want_write = false;
		break;
	}
	if (size != want || write != want_write) {
		vcpu_guest_error(c, "bad access to hypercall port 0x%x: %s of %u bytes", port,
			       write ? "write" : "read", size);
		return -1;
	}
	switch (port) {
	case HF_PORT_CONSOLE:
		console_write(&vm->console, data, 1);
		return 0;
	case HF_PORT_EXIT: {
		uint32_t code = load32(data);
		if (code > HF_EXIT_CODE_MAX) {
			vcpu_guest_error(c, "exit code %u out of range 0..%d", code,
				       HF_EXIT_CODE_MAX);
			return -1;
		}
		vm_request_exit(vm, (int)code, "guest exited with code %u", code);
		return 0;
	}
	case HF_PORT_FORK:
		/* The value returned here is the original's (0); a clone's vCPU gets its number
		 * written into RAX when the clone restores it. The vCPU parks at once so the
		 * fork happens exactly at this instruction. */
		memset(data, 0, 4);
		vcpu_call_loop(c); /* the vCPU parks next and wakes the main loop */
		return 0;
	case HF_PORT_CLONE_ID:
		memcpy(data, &vm->clone_id, 4);
		return 0;
	case HF_PORT_MARK:
		marks_record(d->priv, load32(data)); /* the marks log, or NULL */
		return 0;
	case HF_PORT_RANDOM:
		/* Straight from the kernel each time: bytes kept in VMM memory would be
		 * inherited by every clone made from this process. */
		if (getrandom(data, 4, 0) != 4) {
			vcpu_guest_error(c, "host random number generator failed: %s",
				       strerror(errno));
			return -1;
		}
		return 0;
	case HF_PORT_SLEEP: {
		uint32_t us = load32(data);
		if (us > HF_SLEEP_MAX) {
			vcpu_guest_error(c, "sleep of %u us is longer than %u", us, HF_SLEEP_MAX);
			return -1;
		}
		vcpu_sleep(c, now_ns() + (uint64_t)us * 1000);
		return 0;
	}
	case HF_PORT_WRITE: {
		const struct hf_buf *b = guest_struct(vm, c, "console write", "descriptor",
						      load32(data), sizeof(*b));
		if (!b)
			return -1;
		struct hf_buf desc = *b; /* read once: the guest may change it meanwhile */
		const void *p = guest_buffer(vm, c, "console write", "buffer", desc.addr,
					     desc.len, HF_WRITE_MAX);
		if (!p)
			return -1;
		console_write(&vm->console, p, (size_t)desc.len);
		return 0;
	}
	case HF_PORT_HALT: {
		if (vcpu_halt(c) == vm->ncpus) {
			vcpu_guest_error(c, "every vCPU has halted: nothing left to run");
			return -1;
		}
		return 0;
	}
	}
	return -1;
}

const void *guest_struct(struct vm *vm, struct vcpu *c, const char *what, const char *kind,
			 uint32_t at, size_t len)
{
	const void *p = mem_ptr(&vm->mem, at, len);
	if (!p)
		vcpu_guest_error(c, "%s: %s at 0x%x is outside guest RAM", what, kind, at);
	return p;
}

const void *guest_buffer(struct vm *vm, struct vcpu *c, const char *what, const char *kind,
			 uint64_t addr, uint64_t len, uint64_t max)
{
	const void *p = len <= max ? mem_ptr(&vm->mem, addr, len) : NULL;
	if (!p)
		vcpu_guest_error(c, "%s: %s 0x%llx+%llu is outside guest RAM or longer than %llu "
			       "bytes", what, kind, (unsigned long long)addr,
			       (unsigned long long)len, (unsigned long long)max);
	return p;
}

static void hfport_destroy(struct device *d)
{
	free(d);
}

static const struct device_ops hfport_ops = {
	.name = "hypercall",
	.pio = hfport_pio,
	.destroy = hfport_destroy,
};

int hfport_add(struct vm *vm, struct marks *marks)
{
	struct device *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	*d = (struct device){.ops = &hfport_ops, .vm = vm, .port_base = HF_PORT_BASE,
			     .port_count = HF_PORT_RANDOM - HF_PORT_BASE + 1, .priv = marks};
	if (bus_add(&vm->bus, d) < 0) {
		free(d);
		return -1;
	}
	return 0;
}
