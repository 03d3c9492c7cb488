/* Intel MultiProcessor Specification 1.4 table: how a Linux guest without ACPI finds its
 * CPUs, the IOAPIC and the ISA interrupt wiring. */
#include "arch/x86/mptable.h"

#include <string.h>

#include "util/log.h"

struct mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length;
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table {
	char signature[4];
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint32_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return (uint8_t)-s;
}

int mptable_build(uint8_t *buf, size_t len, uint32_t base_addr, unsigned ncpus)
{
	size_t need = sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
		      ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) + (MPTABLE_IRQS + 2) * sizeof(struct mpc_intsrc);
	if (need > len || ncpus == 0 || ncpus > 254)
		return -1;
	memset(buf, 0, need);
	struct mpf_intel *mpf = (void *)buf;
	struct mpc_table *mpc = (void *)(mpf + 1);
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint8_t ioapic_id = (uint8_t)ncpus;

	for (unsigned i = 0; i < ncpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = 0x14,
			.cpuflag = 1 | (i == 0 ? 2 : 0), /* enabled, boot processor */
			.cpufeature = 0x600,
			.featureflag = 0x201, /* FPU, APIC */
		};
		memcpy(p, &cpu, sizeof(cpu));
		p += sizeof(cpu);
	}
	struct mpc_bus bus = {.type = MP_BUS, .busid = 0};
	memcpy(bus.bustype, "ISA   ", 6);
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	struct mpc_ioapic io = {.type = MP_IOAPIC, .apicid = ioapic_id, .apicver = 0x11,
				.flags = 1, .apicaddr = MPTABLE_IOAPIC_ADDR};
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	/* IRQ n -> IOAPIC pin n, as KVM's default routing wires them; 16-23 are listed on the
	 * ISA bus too, so that devices announced on the command line can use them. */
	for (uint8_t irq = 0; irq < MPTABLE_IRQS; irq++) {
		struct mpc_intsrc s = {.type = MP_INTSRC, .irqtype = MP_INT, .srcbus = 0,
				       .srcbusirq = irq, .dstapic = ioapic_id, .dstirq = irq};
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
	}
	struct mpc_intsrc lint0 = {.type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xff,
				   .dstirq = 0};
	struct mpc_intsrc lint1 = {.type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xff,
				   .dstirq = 1};
	memcpy(p, &lint0, sizeof(lint0));
	p += sizeof(lint0);
	memcpy(p, &lint1, sizeof(lint1));
	p += sizeof(lint1);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "HYPERFRK", 8);
	memcpy(mpc->productid, "VM          ", 12);
	mpc->oemcount = (uint16_t)(ncpus + 1 + 1 + MPTABLE_IRQS + 2);
	mpc->lapic = MPTABLE_LAPIC_ADDR;
	mpc->checksum = checksum((uint8_t *)mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = base_addr + (uint32_t)sizeof(*mpf);
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum((uint8_t *)mpf, sizeof(*mpf));
	return (int)(p - buf);
}

int mptable_write(struct vm *vm, uint64_t addr)
{
	uint8_t *dst = mem_ptr(&vm->mem, addr, 0x10000);
	if (!dst || mptable_build(dst, 0x10000, (uint32_t)addr, vm->ncpus) < 0) {
		pr_err("cannot build the MP table for %u vCPUs", vm->ncpus);
		return -1;
	}
	return 0;
}
