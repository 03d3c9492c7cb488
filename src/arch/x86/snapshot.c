/* KVM state capture and restore (x86; see snapshot.h). */
#include "arch/x86/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <x86intrin.h>

#include "core/vcpu.h"
#include "core/vm.h"
#include "util/log.h"
#include "util/trace.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

static size_t xsave_size(const struct host *h)
{
	return h->xsave2_size > (int)sizeof(struct kvm_xsave) ? (size_t)h->xsave2_size
							     : sizeof(struct kvm_xsave);
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->vcpus && i < s->ncpus; i++) {
		free(s->vcpus[i].xsave);
		free(s->vcpus[i].msrs);
	}
	free(s->vcpus);
	free(s->vm.msr_index);
	free(s);
}

static struct kvm_msrs *msrs_alloc(unsigned n)
{
	return calloc(1, sizeof(struct kvm_msrs) + n * sizeof(struct kvm_msr_entry));
}

#define TSS64_AVAILABLE 9
#define TSS64_BUSY 11

/* Does KVM read back a TR loaded as an available TSS as busy? Probed on vCPU 0 before the
 * guest runs, its registers put back afterwards. */
static int probe_tr_busy_forced(struct vcpu *c, bool *forced)
{
	struct kvm_sregs orig, probe;
	if (ioctl(c->fd, KVM_GET_SREGS, &orig) < 0) {
		pr_err("KVM_GET_SREGS on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	probe = orig;
	probe.tr.type = TSS64_AVAILABLE;
	*forced = false;
	if (ioctl(c->fd, KVM_SET_SREGS, &probe) == 0 && ioctl(c->fd, KVM_GET_SREGS, &probe) == 0)
		*forced = probe.tr.type == TSS64_BUSY;
	if (ioctl(c->fd, KVM_SET_SREGS, &orig) < 0) {
		pr_err("KVM_SET_SREGS on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	return 0;
}

struct kvm_segment snapshot_tr_to_restore(struct kvm_segment tr, bool tr_busy_forced)
{
	if (tr_busy_forced && tr.type == TSS64_BUSY)
		tr.type = TSS64_AVAILABLE;
	return tr;
}

static int prepare(struct snapshot *snap, struct vm *vm)
{
	struct vm_snapshot *s = &snap->vm;
	struct vcpu *c0 = &vm->vcpus[0];
	const struct kvm_msr_list *all = vm->host->msrs;

	struct kvm_device_attr attr = {.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET};
	s->tsc_offset_attr =
		vm->host->vcpu_attrs && ioctl(c0->fd, KVM_HAS_DEVICE_ATTR, &attr) == 0;

	if (probe_tr_busy_forced(c0, &s->tr_busy_forced) < 0)
		return -1;

	/* Keep the MSRs vCPU 0 can read; KVM_GET_MSRS stops at the first one it cannot. */
	struct kvm_msrs *probe = msrs_alloc(all->nmsrs);
	s->msr_index = calloc(all->nmsrs + 1, sizeof(uint32_t));
	if (!probe || !s->msr_index) {
		free(probe);
		pr_err("out of memory");
		return -1;
	}
	unsigned next = 0;
	bool deadline = false;
	while (next < all->nmsrs) {
		unsigned n = 0;
		for (unsigned i = next; i < all->nmsrs; i++)
			probe->entries[n++].index = all->indices[i];
		probe->nmsrs = n;
		int r = ioctl(c0->fd, KVM_GET_MSRS, probe);
		if (r < 0) {
			pr_err("KVM_GET_MSRS: %s", strerror(errno));
			free(probe);
			return -1;
		}
		for (int i = 0; i < r; i++) {
			uint32_t idx = probe->entries[i].index;
			if (idx == MSR_IA32_TSC && s->tsc_offset_attr)
				continue;
			if (idx == MSR_IA32_TSC_DEADLINE) {
				deadline = true;
				continue;
			}
			s->msr_index[s->nmsrs++] = idx;
		}
		next += (unsigned)r + 1; /* skip the unreadable one */
		if ((unsigned)r < n)
			pr_debug("MSR 0x%x cannot be read; not saved", probe->entries[r].index);
	}
	free(probe);
	if (deadline)
		s->msr_index[s->nmsrs++] = MSR_IA32_TSC_DEADLINE; /* restored after the LAPIC */
	for (unsigned i = 0; i < snap->ncpus; i++) {
		struct vcpu_snapshot *vs = &snap->vcpus[i];
		vs->msrs = msrs_alloc(s->nmsrs);
		if (!vs->msrs) {
			pr_err("out of memory");
			return -1;
		}
	}
	pr_debug("snapshot: %u MSRs saved per vCPU, TSC restored by %s, TR busy %s", s->nmsrs,
		 s->tsc_offset_attr ? "offset" : "value",
		 s->tr_busy_forced ? "always reported" : "as held");
	return 0;
}

struct snapshot *snapshot_new(struct vm *vm)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	if (!s || !(s->vcpus = calloc(vm->ncpus, sizeof(*s->vcpus)))) {
		free(s);
		pr_err("out of memory");
		return NULL;
	}
	s->ncpus = vm->ncpus;
	for (unsigned i = 0; vm->host->xsave && i < s->ncpus; i++) {
		s->vcpus[i].xsave = calloc(1, xsave_size(vm->host));
		if (!s->vcpus[i].xsave) {
			pr_err("out of memory");
			snapshot_free(s);
			return NULL;
		}
	}
	if (prepare(s, vm) < 0) {
		snapshot_free(s);
		return NULL;
	}
	return s;
}

#define VCPU_IOCTL(c, req, arg, name)                                                              \
	do {                                                                                       \
		if (ioctl((c)->fd, (req), (arg)) < 0) {                                            \
			pr_err("%s on vCPU %u: %s", (name), (c)->index, strerror(errno));          \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

static int capture_vcpu(struct snapshot *snap, struct vm *vm, struct vcpu *c)
{
	struct vcpu_snapshot *s = &snap->vcpus[c->index];
	const struct host *h = vm->host;

	VCPU_IOCTL(c, KVM_GET_REGS, &s->regs, "KVM_GET_REGS");
	VCPU_IOCTL(c, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS");
	if (s->xsave) {
		if (h->xsave2_size)
			VCPU_IOCTL(c, KVM_GET_XSAVE2, s->xsave, "KVM_GET_XSAVE2");
		else
			VCPU_IOCTL(c, KVM_GET_XSAVE, s->xsave, "KVM_GET_XSAVE");
	} else {
		VCPU_IOCTL(c, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU");
	}
	if (h->xcrs)
		VCPU_IOCTL(c, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS");
	s->msrs->nmsrs = snap->vm.nmsrs;
	for (unsigned i = 0; i < snap->vm.nmsrs; i++)
		s->msrs->entries[i].index = snap->vm.msr_index[i];
	int r = ioctl(c->fd, KVM_GET_MSRS, s->msrs);
	if (r < 0 || (unsigned)r != s->msrs->nmsrs) {
		pr_err("KVM_GET_MSRS on vCPU %u: read %d of %u", c->index, r, s->msrs->nmsrs);
		return -1;
	}
	if (vm->has_irqchip)
		VCPU_IOCTL(c, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC");
	if (h->vcpu_events)
		VCPU_IOCTL(c, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS");
	if (h->mp_state)
		VCPU_IOCTL(c, KVM_GET_MP_STATE, &s->mp_state, "KVM_GET_MP_STATE");
	if (h->debugregs)
		VCPU_IOCTL(c, KVM_GET_DEBUGREGS, &s->debugregs, "KVM_GET_DEBUGREGS");
	if (snap->vm.tsc_offset_attr) {
		struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
					    .attr = KVM_VCPU_TSC_OFFSET,
					    .addr = (uintptr_t)&s->tsc_offset};
		VCPU_IOCTL(c, KVM_GET_DEVICE_ATTR, &a, "KVM_GET_DEVICE_ATTR(TSC_OFFSET)");
	}
	return 0;
}

#define VM_IOCTL(vm, req, arg, name)                                                               \
	do {                                                                                       \
		if (ioctl((vm)->vm_fd, (req), (arg)) < 0) {                                        \
			pr_err("%s: %s", (name), strerror(errno));                                 \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

int snapshot_capture(struct snapshot *snap, struct vm *vm)
{
	struct vm_snapshot *s = &snap->vm;

	for (unsigned i = 0; i < vm->ncpus; i++)
		if (capture_vcpu(snap, vm, &vm->vcpus[i]) < 0)
			return -1;
	if (vm->has_irqchip) {
		for (unsigned i = 0; i < 3; i++) {
			s->chip[i].chip_id = i;
			VM_IOCTL(vm, KVM_GET_IRQCHIP, &s->chip[i], "KVM_GET_IRQCHIP");
		}
	}
	if (vm->has_pit)
		VM_IOCTL(vm, KVM_GET_PIT2, &s->pit, "KVM_GET_PIT2");
	VM_IOCTL(vm, KVM_GET_CLOCK, &s->clock, "KVM_GET_CLOCK");
	s->captured_ns = now_ns();
	pr_debug("kvm-clock captured at %llu ns, flags 0x%x%s", (unsigned long long)s->clock.clock,
		 s->clock.flags,
		 s->clock.flags & KVM_CLOCK_REALTIME ? "" : " (no KVM_CLOCK_REALTIME: the clone advances it)");
	s->captured_tsc = __rdtsc();
	return 0;
}

int snapshot_restore_vm(const struct snapshot *snap, struct vm *vm)
{
	trace_point("restore-vm");
	const struct vm_snapshot *s = &snap->vm;
	if (vm->has_irqchip)
		for (unsigned i = 0; i < 3; i++)
			VM_IOCTL(vm, KVM_SET_IRQCHIP, &s->chip[i], "KVM_SET_IRQCHIP");
	if (vm->has_pit)
		VM_IOCTL(vm, KVM_SET_PIT2, &s->pit, "KVM_SET_PIT2");
	return 0;
}

/* KVM_SET_MSRS stops at the first MSR it refuses; skip that one and go on, so one MSR a
 * host cannot take back does not lose the rest. */
static int set_msrs(struct vcpu *c, struct kvm_msr_entry *e, unsigned n)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[64];
	} buf;
	while (n) {
		unsigned chunk = n < 64 ? n : 64;
		buf.hdr.nmsrs = chunk;
		buf.hdr.pad = 0;
		memcpy(buf.e, e, chunk * sizeof(*e));
		int r = ioctl(c->fd, KVM_SET_MSRS, &buf);
		if (r < 0) {
			pr_err("KVM_SET_MSRS on vCPU %u: %s", c->index, strerror(errno));
			return -1;
		}
		if ((unsigned)r < chunk) {
			pr_debug("vCPU %u: MSR 0x%x (value 0x%llx) not restored", c->index,
				 e[r].index, (unsigned long long)e[r].data);
			r++;
		}
		e += r;
		n -= (unsigned)r;
	}
	return 0;
}

/* The vCPU's events: with its next KVM_RUN (on_entry, where the host takes them so), else
 * by ioctl. */
static int restore_events(const struct vcpu_snapshot *s, struct vcpu *c, bool on_entry)
{
	const struct host *h = c->vm->host;
	if (on_entry && h->sync_events && h->vcpu_events) {
		c->run->s.regs.events = s->events;
		c->run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
	} else if (h->vcpu_events) {
		VCPU_IOCTL(c, KVM_SET_VCPU_EVENTS, &s->events, "KVM_SET_VCPU_EVENTS");
	}
	return 0;
}

int snapshot_restore_vcpu(const struct snapshot *snap, struct vcpu *c, unsigned how)
{
	trace_point("restore-vcpu");
	const struct vcpu_snapshot *s = &snap->vcpus[c->index];
	const struct host *h = c->vm->host;
	bool on_entry = how & RESTORE_ON_ENTRY, user = how & RESTORE_USER;
	unsigned nmsrs = s->msrs->nmsrs;
	/* The TSC deadline needs the LAPIC: after it, where KVM has one. */
	bool deadline = c->vm->has_irqchip && nmsrs &&
			s->msrs->entries[nmsrs - 1].index == MSR_IA32_TSC_DEADLINE;

	/* on_entry: the general registers and the events go to KVM with the next KVM_RUN,
	 * where the host takes them so: no ioctl of their own. */
	bool regs_on_entry = on_entry && h->sync_regs;
	if (regs_on_entry) {
		c->run->s.regs.regs = s->regs;
		c->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	} else {
		VCPU_IOCTL(c, KVM_SET_REGS, &s->regs, "KVM_SET_REGS");
	}
	if (s->xsave)
		VCPU_IOCTL(c, KVM_SET_XSAVE, s->xsave, "KVM_SET_XSAVE");
	else
		VCPU_IOCTL(c, KVM_SET_FPU, &s->fpu, "KVM_SET_FPU");
	if (h->xcrs && !user)
		VCPU_IOCTL(c, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS");
	struct kvm_sregs sregs = s->sregs;
	sregs.tr = snapshot_tr_to_restore(sregs.tr, snap->vm.tr_busy_forced);
	/* (Not with the rest loaded by ioctl: its APIC base must come before the LAPIC.) */
	if (user && on_entry && h->sync_sregs) {
		c->run->s.regs.sregs = sregs;
		c->run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
	} else {
		VCPU_IOCTL(c, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	}
	if (user)
		return restore_events(s, c, on_entry);
	struct kvm_msr_entry *e = malloc((nmsrs ? nmsrs : 1) * sizeof(*e));
	if (!e) {
		pr_err("out of memory");
		return -1;
	}
	memcpy(e, s->msrs->entries, nmsrs * sizeof(*e));
	if (!snap->vm.tsc_offset_attr) {
		/* No offset control: move the TSC on by the host time since the capture. */
		for (unsigned i = 0; i < nmsrs; i++)
			if (e[i].index == MSR_IA32_TSC)
				e[i].data += __rdtsc() - snap->vm.captured_tsc;
	}
	int r = set_msrs(c, e, nmsrs - deadline);
	if (r == 0 && c->vm->has_irqchip && ioctl(c->fd, KVM_SET_LAPIC, &s->lapic) < 0) {
		pr_err("KVM_SET_LAPIC on vCPU %u: %s", c->index, strerror(errno));
		r = -1;
	}
	if (r == 0 && deadline)
		r = set_msrs(c, &e[nmsrs - 1], 1);
	free(e);
	if (r < 0)
		return -1;
	if (restore_events(s, c, on_entry) < 0)
		return -1;
	if (h->mp_state)
		VCPU_IOCTL(c, KVM_SET_MP_STATE, &s->mp_state, "KVM_SET_MP_STATE");
	if (h->debugregs)
		VCPU_IOCTL(c, KVM_SET_DEBUGREGS, &s->debugregs, "KVM_SET_DEBUGREGS");
	if (snap->vm.tsc_offset_attr) {
		/* Same host, same TSC: the parent's offset keeps the guest TSC continuous. */
		struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
					    .attr = KVM_VCPU_TSC_OFFSET,
					    .addr = (uintptr_t)&s->tsc_offset};
		VCPU_IOCTL(c, KVM_SET_DEVICE_ATTR, &a, "KVM_SET_DEVICE_ATTR(TSC_OFFSET)");
	}
	return 0;
}

struct kvm_clock_data snapshot_clock_to_restore(struct kvm_clock_data captured, uint64_t captured_ns,
					       uint64_t now)
{
	/* With KVM_CLOCK_REALTIME, KVM advances kvm-clock by the real time elapsed since the
	 * capture: the clone's clock continues from the parent's and never goes back. Hosts
	 * whose clock is not the TSC do not offer it (KVM_GET_CLOCK flags 0): advance it here by
	 * the host time since the capture, so it stays in step with the guest TSC, which kept
	 * counting meanwhile. Other flags are KVM's report, not requests. */
	captured.flags &= KVM_CLOCK_REALTIME;
	if (!captured.flags && now > captured_ns)
		captured.clock += now - captured_ns;
	return captured;
}

int snapshot_restore_clock(const struct snapshot *snap, struct vm *vm)
{
	trace_point("restore-clock");
	struct kvm_clock_data cd =
		snapshot_clock_to_restore(snap->vm.clock, snap->vm.captured_ns, now_ns());
	VM_IOCTL(vm, KVM_SET_CLOCK, &cd, "KVM_SET_CLOCK");
	return 0;
}

uint64_t snapshot_guest_tsc(const struct snapshot *snap, uint64_t host_tsc)
{
	const struct vcpu_snapshot *s = &snap->vcpus[0];
	if (snap->vm.tsc_offset_attr)
		return host_tsc + s->tsc_offset;
	for (unsigned i = 0; s->msrs && i < s->msrs->nmsrs; i++)
		if (s->msrs->entries[i].index == MSR_IA32_TSC)
			return s->msrs->entries[i].data + (host_tsc - snap->vm.captured_tsc);
	return host_tsc;
}

void snapshot_set_rax(struct snapshot *s, unsigned index, uint64_t value)
{
	s->vcpus[index].regs.rax = value;
}

void snapshot_set_rax_on_entry(const struct snapshot *s, struct vcpu *c, uint64_t value)
{
	if (c->vm->host->sync_regs) {
		/* Handed to KVM with the next KVM_RUN: no ioctl of its own. */
		c->run->s.regs.regs = s->vcpus[c->index].regs;
		c->run->s.regs.regs.rax = value;
		c->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		return;
	}
	vcpu_set_rax(c, value);
}
