/* A virtual machine: the KVM VM, guest RAM and its memory slots, exit requests and the
 * main loop's wakeup. */
#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

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
			.flags = vm->log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};
		trace_point("kvm-memslot");
		int rc = ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
		if (rc < 0 && slot.flags) {
			/* No dirty log here: whoever wanted one does without (vm->log_dirty). */
			pr_debug("KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES: %s",
				 strerror(errno));
			vm->log_dirty = false;
			slot.flags = 0;
			rc = ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
		}
		if (rc < 0) {
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
	vm->ncpus = cfg->ncpus;
	vm->strict_io = cfg->kind == VM_BARE;
	vm->start_ns = now_ns();
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
	if ((cfg->ram_file ? mem_map_file(&vm->mem, cfg->huge) : mem_map(&vm->mem, cfg->huge)) < 0)
		return -1;
	vm->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->notify_fd < 0) {
		pr_err("eventfd: %s", strerror(errno));
		goto fail;
	}
	if (vm_kvm_setup(vm) < 0)
		goto fail;
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

int vm_dirty_log(struct vm *vm, unsigned slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = {.slot = slot, .dirty_bitmap = bitmap};
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		pr_err("KVM_GET_DIRTY_LOG slot %u: %s", slot, strerror(errno));
		return -1;
	}
	return 0;
}

void vm_kvm_close(struct vm *vm)
{
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
}

void vm_destroy(struct vm *vm)
{
	vm_kvm_close(vm);
	bus_destroy(&vm->bus);
	if (vm->notify_fd >= 0)
		close(vm->notify_fd);
	vm->notify_fd = -1;
	mem_unmap(&vm->mem);
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

bool vm_reset_asked(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	bool asked = vm->reset_asked;
	vm->reset_asked = false;
	pthread_mutex_unlock(&vm->lock);
	return asked;
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
