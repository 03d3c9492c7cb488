/* vCPUs: their KVM objects and threads (the KVM_RUN loop, exit dispatch, parking), and the
 * run control of the VM's vCPU threads. */
#include "core/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/seccomp.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/trace.h"

/* The signal that pulls a vCPU thread out of KVM_RUN. */
static int kick_signal(void)
{
	return SIGRTMIN;
}

static void kick_handler(int sig)
{
	(void)sig;
}

void vcpu_install_kick_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigaction(kick_signal(), &sa, NULL);
}

/* Why a vCPU must not run now (vm->lock held). */
static bool held(struct vcpu *c)
{
	struct vm *vm = c->vm;
	return vm->pause_req || vm->idle || c->loop_call || c->halted || c->waiting ||
	       (c->sleep_until && c->sleep_until > now_ns());
}

static bool must_park(struct vcpu *c)
{
	return held(c) || c->vm->exiting || c->vm->threads_stop;
}

/* A KVM_RUN with immediate_exit finishes an I/O instruction whose data userspace has just
 * supplied, without entering the guest, so the state captured or loaded next is consistent.
 * Leaves immediate_exit set. */
static void finish_exit(struct vcpu *c)
{
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(c->fd, KVM_RUN, 0) == 0 || (errno != EINTR && errno != EAGAIN))
		pr_debug("vCPU %u: completing run returned %s", c->index, strerror(errno));
}

/* Complete the exit in flight, then wait while the VM is paused. Returns true if the
 * vCPU thread must end. */
static bool vcpu_park(struct vcpu *c)
{
	struct vm *vm = c->vm;

	finish_exit(c);

	pthread_mutex_lock(&vm->lock);
	bool was_idle = vm->idle;
	c->parked = true;
	vm->nparked++;
	pthread_cond_broadcast(&vm->cond);
	if (c->loop_call)
		vm_notify(vm); /* stopped for the main loop (a fork point): it acts now */
	while (held(c) && !vm->exiting && !vm->threads_stop) {
		if (c->sleep_until && !vm->pause_req && !c->loop_call && !c->halted && !c->waiting) {
			struct timespec ts = {.tv_sec = (time_t)(c->sleep_until / 1000000000ull),
					      .tv_nsec = (long)(c->sleep_until % 1000000000ull)};
			pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
		} else {
			pthread_cond_wait(&vm->cond, &vm->lock);
		}
	}
	c->sleep_until = 0;
	c->parked = false;
	vm->nparked--;
	bool end = vm->exiting || vm->threads_stop;
	if (!end)
		__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	/* A guest with a paravirtual clock learns it was stopped by the host, not stuck (its
	 * lockup watchdogs stay quiet); others refuse, which is fine. */
	if (was_idle && !end && ioctl(c->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		pr_debug("vCPU %u: KVM_KVMCLOCK_CTRL: %s", c->index, strerror(errno));
	return end;
}

void vcpu_guest_error(struct vcpu *c, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vm_request_exit(c->vm, HF_STATUS_CRASH, "guest error on vCPU %u: %s", c->index, msg);
}

static void handle_io(struct vcpu *c)
{
	struct vm *vm = c->vm;
	struct kvm_run *run = c->run;
	uint16_t port = run->io.port;
	unsigned size = run->io.size;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	struct device *d = bus_find_port(&vm->bus, port);

	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (!d) {
			if (vm->strict_io) {
				vcpu_guest_error(c, "%s of unknown I/O port 0x%x (size %u)",
					       write ? "write" : "read", port, size);
				return;
			}
			if (!write)
				memset(data, 0xff, size);
			continue;
		}
		if (d->ops->pio(d, c, port, write, data, size) < 0)
			return;
	}
}

static void handle_mmio(struct vcpu *c)
{
	struct vm *vm = c->vm;
	struct kvm_run *run = c->run;
	struct device *d = bus_find_mmio(&vm->bus, run->mmio.phys_addr, run->mmio.len);

	if (d && run->mmio.len <= sizeof(run->mmio.data)) {
		d->ops->mmio(d, c, run->mmio.phys_addr, run->mmio.is_write, run->mmio.data,
			     run->mmio.len);
		return;
	}
	if (vm->strict_io) {
		vcpu_guest_error(c, "%s of %u bytes at address 0x%llx, outside guest RAM",
			       run->mmio.is_write ? "write" : "read", run->mmio.len,
			       (unsigned long long)run->mmio.phys_addr);
		return;
	}
	pr_debug("vCPU %u: ignored MMIO %s at 0x%llx", c->index, run->mmio.is_write ? "write" : "read",
		 (unsigned long long)run->mmio.phys_addr);
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
}

static unsigned long long guest_rip(struct vcpu *c)
{
	struct kvm_regs regs;
	if (ioctl(c->fd, KVM_GET_REGS, &regs) < 0)
		return 0;
	return regs.rip;
}

static void handle_exit(struct vcpu *c)
{
	struct vm *vm = c->vm;
	struct kvm_run *run = c->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(c);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(c);
		break;
	case KVM_EXIT_INTR:
		break;
	case KVM_EXIT_HLT:
		vcpu_guest_error(c, "halted with no interrupt source (rip 0x%llx)", guest_rip(c));
		break;
	case KVM_EXIT_SHUTDOWN:
		vcpu_guest_error(c, "triple fault (rip 0x%llx)", guest_rip(c));
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_guest_error(c, "KVM internal error, suberror %u%s (rip 0x%llx)",
			       run->internal.suberror,
			       run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				       ? " (instruction emulation failed)"
				       : "",
			       guest_rip(c));
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_guest_error(c, "VM entry failed, hardware reason 0x%llx",
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_exit(vm, 0, "guest shut down");
			break;
		case KVM_SYSTEM_EVENT_RESET:
			vm_request_exit(vm, HF_STATUS_RESET, "guest requested a reset");
			break;
		default:
			vcpu_guest_error(c, "system event %u", run->system_event.type);
		}
		break;
	default:
		vcpu_guest_error(c, "unexpected KVM exit reason %u", run->exit_reason);
	}
}

