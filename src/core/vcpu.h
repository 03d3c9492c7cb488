/* vCPUs: their KVM objects, their threads (the KVM_RUN loop and exit dispatch to the bus),
 * and the run control of the VM's threads (pause, resume, stop, a vCPU held by a device or
 * stopped for the main loop). */
#ifndef HF_VCPU_H
#define HF_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/vm.h"

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_running;
	/* protected by vm->lock */
	bool parked;      /* waiting in vcpu_park() */
	bool waiting;     /* held by a device until it calls vcpu_wake (vcpu_wait) */
	bool loop_call;   /* stopped at an instruction for the main loop (vcpu_call_loop) */
	bool halted;      /* HF_PORT_HALT: stopped for good */
	uint64_t sleep_until; /* HF_PORT_SLEEP: CLOCK_MONOTONIC ns until which it sleeps */
};

/* Allocate vm->vcpus (vm->ncpus of them) and create each one's fd, run area and (if the host
 * offers it) learn the TSC frequency. Returns 0 or -1 (logged; vcpus_free frees what was
 * made). */
int vcpus_create(struct vm *vm);
/* Create vCPU c's fd and run area (a clone rebuilding its VM). Returns 0 or -1 (logged). */
int vcpu_create(struct vm *vm, struct vcpu *c);
/* Let go of this process's vCPU fds and run areas (in a fork child: the parent's). */
void vcpus_close(struct vm *vm);
/* vcpus_close, then free vm->vcpus. */
void vcpus_free(struct vm *vm);

/* Start one thread per vCPU (those not running). Returns 0 or -1 (the VM is asked to exit). */
int vcpus_start(struct vm *vm);
/* Stop and join vCPU threads: the VM is exiting. */
void vcpus_join(struct vm *vm);
/* Stop and join vCPU threads, completing exits in flight, without ending the VM (a VM
 * frozen into a template). */
void vcpus_stop(struct vm *vm);
/* Fork child: only the forking thread survives fork(), so the vCPU threads are the
 * parent's: forget them, and any vCPU's call to the parent's main loop (a vCPU a device
 * holds stays held). */
void vcpus_forget(struct vm *vm);
/* Main thread, vCPUs paused, their state loaded again from a snapshot (a reset): none of
 * them waits for a device, sleeps, is halted or has a call for the main loop any more. */
void vcpus_rewind(struct vm *vm);
/* Pause: every vCPU leaves KVM_RUN, completes any exit in flight and parks. Returns when
 * all are parked. vcpus_resume lets them run again. Main thread only. */
void vcpus_pause(struct vm *vm);
void vcpus_resume(struct vm *vm);

/* From a device's exit handler on vCPU c's thread: once this exit completes, c waits
 * (parked) until vcpu_wake(c), from any thread. */
void vcpu_wait(struct vcpu *c);
void vcpu_wake(struct vcpu *c);
/* From an exit handler on c's thread: once this exit completes, c sleeps (parked) until
 * CLOCK_MONOTONIC until_ns. */
void vcpu_sleep(struct vcpu *c, uint64_t until_ns);
/* From an exit handler on c's thread: c stops for good. Returns how many of the VM's vCPUs
 * have stopped so. */
unsigned vcpu_halt(struct vcpu *c);
/* From an exit handler on c's thread: c stops at this instruction for the main loop (a
 * fork point): it parks and wakes the main loop, which finds it with vcpu_loop_called and
 * lets it go with vcpu_loop_done. */
void vcpu_call_loop(struct vcpu *c);
/* A device asks for the VM to be taken back to its start (where vm->resettable): the
 * vCPU whose exit asked it does it on its thread (vm->reset_here), else the main loop
 * (vm_reset_asked tells it so, once); every device's reset hook runs. Any thread. */
void vm_ask_reset(struct vm *vm);
/* An idle worker (a device told its host program it is ready and the guest only waits for
 * it): its vCPUs park at their next exit and stay parked, costing the host nothing, until
 * vm_release_idle (the program wrote), a reset (vcpus_rewind) or the VM's end. Any thread,
 * no wait. */
void vm_hold_idle(struct vm *vm);
void vm_release_idle(struct vm *vm);
/* Main thread: c has stopped for the main loop and is parked. */
bool vcpu_loop_called(struct vcpu *c);
/* Main thread: c may go on (its call has been served). */
void vcpu_loop_done(struct vcpu *c);

/* The guest on vCPU c misbehaved: log it, stop the VM with HF_STATUS_CRASH. */
void vcpu_guest_error(struct vcpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set vCPU c's RAX now (any thread, while c is not in KVM_RUN). */
void vcpu_set_rax(struct vcpu *c, uint64_t value);

/* Install the signal handler that pulls vCPU threads out of KVM_RUN (once per process). */
void vcpu_install_kick_handler(void);

#endif
