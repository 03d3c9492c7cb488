/* A virtual machine: KVM VM and vCPU creation, memory slots, run-state control (pause,
 * resume, exit requests). */
#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clone/snapshot.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/trace.h"

/* Where KVM may put its private pages on hosts that need them (Intel without unrestricted
 * guest): the top of the 32-bit space, inside the MMIO hole Linux guests have anyway. */
#define KVM_TSS_ADDR 0xfffbd000ull
#define KVM_IDMAP_ADDR 0xfffbc000ull

int vm_kvm_setup(struct vm *vm)
{
	int kvm = vm->host->kvm_fd;

	trace_point("kvm-create-vm");
	vm->vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	trace_point("kvm-created-vm");
	if (vm->vm_fd < 0) {
		pr_err("KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	if (fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC) < 0)
		pr_debug("FD_CLOEXEC on VM fd: %s", strerror(errno));
	/* Only when guest RAM stays clear of these pages (always true with the 3-4 GiB hole). */
	if (mem_top(&vm->mem) <= KVM_IDMAP_ADDR || vm->mem.nregions > 1) {
		if (vm->host->set_identity_map) {
			uint64_t a = KVM_IDMAP_ADDR;
			if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a) < 0)
				pr_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		}
		if (vm->host->set_tss_addr && ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
			pr_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	}
	if (vm->has_irqchip && ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		pr_err("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		goto fail;
	}
	if (vm->has_pit) {
		struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
		if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
			pr_err("KVM_CREATE_PIT2: %s", strerror(errno));
			goto fail;
		}
	}
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		struct mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};
		trace_point("kvm-memslot");
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
			pr_err("KVM_SET_USER_MEMORY_REGION slot %u (0x%llx+0x%llx): %s", i,
			       (unsigned long long)r->gpa, (unsigned long long)r->size,
			       strerror(errno));
			goto fail;
		}
	}
	trace_point("kvm-memslot-done");
	return 0;
fail:
	close(vm->vm_fd);
	vm->vm_fd = -1;
	return -1;
}

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

void vcpu_close(struct vcpu *c)
{
	if (c->run)
		munmap(c->run, (size_t)c->vm->host->vcpu_mmap_size);
	if (c->fd >= 0)
		close(c->fd);
	c->run = NULL;
	c->fd = -1;
}

static int validate_config(const struct host *h, const struct vm_config *cfg)
{
	uint64_t min = cfg->kind == VM_BARE ? 2 * MiB : 32 * MiB;
	uint64_t max = h->host_ram ? h->host_ram : 64 * GiB;
	uint64_t addr_max = (1ull << h->phys_bits) - 1 * GiB; /* room for the 32-bit hole */

	if (addr_max < max)
		max = addr_max;
	if (cfg->ram_size < min || cfg->ram_size % (4 * KiB)) {
		pr_err("--mem %llu bytes: a %s guest needs at least %llu MiB, in whole 4 KiB pages",
		       (unsigned long long)cfg->ram_size, cfg->kind == VM_BARE ? "bare" : "Linux",
		       (unsigned long long)(min / MiB));
		return -1;
	}
	if (cfg->ram_size > max) {
		pr_err("--mem %llu MiB: more than this host can give a guest (%llu MiB)",
		       (unsigned long long)(cfg->ram_size / MiB), (unsigned long long)(max / MiB));
		return -1;
	}
	unsigned maxcpus = h->max_vcpus < 64 ? (unsigned)h->max_vcpus : 64;
	if (cfg->ncpus < 1 || cfg->ncpus > maxcpus) {
		pr_err("--cpus %u: must be 1..%u on this host", cfg->ncpus, maxcpus);
		return -1;
	}
	return 0;
}

