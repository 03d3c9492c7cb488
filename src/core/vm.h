/* A virtual machine: its configuration, KVM objects, guest RAM, vCPUs, devices and run
 * state. One process runs one VM; a clone is a forked process running its own VM. */
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
#include "util/admit.h"
#include "util/rundir.h"
#include "util/util.h"

enum vm_kind { VM_BARE, VM_LINUX };

struct device_option;
#define VM_MAX_DEVICE_ARGS 32

struct vm_config {
	char name[HF_NAME_MAX + 1];
	enum vm_kind kind;
	uint64_t ram_size;
	unsigned ncpus;
	const char *image;   /* bare ELF, bzImage or vmlinux */
	const char *initrd;  /* Linux only, may be NULL */
	const char *cmdline; /* may be NULL */
	enum console_kind console;
	const char *console_path;
	enum console_kind clone_console; /* console of clones made by this VM */
	uint64_t timeout_ns;             /* 0: none */
	bool huge;                       /* transparent huge pages for guest RAM */
	bool host_flags;                 /* append the host's Linux flags to the cmdline */
	bool no_seccomp;                 /* --no-seccomp: no system call filters (debugging) */
	const char *run_dir;             /* control sockets and clone consoles */
	const char *marks_path;          /* HF_PORT_MARK log, NULL: off */
	bool template;                   /* freeze as a template at the first fork point, */
	unsigned template_pool;          /* keeping this many warm clones (0: none) */
	struct clone_limits limits;      /* admission of clones (clone/fork.c) */
	int cow_prefault;                /* enum prefault_mode (clone/prefault.h) */
	bool cow_prefault_sync;          /* clones prefault before their guest runs */
	int (*before_guest)(void);       /* once the board is built, before the VM runs (the
	                                    jail drops privileges); NULL: none. 0 or -1 */
	unsigned ndevices;               /* devices given on the command line, in order */
	struct {
		const struct device_option *opt; /* devices/devices.h */
		void *arg;                       /* what opt->parse made of the argument */
	} devices[VM_MAX_DEVICE_ARGS];
};

struct vcpu_snapshot; /* clone/snapshot.h */

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_running;
	/* protected by vm->lock */
	bool parked;    /* waiting in vcpu_park() */
	bool self_park; /* parked on its own behalf (fork point) until the main loop resumes */
	bool halted;    /* HF_PORT_HALT: stopped for good */
	bool fork_pending; /* stopped at HF_PORT_FORK, waiting for the main loop */
	uint64_t sleep_until; /* HF_PORT_SLEEP: CLOCK_MONOTONIC ns until which it sleeps */
	bool io_wait; /* in a hypercall that waits for the host (HF_PORT_NEXT) until the device
	                 clears it and broadcasts vm->cond; kept by clones (they wait too) */
	struct vcpu_snapshot *snap; /* captured state, allocated at setup */
};

enum vm_state { VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_EXITING };

struct vm_snapshot;
struct mark_log;

struct vm {
	struct vm_config cfg;
	struct host *host;
	int vm_fd;
	struct guest_mem mem;
	unsigned ncpus;
	struct vcpu *vcpus;
	bool has_irqchip, has_pit;
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
	bool exiting;      /* the VM is stopping */
	bool threads_stop; /* vCPU threads must end (the VM goes on without them) */
	int exit_status;
	char exit_msg[256];
	int notify_fd;     /* eventfd: wakes the main loop (exit, fork point) */

	/* identity */
	unsigned clone_id;      /* 0: booted; N: this VM is <parent>.N */
	unsigned clones_made;   /* clones made from this VM so far */
	char parent[HF_NAME_MAX + 1];
	pid_t parent_pid;
	uint64_t start_ns;      /* CLOCK_MONOTONIC when this VM (or clone) started */
	uint64_t boot_ns;       /* when `run` started the original VM */

	struct vm_snapshot *snap; /* captured VM-wide state, allocated at setup */
	bool is_template;         /* frozen: no KVM VM, serves clones from its pool */
	int template_requester;   /* vCPU stopped at the fork point that froze it, or -1 */
	struct pool *pool;        /* template's warm clones (clone/fork.c) */
	int warm_fd;              /* warm clone: socket on which vCPU 0 awaits activation */
	void *prefault;           /* clone/prefault.c state */
	char net_tap[16];         /* host tap of the network card ("" if none) */
	struct mark_log *marks;
	int output_marked;        /* HF_MARK_FIRST_OUTPUT recorded */
	void *runloop;            /* core/runloop.c state */
};

/* Create the KVM VM, guest RAM and vCPUs for cfg (no image loaded, nothing running).
 * Returns 0 or -1 (logged, everything freed). */
int vm_create(struct vm *vm, struct host *h, const struct vm_config *cfg);
void vm_destroy(struct vm *vm);

/* Create the KVM side only (VM fd, TSS/identity map, irqchip/PIT if has_irqchip/has_pit,
 * memory slots). Used at boot and by a clone rebuilding its VM. */
int vm_kvm_setup(struct vm *vm);
/* Create vCPU index's fd, run area and CPUID. */
int vcpu_create(struct vm *vm, struct vcpu *c);
void vcpu_close(struct vcpu *c);
/* Let go of this process's KVM VM and vCPUs (fds and run areas); guest RAM stays. In a
 * fork child these are the parent's, which live on. */
void vm_kvm_close(struct vm *vm);

/* Start one thread per vCPU. Returns 0 or -1. */
int vm_start_vcpus(struct vm *vm);
/* Stop and join vCPU threads (used at exit). */
void vm_join_vcpus(struct vm *vm);
/* Stop and join vCPU threads, completing exits in flight, without ending the VM (a VM
 * frozen into a template). */
void vm_stop_vcpus(struct vm *vm);

/* Pause: every vCPU leaves KVM_RUN, completes any exit in flight and parks. Returns when
 * all are parked. resume lets them run again. Main thread only. */
void vm_pause_all(struct vm *vm);
void vm_resume_all(struct vm *vm);

/* Ask the VM to stop with status; the first request wins. Any thread. */
void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The guest misbehaved: log it, stop the VM with HF_STATUS_CRASH. */
void vm_guest_error(struct vm *vm, struct vcpu *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wake the main loop. */
void vm_notify(struct vm *vm);
/* (Re)initialise vm->lock and vm->cond (the cond runs on CLOCK_MONOTONIC). */
void vm_init_sync(struct vm *vm);

const char *vm_state_name(struct vm *vm);

/* Set vCPU c's RAX now (any thread, while c is not in KVM_RUN). */
void vcpu_set_rax(struct vcpu *c, uint64_t value);
/* The same, for a vCPU whose registers are still those restored from its snapshot: with
 * KVM_CAP_SYNC_REGS they go in with the next KVM_RUN, costing no ioctl. */
void vcpu_set_rax_on_entry(struct vcpu *c, uint64_t value);

/* vCPU thread body (core/vcpu.c). */
void *vcpu_thread(void *arg);
/* Kick signal used to pull vCPU threads out of KVM_RUN. */
int vcpu_kick_signal(void);
void vcpu_install_kick_handler(void);

#endif
