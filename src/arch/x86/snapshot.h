/* KVM state capture and restore (x86): everything about a VM that lives in the kernel
 * rather than in the VMM's memory (which fork() copies by itself): per vCPU the registers,
 * FPU/XSAVE, XCRs, MSRs, LAPIC, events, MP state, debug registers and TSC; per VM the PIC
 * and IOAPIC, PIT and kvm-clock. The parent captures with its vCPUs parked; the clone
 * restores into the VM and vCPUs it has just created. */
#ifndef HF_SNAPSHOT_H
#define HF_SNAPSHOT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;

struct vcpu_snapshot {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;       /* hosts without XSAVE */
	struct kvm_xsave *xsave;  /* KVM_GET_XSAVE(2) buffer, NULL without XSAVE */
	struct kvm_xcrs xcrs;
	struct kvm_msrs *msrs;    /* saved MSRs, TSC deadline last (it needs the LAPIC) */
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	uint64_t tsc_offset;
};

struct vm_snapshot {
	struct kvm_irqchip chip[3]; /* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	uint32_t *msr_index; /* MSRs this VM saves, probed by snapshot_prepare */
	unsigned nmsrs;
	bool tsc_offset_attr; /* KVM_VCPU_TSC_OFFSET works: TSC restored by offset */
	/* KVM reports the task register busy whatever the CPU holds (KVM on AMD ORs the busy
	 * bit in on every read): restore it as the guest's LTR left it, available. */
	bool tr_busy_forced;
	uint64_t captured_ns;   /* CLOCK_MONOTONIC at capture */
	uint64_t captured_tsc;  /* host TSC at capture (fallback TSC restore) */
};

/* A VM's captured state: VM-wide and one part per vCPU. */
struct snapshot {
	struct vm_snapshot vm;
	unsigned ncpus;
	struct vcpu_snapshot *vcpus;
};

/* Once, after the vCPUs have their CPUID and before the guest runs: the snapshot of vm,
 * with what can be captured found out (which MSRs can be read, how the TSC can be
 * restored, whether KVM reports TR busy: probed on vCPU 0) and its buffers sized. Returns
 * it, or NULL (logged). */
struct snapshot *snapshot_new(struct vm *vm);
void snapshot_free(struct snapshot *s);

/* Parent, every vCPU parked: capture vm's VM and vCPU state into s. Returns 0 or -1
 * (logged). */
int snapshot_capture(struct snapshot *s, struct vm *vm);

/* Load the captured state into a VM and its vCPUs: a clone's, freshly created, or one being
 * reset. VM-wide device state (irqchip, PIT) must be restored before the vCPUs, the clock
 * after. how: RESTORE_* flags. */
#define RESTORE_ON_ENTRY 1u /* a vCPU restored on its own thread, whose next ioctl is KVM_RUN:
			     * what the host takes with KVM_RUN (general registers, events;
			     * with RESTORE_USER the segment registers too) goes with it
			     * instead of an ioctl of its own */
#define RESTORE_USER 2u     /* a vCPU that held this state and has run only in ring 3 since,
			     * with no way to ring 0 (a bare guest: no IDT; its GDT, TSS and
			     * page tables read-only): only what ring 3 can change is loaded,
			     * the general and segment registers, FPU/SSE/AVX and events (no
			     * MSR, control or debug register, XCR, TSC or MP state can have
			     * changed) */
int snapshot_restore_vm(const struct snapshot *s, struct vm *vm);
int snapshot_restore_vcpu(const struct snapshot *s, struct vcpu *c, unsigned how);
int snapshot_restore_clock(const struct snapshot *s, struct vm *vm);

/* The captured RAX of vCPU index: what it finds there once restored (a clone's vCPU stopped
 * at its fork point returns the clone's number). */
void snapshot_set_rax(struct snapshot *s, unsigned index, uint64_t value);
/* Set the RAX of vCPU c, whose registers are still those restored from s: with
 * KVM_CAP_SYNC_REGS they go in with the next KVM_RUN, costing no ioctl (c's thread, before
 * it runs). */
void snapshot_set_rax_on_entry(const struct snapshot *s, struct vcpu *c, uint64_t value);
/* The task register to load into a clone, given the captured one: on a host that reports
 * TR busy whatever the CPU held (tr_busy_forced), a busy 64-bit TSS (type 11) goes back as
 * available (type 9), which is what the guest's own LTR left in the CPU there; software
 * CPUs check the I/O permission bitmap only for that type. Otherwise unchanged. */
struct kvm_segment snapshot_tr_to_restore(struct kvm_segment tr, bool tr_busy_forced);

/* The kvm-clock to load into a clone, given the one captured at host CLOCK_MONOTONIC time
 * captured_ns and the time now: KVM advances it itself where KVM_CLOCK_REALTIME was offered
 * (the flag is kept); otherwise it is advanced here by the time elapsed. */
struct kvm_clock_data snapshot_clock_to_restore(struct kvm_clock_data captured, uint64_t captured_ns,
					       uint64_t now);

/* The captured VM's guest TSC (vCPU 0) corresponding to host TSC value host_tsc. */
uint64_t snapshot_guest_tsc(const struct snapshot *s, uint64_t host_tsc);

#endif
