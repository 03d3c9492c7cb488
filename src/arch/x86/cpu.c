/* x86 vCPU setup shared by every boot path: CPUID, XCR0, LAPIC lines, boot MSRs,
 * segment descriptors. */
#include "arch/x86/cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <asm/kvm_para.h>

#include "util/log.h"

#define MSR_IA32_MISC_ENABLE 0x000001a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING (1ull << 0)
#define MSR_MTRR_DEF_TYPE 0x000002ff
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI 0x4

int cpu_set_cpuid(struct vm *vm, struct vcpu *c)
{
	const struct kvm_cpuid2 *src = vm->host->cpuid;
	size_t sz = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *cp = malloc(sz);

	if (!cp) {
		pr_err("out of memory");
		return -1;
	}
	memcpy(cp, src, sz);
	for (unsigned i = 0; i < cp->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cp->entries[i];
		switch (e->function) {
		case 1:
			/* initial APIC id, logical processor count */
			e->ebx = (e->ebx & 0x0000ffffu) | (c->index << 24) |
				 ((vm->ncpus & 0xffu) << 16);
			if (vm->ncpus > 1)
				e->edx |= 1u << 28; /* HTT: the count above is valid */
			e->ecx |= 1u << 31;         /* running under a hypervisor */
			break;
		case 0xb:
		case 0x1f:
			e->edx = c->index; /* x2APIC id */
			break;
		case 0x40000001: /* KVM paravirtual features */
			if (vm->host->hide_vmcall_features)
				e->eax &= ~((1u << KVM_FEATURE_PV_UNHALT) |
					    (1u << KVM_FEATURE_PV_SEND_IPI) |
					    (1u << KVM_FEATURE_PV_SCHED_YIELD));
			break;
		}
	}
	int r = ioctl(c->fd, KVM_SET_CPUID2, cp);
	free(cp);
	if (r < 0) {
		pr_err("KVM_SET_CPUID2 on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	return 0;
}

int64_t cpu_enable_xsave(struct vm *vm, struct vcpu *c)
{
	struct kvm_cpuid_entry2 *l1 = host_cpuid(vm->host, 1, 0);
	struct kvm_cpuid_entry2 *ld = host_cpuid(vm->host, 0xd, 0);

	if (!vm->host->xcrs || !l1 || !(l1->ecx & (1u << 26)) || !ld)
		return 0;
	/* x87 | SSE | AVX | AVX-512 opmask, ZMM_Hi256, Hi16_ZMM: the user states that need no
	 * permission from the host kernel. */
	uint64_t xcr0 = (((uint64_t)ld->edx << 32) | ld->eax) & 0xe7;
	if (!(xcr0 & 1))
		return 0;
	if ((xcr0 & 0xe0) != 0xe0)
		xcr0 &= ~0xe0ull; /* AVX-512 states go together */
	if (!(xcr0 & 4))
		xcr0 &= ~0xe0ull;
	struct kvm_xcrs x = {.nr_xcrs = 1, .xcrs = {{.xcr = 0, .value = xcr0}}};
	if (ioctl(c->fd, KVM_SET_XCRS, &x) < 0) {
		pr_err("KVM_SET_XCRS (xcr0 0x%llx) on vCPU %u: %s", (unsigned long long)xcr0,
		       c->index, strerror(errno));
		return -1;
	}
	return (int64_t)xcr0;
}

int cpu_setup_lapic(struct vcpu *c)
{
	struct kvm_lapic_state l;
	if (ioctl(c->fd, KVM_GET_LAPIC, &l) < 0) {
		pr_err("KVM_GET_LAPIC on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	uint32_t *lvt0 = (uint32_t *)&l.regs[APIC_LVT0];
	uint32_t *lvt1 = (uint32_t *)&l.regs[APIC_LVT1];
	*lvt0 = (*lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	*lvt1 = (*lvt1 & ~0x700u) | (APIC_MODE_NMI << 8);
	if (ioctl(c->fd, KVM_SET_LAPIC, &l) < 0) {
		pr_err("KVM_SET_LAPIC on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	return 0;
}

int cpu_setup_boot_msrs(struct vcpu *c)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[2];
	} m = {.hdr.nmsrs = 2,
	       .e = {{.index = MSR_IA32_MISC_ENABLE, .data = MSR_IA32_MISC_ENABLE_FAST_STRING},
		     {.index = MSR_MTRR_DEF_TYPE, .data = (1u << 11) | 6 /* enabled, WB */}}};
	int r = ioctl(c->fd, KVM_SET_MSRS, &m);
	if (r < 0) {
		pr_err("KVM_SET_MSRS on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	if (r < 2)
		pr_debug("vCPU %u: boot MSR 0x%x not accepted", c->index, m.e[r].index);
	return 0;
}

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

struct kvm_segment segment_from_gdt(uint64_t desc, uint16_t sel)
{
	struct kvm_segment s = {
		.base = (uint32_t)(((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24)),
		.limit = (uint32_t)((desc & 0xffff) | (((desc >> 48) & 0xf) << 16)),
		.selector = sel,
		.type = (desc >> 40) & 0xf,
		.present = (desc >> 47) & 1,
		.dpl = (desc >> 45) & 3,
		.db = (desc >> 54) & 1,
		.s = (desc >> 44) & 1,
		.l = (desc >> 53) & 1,
		.g = (desc >> 55) & 1,
		.avl = (desc >> 52) & 1,
	};
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	s.unusable = !s.present;
	return s;
}