void vcpu_set_rax(struct vcpu *c, uint64_t value)
{
	struct kvm_regs regs;
	if (ioctl(c->fd, KVM_GET_REGS, &regs) == 0) {
		regs.rax = value;
		if (ioctl(c->fd, KVM_SET_REGS, &regs) == 0)
			return;
	}
	pr_err("cannot set RAX on vCPU %u: %s", c->index, strerror(errno));
}

/* The vCPU whose exit this thread handles now, if any. */
static __thread struct vcpu *in_exit;

void vm_ask_reset(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->reset_asked = true;
	pthread_mutex_unlock(&vm->lock);
	if (!(in_exit && in_exit->vm == vm && vm->reset_here && vm->ncpus == 1))
		vm_notify(vm);
}

/* A reset its exit asked for, on the vCPU's own thread: the exit completed first (as a
 * park does), no other thread woken. */
static void reset_here(struct vcpu *c)
{
	finish_exit(c);
	__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	c->vm->reset_here(c, c->vm->reset_here_arg); /* (must_park sees a pause asked since) */
}

static void *thread_main(void *arg)
{
	struct vcpu *c = arg;
	struct vm *vm = c->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	trace_point("vcpu-thread");
	if (seccomp_enter(SECCOMP_VCPU) < 0) {
		vm_request_exit(vm, HF_STATUS_ERROR, "vCPU %u has no seccomp filter", c->index);
		return NULL;
	}
	if (vm->first_run && !vm->first_run(c, vm->first_run_arg))
		return NULL;
	seccomp_test_hook(SECCOMP_VCPU, vm->clone_id != 0);

	for (;;) {
		pthread_mutex_lock(&vm->lock);
		bool park = must_park(c);
		/* A hold asked and lifted before this thread parked (an idle worker written to at
		 * once) leaves immediate_exit set: nothing wants it any more. (Who asks a park sets
		 * it under this lock, so none is lost.) */
		if (!park)
			__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&vm->lock);
		if (park) {
			if (vcpu_park(c))
				break;
			continue;
		}
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm_request_exit(vm, HF_STATUS_ERROR, "KVM_RUN on vCPU %u: %s", c->index,
					strerror(errno));
			continue;
		}
		in_exit = c;
		handle_exit(c);
		in_exit = NULL;
		if (vm->ncpus == 1 && vm->reset_here && __atomic_load_n(&vm->reset_asked, __ATOMIC_RELAXED) &&
		    vm_reset_asked(vm))
			reset_here(c);
	}
	return NULL;
}

/* ---- KVM objects ------------------------------------------------------------------------- */

