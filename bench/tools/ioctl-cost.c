/* What each KVM ioctl a clone's start or a reset makes costs on this host: a VM with an
 * in-kernel irqchip and PIT and one vCPU that has run (a few hundred real-mode instructions,
 * 16 pages written), then each ioctl N times in a row (default 200; the mean in us), and
 * KVM_RUN to an I/O exit after 16 pages written, and KVM_GET_DIRTY_LOG after it. Only the
 * ratios between lines mean something in an emulated host, and a loop's warm caches make
 * each figure a floor: the same call made once on a cold path costs more.
 *   ioctl-cost [N] */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RAM (16u << 20)

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int n = 200;

/* Each ioctl n times; prints the mean, or the error. */
static void cost(const char *name, int fd, unsigned long req, void *arg)
{
	double t0 = now_us();
	for (int i = 0; i < n; i++)
		if (ioctl(fd, req, arg) < 0) {
			printf("%-24s failed: %s\n", name, strerror(errno));
			return;
		}
	printf("%-24s %8.1f us\n", name, (now_us() - t0) / n);
}

/* Real mode, at 0: write a byte to 16 pages from 64 KiB up, OUT to port 0x10, again. */
static const unsigned char guest[] = {
	0xb8, 0x00, 0x10,                   /* mov ax, 0x1000 */
	0xb9, 0x10, 0x00,                   /* mov cx, 16 */
	0x8e, 0xc0,                         /* l: mov es, ax */
	0x26, 0xc6, 0x06, 0x00, 0x00, 0x01, /* mov byte [es:0], 1 */
	0x05, 0x00, 0x01,                   /* add ax, 0x100 (the next page) */
	0xe2, 0xf3,                         /* loop l */
	0xe6, 0x10,                         /* out 0x10, al */
	0xeb, 0xe9,                         /* jmp 0 */
};

