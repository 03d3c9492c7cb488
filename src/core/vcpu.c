/* vCPU threads: the KVM_RUN loop, exit dispatch, and parking for pause and fork. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "clone/fork.h"
#include "clone/snapshot.h"
#include "core/seccomp.h"
#include "core/vm.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/trace.h"

int vcpu_kick_signal(void)
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
	sigaction(vcpu_kick_signal(), &sa, NULL);
}

/* Why a vCPU must not run now (vm->lock held). */
static bool held(struct vcpu *c)
{
	struct vm *vm = c->vm;
	return vm->pause_req || c->self_park || c->halted || c->io_wait ||
	       (c->sleep_until && c->sleep_until > now_ns());
}

static bool must_park(struct vcpu *c)
{
	return held(c) || c->vm->exiting || c->vm->threads_stop;
}

/* Complete the exit in flight, then wait while the VM is paused. Returns true if the
 * vCPU thread must end. */
static bool vcpu_park(struct vcpu *c)
{
	struct vm *vm = c->vm;

	/* A KVM_RUN with immediate_exit finishes an I/O instruction whose data userspace has
	 * just supplied, without entering the guest, so the captured state is consistent. */
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(c->fd, KVM_RUN, 0) == 0 || (errno != EINTR && errno != EAGAIN))
		pr_debug("vCPU %u: completing run returned %s", c->index, strerror(errno));

	pthread_mutex_lock(&vm->lock);
	c->parked = true;
	vm->nparked++;
	pthread_cond_broadcast(&vm->cond);
	if (c->fork_pending)
		vm_notify(vm); /* stopped at a fork point: the main loop clones the VM now */
	while (held(c) && !vm->exiting && !vm->threads_stop) {
		if (c->sleep_until && !vm->pause_req && !c->self_park && !c->halted && !c->io_wait) {
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
	return end;
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
				vm_guest_error(vm, c, "%s of unknown I/O port 0x%x (size %u)",
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
		vm_guest_error(vm, c, "%s of %u bytes at address 0x%llx, outside guest RAM",
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
		vm_guest_error(vm, c, "halted with no interrupt source (rip 0x%llx)", guest_rip(c));
		break;
	case KVM_EXIT_SHUTDOWN:
		vm_guest_error(vm, c, "triple fault (rip 0x%llx)", guest_rip(c));
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_guest_error(vm, c, "KVM internal error, suberror %u%s (rip 0x%llx)",
			       run->internal.suberror,
			       run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				       ? " (instruction emulation failed)"
				       : "",
			       guest_rip(c));
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vm_guest_error(vm, c, "VM entry failed, hardware reason 0x%llx",
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
			vm_guest_error(vm, c, "system event %u", run->system_event.type);
		}
		break;
	default:
		vm_guest_error(vm, c, "unexpected KVM exit reason %u", run->exit_reason);
	}
}

void vcpu_set_rax_on_entry(struct vcpu *c, uint64_t value)
{
	if (c->vm->host->sync_regs) {
		/* Handed to KVM with the next KVM_RUN: no ioctl of its own. */
		c->run->s.regs.regs = c->snap->regs;
		c->run->s.regs.regs.rax = value;
		c->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		return;
	}
	vcpu_set_rax(c, value);
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

void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vm *vm = c->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	trace_point("vcpu-thread");
	if (seccomp_enter(SECCOMP_VCPU) < 0) {
		vm_request_exit(vm, HF_STATUS_ERROR, "vCPU %u has no seccomp filter", c->index);
		return NULL;
	}
	if (c->index == 0 && vm->warm_fd >= 0 && !clone_warm_activate(c))
		return NULL;
	seccomp_test_hook(SECCOMP_VCPU, vm->clone_id != 0);

	for (;;) {
		pthread_mutex_lock(&vm->lock);
		bool park = must_park(c);
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
		handle_exit(c);
	}
	return NULL;
}