int vcpu_create(struct vm *vm, struct vcpu *c)
{
	c->vm = vm;
	trace_point("vcpu-create");
	c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)c->index);
	if (c->fd < 0) {
		pr_err("KVM_CREATE_VCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	if (fcntl(c->fd, F_SETFD, FD_CLOEXEC) < 0)
		pr_debug("FD_CLOEXEC on vCPU fd: %s", strerror(errno));
	c->run = mmap(NULL, (size_t)vm->host->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->fd, 0);
	if (c->run == MAP_FAILED) {
		pr_err("mmap of vCPU %u run area: %s", c->index, strerror(errno));
		c->run = NULL;
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void vcpu_close(struct vcpu *c)
{
	if (c->run)
		munmap(c->run, (size_t)c->vm->host->vcpu_mmap_size);
	if (c->fd >= 0)
		close(c->fd);
	c->run = NULL;
	c->fd = -1;
}

int vcpus_create(struct vm *vm)
{
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		pr_err("out of memory");
		return -1;
	}
	for (unsigned i = 0; i < vm->ncpus; i++)
		vm->vcpus[i] = (struct vcpu){.vm = vm, .index = i, .fd = -1};
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vcpu_create(vm, &vm->vcpus[i]) < 0)
			return -1;
	if (vm->host->tsc_khz) {
		int khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
		vm->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
	}
	return 0;
}

void vcpus_close(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_close(&vm->vcpus[i]);
}

void vcpus_free(struct vm *vm)
{
	vcpus_close(vm);
	free(vm->vcpus);
	vm->vcpus = NULL;
}

/* ---- threads ----------------------------------------------------------------------------- */

int vcpus_start(struct vm *vm)
{
	sigset_t all, old;

	/* vCPU threads start with every signal blocked but the kick (vcpu_thread unblocks it),
	 * so process signals go to the main loop's signalfd. */
	sigfillset(&all);
	sigdelset(&all, SIGSYS); /* a blocked SIGSYS would kill without the seccomp report */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		if (c->thread_running)
			continue;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		int e = pthread_create(&c->thread, &attr, thread_main, c);
		pthread_attr_destroy(&attr);
		if (e) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			pr_err("cannot start vCPU %u thread: %s", i, strerror(e));
			vm_request_exit(vm, HF_STATUS_ERROR, "cannot start vCPU threads");
			return -1;
		}
		c->thread_running = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* Every vCPU's next (or current, once kicked) KVM_RUN returns at once, so that its thread
 * sees why it must park. vm->lock held. */
static void stop_runs(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].run)
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static void kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].thread_running)
			pthread_kill(vm->vcpus[i].thread, kick_signal());
}

static unsigned running_threads(struct vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->ncpus; i++)
		n += vm->vcpus[i].thread_running;
	return n;
}

static void end_threads(struct vm *vm, bool exiting)
{
	pthread_mutex_lock(&vm->lock);
	if (exiting)
		vm->exiting = true;
	vm->threads_stop = true;
	stop_runs(vm);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	kick_all(vm);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		if (c->thread_running) {
			pthread_join(c->thread, NULL);
			c->thread_running = false;
		}
	}
	pthread_mutex_lock(&vm->lock);
	vm->threads_stop = false;
	vm->nparked = 0;
	pthread_mutex_unlock(&vm->lock);
}

void vcpus_join(struct vm *vm)
{
	end_threads(vm, true);
}

void vcpus_stop(struct vm *vm)
{
	end_threads(vm, false);
}

void vcpus_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = true;
	stop_runs(vm);
	pthread_mutex_unlock(&vm->lock);
	kick_all(vm);
	pthread_mutex_lock(&vm->lock);
	while (vm->nparked < running_threads(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

void vm_hold_idle(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->idle = true;
	stop_runs(vm);
	pthread_mutex_unlock(&vm->lock);
	kick_all(vm);
}

void vm_release_idle(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->idle) {
		vm->idle = false;
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

void vcpus_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vcpus_forget(struct vm *vm)
{
	vm->nparked = 0;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		c->thread_running = c->parked = c->loop_call = false;
	}
}

void vcpus_rewind(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->idle = false;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		c->waiting = c->halted = c->loop_call = false;
		c->sleep_until = 0;
	}
	pthread_mutex_unlock(&vm->lock);
}

/* ---- a vCPU held by a device, or stopped for the main loop -------------------------------- */

void vcpu_wait(struct vcpu *c)
{
	pthread_mutex_lock(&c->vm->lock);
	c->waiting = true;
	pthread_mutex_unlock(&c->vm->lock);
}

void vcpu_wake(struct vcpu *c)
{
	struct vm *vm = c->vm;
	pthread_mutex_lock(&vm->lock);
	c->waiting = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vcpu_sleep(struct vcpu *c, uint64_t until_ns)
{
	pthread_mutex_lock(&c->vm->lock);
	c->sleep_until = until_ns;
	pthread_mutex_unlock(&c->vm->lock);
}

unsigned vcpu_halt(struct vcpu *c)
{
	struct vm *vm = c->vm;
	unsigned halted = 0;
	pthread_mutex_lock(&vm->lock);
	c->halted = true;
	for (unsigned i = 0; i < vm->ncpus; i++)
		halted += vm->vcpus[i].halted;
	pthread_mutex_unlock(&vm->lock);
	return halted;
}

void vcpu_call_loop(struct vcpu *c)
{
	pthread_mutex_lock(&c->vm->lock);
	c->loop_call = true;
	pthread_mutex_unlock(&c->vm->lock);
}

bool vcpu_loop_called(struct vcpu *c)
{
	pthread_mutex_lock(&c->vm->lock);
	bool called = c->loop_call && c->parked;
	pthread_mutex_unlock(&c->vm->lock);
	return called;
}

void vcpu_loop_done(struct vcpu *c)
{
	struct vm *vm = c->vm;
	pthread_mutex_lock(&vm->lock);
	c->loop_call = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}
