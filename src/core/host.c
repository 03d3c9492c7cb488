/* Host detection: opens /dev/kvm, reads what KVM and the CPU offer, and names the
 * virtualization backend so the VMM can adapt (never assume one machine). */
#include "core/host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"

static int cap(int fd, long c)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, c);
	return r < 0 ? 0 : r;
}

static bool module_loaded(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return access(path, F_OK) == 0;
}

/* Which KVM backend serves /dev/kvm: the loaded vendor module says it directly. */
static enum host_backend detect_backend(void)
{
	if (module_loaded("kvm_pvm"))
		return HOST_PVM;
	if (module_loaded("kvm_intel"))
		return HOST_VMX;
	if (module_loaded("kvm_amd"))
		return HOST_SVM;
	return HOST_UNKNOWN;
}

static uint64_t read_memtotal(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

static struct kvm_cpuid2 *get_supported_cpuid(int fd)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c =
			calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static struct kvm_msr_list *get_msr_list(int fd)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
	if (!l)
		return NULL;
	l->nmsrs = probe.nmsrs;
	if (ioctl(fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

int host_open(struct host *h)
{
	const char *dev = getenv("HYPERFORK_KVM") ? getenv("HYPERFORK_KVM") : "/dev/kvm";

	memset(h, 0, sizeof(*h));
	h->kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
	if (h->kvm_fd < 0) {
		int e = errno;
		if (e == ENOENT)
			pr_err("cannot open %s: no such device (KVM is not available on this host: "
			       "load kvm_intel/kvm_amd or enable virtualization; or run inside an "
			       "emulated KVM host: scripts/kvm-host.sh -- COMMAND, as make check, "
			       "make demo and make bench do by themselves)",
			       dev);
		else if (e == EACCES || e == EPERM)
			pr_err("cannot open %s: permission denied (run as root or join the kvm "
			       "group)",
			       dev);
		else
			pr_err("cannot open %s: %s", dev, strerror(e));
		return -1;
	}
	int api = ioctl(h->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		pr_err("%s: KVM API version %d, expected %d", dev, api, KVM_API_VERSION);
		goto fail;
	}
	h->vcpu_mmap_size = ioctl(h->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (h->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		pr_err("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto fail;
	}
	if (!cap(h->kvm_fd, KVM_CAP_USER_MEMORY)) {
		pr_err("KVM lacks KVM_CAP_USER_MEMORY");
		goto fail;
	}
	h->backend = detect_backend();
	h->hide_vmcall_features = h->backend == HOST_PVM;
	h->irqchip = cap(h->kvm_fd, KVM_CAP_IRQCHIP);
	h->pit2 = cap(h->kvm_fd, KVM_CAP_PIT2) && cap(h->kvm_fd, KVM_CAP_PIT_STATE2);
	h->xsave = cap(h->kvm_fd, KVM_CAP_XSAVE);
	h->xsave2_size = cap(h->kvm_fd, KVM_CAP_XSAVE2);
	h->xcrs = cap(h->kvm_fd, KVM_CAP_XCRS);
	h->vcpu_events = cap(h->kvm_fd, KVM_CAP_VCPU_EVENTS);
	h->debugregs = cap(h->kvm_fd, KVM_CAP_DEBUGREGS);
	h->mp_state = cap(h->kvm_fd, KVM_CAP_MP_STATE);
	h->immediate_exit = cap(h->kvm_fd, KVM_CAP_IMMEDIATE_EXIT);
	h->tsc_khz = cap(h->kvm_fd, KVM_CAP_GET_TSC_KHZ);
	h->vcpu_attrs = cap(h->kvm_fd, KVM_CAP_VCPU_ATTRIBUTES);
	h->set_tss_addr = cap(h->kvm_fd, KVM_CAP_SET_TSS_ADDR);
	h->set_identity_map = cap(h->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR);
	h->adjust_clock = cap(h->kvm_fd, KVM_CAP_ADJUST_CLOCK);
	h->sync_regs = cap(h->kvm_fd, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS;
	h->sync_events = cap(h->kvm_fd, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_EVENTS;
	h->sync_sregs = cap(h->kvm_fd, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_SREGS;
	h->max_vcpus = cap(h->kvm_fd, KVM_CAP_MAX_VCPUS);
	if (!h->max_vcpus)
		h->max_vcpus = cap(h->kvm_fd, KVM_CAP_NR_VCPUS);
	if (!h->max_vcpus)
		h->max_vcpus = 4;
	if (!h->immediate_exit) {
		pr_err("KVM lacks KVM_CAP_IMMEDIATE_EXIT (Linux >= 4.11 needed)");
		goto fail;
	}
	h->cpuid = get_supported_cpuid(h->kvm_fd);
	if (!h->cpuid) {
		pr_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto fail;
	}
	h->msrs = get_msr_list(h->kvm_fd);
	if (!h->msrs) {
		pr_err("KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
		goto fail;
	}
	struct kvm_cpuid_entry2 *e = host_cpuid(h, 0x80000008, 0);
	h->phys_bits = e ? (e->eax & 0xff) : 36;
	if (h->phys_bits < 32 || h->phys_bits > 52)
		h->phys_bits = 36;
	h->host_ram = read_memtotal();
	pr_debug("host: backend %s, max vcpus %d, phys bits %u, xsave2 %d, adjust_clock 0x%x",
		 host_backend_name(h->backend), h->max_vcpus, h->phys_bits, h->xsave2_size,
		 h->adjust_clock);
	return 0;
fail:
	host_close(h);
	return -1;
}

void host_close(struct host *h)
{
	if (h->kvm_fd > 0)
		close(h->kvm_fd);
	free(h->cpuid);
	free(h->msrs);
	memset(h, 0, sizeof(*h));
	h->kvm_fd = -1;
}

const char *host_backend_name(enum host_backend b)
{
	switch (b) {
	case HOST_VMX: return "vmx";
	case HOST_SVM: return "svm";
	case HOST_PVM: return "pvm";
	default: return "unknown";
	}
}

struct kvm_cpuid_entry2 *host_cpuid(const struct host *h, uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < h->cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &h->cpuid->entries[i];
		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

const char *host_linux_flags(const struct host *h)
{
	/* PVM emulates guest ring 0 and its emulator fails on these instructions
	 * (measured: guest/linux/README.md, "Kernel command line on PVM hosts"); the kernel's own switches
	 * avoid them.
	 * noint3selftest is our guest kernel's (guest/linux/patches/0001). rodata=off and
	 * percpu_alloc=page each save ~0.6 s of emulated boot (guest/linux/README.md). */
	if (h->backend == HOST_PVM)
		return "noxsave nofsgsbase nopcid noinvpcid "
		       "clearcpuid=141,151,158,297,306,308,534,580,590 noint3selftest rodata=off "
		       "percpu_alloc=page";
	return "";
}