int main(int argc, char **argv)
{
	if (argc > 1)
		n = atoi(argv[1]) > 0 ? atoi(argv[1]) : n;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fprintf(stderr, "ioctl-cost: no KVM VM: %s\n", strerror(errno));
		return 1;
	}
	struct kvm_pit_config pit = {0};
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0 || ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
		fprintf(stderr, "ioctl-cost: no in-kernel irqchip or PIT: %s\n", strerror(errno));
	unsigned char *mem = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	memcpy(mem, guest, sizeof(guest));
	struct kvm_userspace_memory_region r = {.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES,
						.memory_size = RAM, .userspace_addr = (unsigned long)mem};
	int cpu = ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -1 : ioctl(vm, KVM_CREATE_VCPU, 0);
	int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = cpu < 0 || size <= 0 ? MAP_FAILED
			      : mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (run == MAP_FAILED) {
		fprintf(stderr, "ioctl-cost: no vCPU: %s\n", strerror(errno));
		return 1;
	}
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rip = 0, .rflags = 2};
	ioctl(cpu, KVM_GET_SREGS, &sregs);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ioctl(cpu, KVM_SET_SREGS, &sregs);
	ioctl(cpu, KVM_SET_REGS, &regs);

	/* The guest's round: KVM_RUN to its OUT, the dirty log after. */
	static unsigned long bitmap[RAM / 4096 / 64];
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = bitmap};
	double run_us = 0, log_us = 0;
	int rounds = n < 20 ? n : 20;
	for (int i = 0; i < rounds + 5; i++) {
		double t0 = now_us();
		if (ioctl(cpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "ioctl-cost: the guest did not reach its OUT (exit %u)\n",
				run->exit_reason);
			return 1;
		}
		double t1 = now_us();
		ioctl(vm, KVM_GET_DIRTY_LOG, &log);
		if (i >= 5) { /* (the first rounds fault the pages in) */
			run_us += t1 - t0;
			log_us += now_us() - t1;
		}
	}
	printf("%-24s %8.1f us (16 pages written, an I/O exit)\n", "KVM_RUN round", run_us / rounds);
	printf("%-24s %8.1f us (16 pages dirty in 16 MiB)\n", "KVM_GET_DIRTY_LOG", log_us / rounds);

	/* The round alone, the least any reset's entry into the guest and the exit after cost:
	 * at 0x100 the guest OUTs at once, writing nothing; and a system call right after. */
	static const unsigned char idle[] = {0xe6, 0x10, 0xeb, 0xfc}; /* out 0x10, al; jmp -4 */
	memcpy(mem + 0x100, idle, sizeof(idle));
	ioctl(cpu, KVM_GET_REGS, &regs);
	regs.rip = 0x100;
	ioctl(cpu, KVM_SET_REGS, &regs);
	double idle_us = 0, sys_us = 0;
	for (int i = 0; i < rounds + 5; i++) {
		double t0 = now_us();
		if (ioctl(cpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO)
			break;
		double t1 = now_us();
		getppid();
		if (i >= 5) {
			idle_us += t1 - t0;
			sys_us += now_us() - t1;
		}
	}
	printf("%-24s %8.1f us (nothing written, an I/O exit)\n", "KVM_RUN round", idle_us / rounds);
	printf("%-24s %8.1f us (getppid right after KVM_RUN)\n", "a system call", sys_us / rounds);

	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_debugregs dr;
	struct kvm_vcpu_events ev;
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
	struct kvm_pit_state2 pit2;
	cost("KVM_GET_REGS", cpu, KVM_GET_REGS, &regs);
	cost("KVM_SET_REGS", cpu, KVM_SET_REGS, &regs);
	cost("KVM_GET_SREGS", cpu, KVM_GET_SREGS, &sregs);
	cost("KVM_SET_SREGS", cpu, KVM_SET_SREGS, &sregs);
	cost("KVM_GET_XSAVE", cpu, KVM_GET_XSAVE, &xsave);
	cost("KVM_SET_XSAVE", cpu, KVM_SET_XSAVE, &xsave);
	cost("KVM_GET_XCRS", cpu, KVM_GET_XCRS, &xcrs);
	cost("KVM_SET_XCRS", cpu, KVM_SET_XCRS, &xcrs);
	cost("KVM_GET_LAPIC", cpu, KVM_GET_LAPIC, &lapic);
	cost("KVM_SET_LAPIC", cpu, KVM_SET_LAPIC, &lapic);
	cost("KVM_GET_MP_STATE", cpu, KVM_GET_MP_STATE, &mp);
	cost("KVM_SET_MP_STATE", cpu, KVM_SET_MP_STATE, &mp);
	cost("KVM_GET_DEBUGREGS", cpu, KVM_GET_DEBUGREGS, &dr);
	cost("KVM_SET_DEBUGREGS", cpu, KVM_SET_DEBUGREGS, &dr);
	cost("KVM_GET_VCPU_EVENTS", cpu, KVM_GET_VCPU_EVENTS, &ev);
	cost("KVM_SET_VCPU_EVENTS", cpu, KVM_SET_VCPU_EVENTS, &ev);
	cost("KVM_GET_IRQCHIP(IOAPIC)", vm, KVM_GET_IRQCHIP, &chip);
	cost("KVM_SET_IRQCHIP(IOAPIC)", vm, KVM_SET_IRQCHIP, &chip);
	cost("KVM_GET_PIT2", vm, KVM_GET_PIT2, &pit2);
	cost("KVM_SET_PIT2", vm, KVM_SET_PIT2, &pit2);

	/* Every MSR KVM saves, read and loaded at once. */
	struct kvm_msr_list *list = malloc(sizeof(*list) + 1024 * sizeof(__u32));
	list->nmsrs = 1024;
	if (ioctl(kvm, KVM_GET_MSR_INDEX_LIST, list) == 0) {
		struct kvm_msrs *m = calloc(1, sizeof(*m) + list->nmsrs * sizeof(struct kvm_msr_entry));
		for (unsigned i = 0; i < list->nmsrs; i++)
			m->entries[i].index = list->indices[i];
		m->nmsrs = list->nmsrs;
		int got = ioctl(cpu, KVM_GET_MSRS, m); /* stops at the first it cannot read */
		m->nmsrs = got > 0 ? (unsigned)got : 0;
		char name[32];
		snprintf(name, sizeof(name), "KVM_GET_MSRS(%u)", m->nmsrs);
		cost(name, cpu, KVM_GET_MSRS, m);
		snprintf(name, sizeof(name), "KVM_SET_MSRS(%u)", m->nmsrs);
		cost(name, cpu, KVM_SET_MSRS, m);
		free(m);
	}
	free(list);
	return 0;
}
