/* A virtual machine: its configuration, KVM VM, guest RAM, devices, console and run state
 * (core/vcpu.h has its vCPUs). One process runs one VM; a clone is a forked process
 * running its own VM. What the layers above keep about a VM (its clones, a template's
 * pool, its snapshot, the main loop) is theirs, not here. */
#ifndef HF_VM_H
#define HF_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/bus.h"
#include "core/console.h"
#include "core/host.h"
#include "core/mem.h"
#include "util/rundir.h"
#include "util/util.h"

enum vm_kind { VM_BARE, VM_LINUX };

/* The machine: what `hyperfork run` describes. */
struct vm_config {
	char name[HF_NAME_MAX + 1];
	enum vm_kind kind;
	uint64_t ram_size;
	unsigned ncpus;
	bool huge;           /* transparent huge pages for guest RAM */
	bool ram_file;       /* guest RAM in a file, which a template's clones can go back to
	                        (core/mem.h: mem_map_file) */
	const char *image;   /* bare ELF, bzImage or vmlinux */
	const char *initrd;  /* Linux only, may be NULL */
	const char *cmdline; /* may be NULL */
	bool host_flags;     /* append the host's Linux flags to the cmdline */
	enum console_kind console;
	const char *console_path;
	const char *run_dir; /* its control socket, clone consoles, devices' sockets */
};

struct vcpu; /* core/vcpu.h */

struct vm {
	struct vm_config cfg;
	struct host *host;
	int vm_fd;
	struct guest_mem mem;
	unsigned ncpus;
	struct vcpu *vcpus; /* ncpus of them (vcpus_create) */
	bool has_irqchip, has_pit;
	bool log_dirty;     /* its memory slots log the pages the guest writes (vm_dirty_log) */
	struct bus bus;
	struct console console;
	bool strict_io; /* unknown ports are guest errors (bare guests) */
	uint64_t tsc_khz;

	/* run state, protected by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool pause_req;    /* vCPUs must park */
	unsigned nparked;  /* vCPUs parked */
	bool user_paused;  /* paused through the control socket */
	bool idle;         /* an idle worker: vCPUs held until its host program writes
	                      (vm_hold_idle) */
	bool exiting;      /* the VM is stopping */
	bool threads_stop; /* vCPU threads must end (the VM goes on without them) */
	bool frozen;       /* the guest never runs again in this process (a template: no KVM
	                      VM; RAM and devices kept for its clones): devices take no host
	                      traffic for it */
	int exit_status;
	char exit_msg[256];
	int notify_fd;     /* eventfd: wakes the main loop (exit, a vCPU's call) */
	bool resettable;   /* the layer above can take the VM back to its start (set there) */
	bool reset_asked;  /* a device asked for that (vm_ask_reset) */
	/* ... and, for a VM of one vCPU, how its vCPU does it on its own thread after the exit
	 * in which it was asked (set by that layer; NULL: the main loop does it). Called with
	 * the exit completed; returns false if the VM cannot go on. */
	bool (*reset_here)(struct vcpu *c, void *arg);
	void *reset_here_arg;

	/* identity: the name (cfg.name) and this */
	unsigned clone_id; /* 0: booted; N: this VM is clone N of its parent (the guest reads
	                      it at HF_PORT_CLONE_ID; devices name a clone's host side after it) */
	uint64_t start_ns; /* CLOCK_MONOTONIC when this VM (or clone) started */

	/* On each vCPU thread, before its first KVM_RUN (a warm clone's vCPU 0 waits there for
	 * its activation): set by whoever starts the threads; NULL: none. Returns false if the
	 * thread must end at once (the VM is then ending). */
	bool (*first_run)(struct vcpu *c, void *arg);
	void *first_run_arg;
};

/* Create the KVM VM and guest RAM for cfg (no vCPUs: vcpus_create; no image loaded,
 * nothing running). Returns 0 or -1 (logged, everything freed). */
int vm_create(struct vm *vm, struct host *h, const struct vm_config *cfg);
/* Free what vm_create made and the devices (the vCPUs first: vcpus_free). */
void vm_destroy(struct vm *vm);

/* Create the KVM side only (VM fd, TSS/identity map, irqchip/PIT if has_irqchip/has_pit,
 * memory slots). Used at boot and by a clone rebuilding its VM. */
int vm_kvm_setup(struct vm *vm);
/* The pages of memory slot slot (RAM region slot) the guest wrote since the last call (or
 * since the slot was made with vm->log_dirty), into bitmap (MEM_BITMAP_WORDS of the region's
 * size), and log afresh. Returns 0 or -1 (logged). */
int vm_dirty_log(struct vm *vm, unsigned slot, uint64_t *bitmap);
/* Let go of this process's KVM VM fd (the vCPUs first: vcpus_close); guest RAM stays. In
 * a fork child it is the parent's, which lives on. */
void vm_kvm_close(struct vm *vm);

/* Ask the VM to stop with status; the first request wins. Any thread. */
void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wake the main loop. */
void vm_notify(struct vm *vm);
/* Whether a reset was asked (core/vcpu.h: vm_ask_reset), once: the caller does it. */
bool vm_reset_asked(struct vm *vm);
/* (Re)initialise vm->lock and vm->cond (the cond runs on CLOCK_MONOTONIC). */
void vm_init_sync(struct vm *vm);

#endif