int vm_create(struct vm *vm, struct host *h, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->host = h;
	vm->vm_fd = vm->notify_fd = -1;
	vm->template_requester = -1;
	vm->warm_fd = -1;
	vm->ncpus = cfg->ncpus;
	vm->strict_io = cfg->kind == VM_BARE;
	vm->start_ns = vm->boot_ns = now_ns();
	vm_init_sync(vm);
	if (validate_config(h, cfg) < 0)
		return -1;
	if (cfg->kind == VM_LINUX) {
		if (!h->irqchip) {
			pr_err("Linux guests need an in-kernel irqchip (KVM_CAP_IRQCHIP)");
			return -1;
		}
		vm->has_irqchip = true;
		vm->has_pit = h->pit2;
	}
	/* Linux guests get the usual 3-4 GiB hole for the LAPIC/IOAPIC and KVM's pages. */
	mem_layout(&vm->mem, cfg->ram_size, cfg->kind == VM_LINUX ? 3 * GiB : 0);
	if (mem_map(&vm->mem, cfg->huge) < 0)
		return -1;
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	vm->snap = snapshot_vm_alloc(vm);
	if (!vm->vcpus || !vm->snap) {
		pr_err("out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		vm->vcpus[i].fd = -1;
		vm->vcpus[i].index = i;
		vm->vcpus[i].vm = vm;
	}
	vm->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->notify_fd < 0) {
		pr_err("eventfd: %s", strerror(errno));
		goto fail;
	}
	if (vm_kvm_setup(vm) < 0)
		goto fail;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vcpu_create(vm, &vm->vcpus[i]) < 0)
			goto fail;
		vm->vcpus[i].snap = snapshot_vcpu_alloc(vm);
		if (!vm->vcpus[i].snap) {
			pr_err("out of memory");
			goto fail;
		}
	}
	if (h->tsc_khz) {
		int khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
		vm->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
	}
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

void vm_kvm_close(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
		if (vm->vcpus[i].vm)
			vcpu_close(&vm->vcpus[i]);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
}

void vm_destroy(struct vm *vm)
{
	vm_kvm_close(vm);
	for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
		snapshot_vcpu_free(vm->vcpus[i].snap);
	free(vm->vcpus);
	vm->vcpus = NULL;
	bus_destroy(&vm->bus);
	snapshot_vm_free(vm->snap);
	vm->snap = NULL;
	if (vm->notify_fd >= 0)
		close(vm->notify_fd);
	vm->notify_fd = -1;
	mem_unmap(&vm->mem);
}

int vm_start_vcpus(struct vm *vm)
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
		int e = pthread_create(&c->thread, &attr, vcpu_thread, c);
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

static void kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].thread_running)
			pthread_kill(vm->vcpus[i].thread, vcpu_kick_signal());
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
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].run)
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
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

void vm_join_vcpus(struct vm *vm)
{
	end_threads(vm, true);
}

void vm_stop_vcpus(struct vm *vm)
{
	end_threads(vm, false);
}

void vm_pause_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = true;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].run)
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	kick_all(vm);
	pthread_mutex_lock(&vm->lock);
	while (vm->nparked < running_threads(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

void vm_resume_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_init_sync(struct vm *vm)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, &a);
	pthread_condattr_destroy(&a);
}

void vm_notify(struct vm *vm)
{
	uint64_t one = 1;
	ssize_t w = write(vm->notify_fd, &one, sizeof(one));
	(void)w;
}

static void request_exit(struct vm *vm, int status, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->exiting) {
		vm->exiting = true;
		vm->exit_status = status;
		vsnprintf(vm->exit_msg, sizeof(vm->exit_msg), fmt, ap);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	vm_notify(vm);
}

void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	request_exit(vm, status, fmt, ap);
	va_end(ap);
}

void vm_guest_error(struct vm *vm, struct vcpu *c, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c)
		vm_request_exit(vm, HF_STATUS_CRASH, "guest error on vCPU %u: %s", c->index, msg);
	else
		vm_request_exit(vm, HF_STATUS_CRASH, "guest error: %s", msg);
}

const char *vm_state_name(struct vm *vm)
{
	if (vm->exiting)
		return "exiting";
	if (vm->is_template)
		return "template";
	if (vm->user_paused)
		return "paused";
	return "running";
}
