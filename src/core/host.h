/* Host detection: opens /dev/kvm, reads what KVM and the CPU offer, and names the
 * virtualization backend so the VMM can adapt (never assume one machine). */
#ifndef HF_HOST_H
#define HF_HOST_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

enum host_backend { HOST_VMX, HOST_SVM, HOST_PVM, HOST_UNKNOWN };

struct host {
	int kvm_fd;
	enum host_backend backend;
	int vcpu_mmap_size;
	/* capabilities (0 = absent) */
	bool irqchip, pit2, xsave, xcrs, vcpu_events, debugregs, mp_state, immediate_exit;
	bool tsc_khz, vcpu_attrs, set_tss_addr, set_identity_map;
	bool sync_regs; /* KVM_CAP_SYNC_REGS with general registers: set them with KVM_RUN */
	bool sync_events; /* ... and with the vCPU events */
	bool sync_sregs;  /* ... and with the segment and control registers */
	/* Guest `vmcall` hypercalls never complete (software KVM): hide the KVM PV features
	 * that need them (PV unhalt, PV IPIs, PV yield). */
	bool hide_vmcall_features;
	int xsave2_size;     /* KVM_CAP_XSAVE2: bytes for KVM_GET_XSAVE2, 0 if absent */
	int adjust_clock;    /* KVM_CAP_ADJUST_CLOCK flags */
	int max_vcpus;       /* KVM_CAP_MAX_VCPUS (or NR_VCPUS) */
	unsigned phys_bits;  /* guest physical address width */
	uint64_t host_ram;   /* bytes of host RAM (MemTotal) */
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
	struct kvm_msr_list *msrs; /* KVM_GET_MSR_INDEX_LIST */
};

/* Open /dev/kvm (or $HYPERFORK_KVM) and detect the host. Returns 0, or -1 with a message
 * naming the cause (no KVM, no permission, API mismatch). */
int host_open(struct host *h);
void host_close(struct host *h);

const char *host_backend_name(enum host_backend b);

/* The entry of the supported CPUID for (function, index), or NULL. */
struct kvm_cpuid_entry2 *host_cpuid(const struct host *h, uint32_t function, uint32_t index);

/* Guest kernel command-line flags this host needs for Linux guests ("" if none): those the
 * kernel needs to boot here, and those that save minutes of emulated boot time. */
const char *host_linux_flags(const struct host *h);

#endif
