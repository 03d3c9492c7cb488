/* A VM's status (see status.h). */
#include "vmm/status.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jail/jail.h"

/* running, paused, idle (a worker waiting for its next invocation, its vCPUs parked),
 * exiting, or template (frozen). vm->lock held. */
static const char *state_name(const struct vm *vm)
{
	if (vm->exiting)
		return "exiting";
	if (vm->frozen)
		return "template";
	if (vm->user_paused)
		return "paused";
	if (vm->idle)
		return "idle";
	return "running";
}

void vm_status(struct vm *vm, struct clones *cl, struct hf_vm_status *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", vm->cfg.name);
	pthread_mutex_lock(&vm->lock);
	snprintf(st->state, sizeof(st->state), "%s", state_name(vm));
	pthread_mutex_unlock(&vm->lock);
	snprintf(st->kind, sizeof(st->kind), "%s", vm->cfg.kind == VM_BARE ? "bare" : "linux");
	snprintf(st->console, sizeof(st->console), "%s", console_kind_name(vm->console.kind));
	snprintf(st->console_path, sizeof(st->console_path), "%s", vm->console.path);
	st->pid = (int)jail_host_pid(getpid()); /* a jail has a PID namespace of its own */
	st->cpus = vm->ncpus;
	st->clone_id = vm->clone_id;
	st->mem_bytes = vm->mem.ram_size;
	st->uptime_ms = (now_ns() - vm->start_ns) / 1000000;
	struct proc_memory m;
	if (proc_memory(0, &m) == 0) {
		st->rss_kb = m.rss_kb;
		st->pss_kb = m.pss_kb;
		st->private_kb = m.private_kb;
	}
	bus_status(&vm->bus, st);
	clone_status(cl, st);
}
