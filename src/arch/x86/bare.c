/* Bare guests: load a static ELF and start every vCPU in 64-bit ring 3 over identity-mapped
 * RAM, as the ABI in include/hyperfork/abi.h describes. */
#include "arch/x86/bare.h"

#include <elf.h>
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpu.h"
#include "hyperfork/abi.h"
#include "util/log.h"

#define BARE_GDT_ADDR 0x3000ull
#define BARE_TSS_ADDR 0x4000ull
#define BARE_TSS_SIZE (0x68 + 8192 + 1) /* with a full I/O bitmap */
#define BARE_PT_ADDR 0x10000ull /* page tables from here up to HF_LOAD_MIN */
#define BARE_GDT_ENTRIES 9

int bare_check_layout(const struct elf_image *img, uint64_t ram_size, unsigned ncpus, char *err,
		      size_t errlen)
{
	uint64_t stacks = (uint64_t)ncpus * HF_STACK_SIZE;
	uint64_t heap_end = ram_size > stacks ? ram_size - stacks : 0;
	bool entry_ok = false;

	for (unsigned i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];
		if (s->paddr != s->vaddr) {
			snprintf(err, errlen,
				 "segment %u: virtual address 0x%llx differs from physical 0x%llx "
				 "(bare guests are identity-mapped; link with guest/runtime/guest.ld)",
				 i, (unsigned long long)s->vaddr, (unsigned long long)s->paddr);
			return -1;
		}
		if (s->paddr < HF_LOAD_MIN) {
			snprintf(err, errlen,
				 "segment %u at 0x%llx lies below 0x%llx, the lowest address a bare "
				 "guest may use",
				 i, (unsigned long long)s->paddr, (unsigned long long)HF_LOAD_MIN);
			return -1;
		}
		if (s->paddr + s->memsz > heap_end) {
			snprintf(err, errlen,
				 "image needs memory up to 0x%llx but only 0x%llx is free below the "
				 "%u vCPU stack(s) in %llu KiB of RAM",
				 (unsigned long long)(s->paddr + s->memsz),
				 (unsigned long long)heap_end, ncpus,
				 (unsigned long long)(ram_size / 1024));
			return -1;
		}
		if ((s->flags & PF_X) && img->entry >= s->paddr && img->entry - s->paddr < s->memsz)
			entry_ok = true;
	}
	if (!entry_ok) {
		snprintf(err, errlen, "entry point 0x%llx is not inside an executable segment",
			 (unsigned long long)img->entry);
		return -1;
	}
	return 0;
}

/* Identity page tables: 2 MiB pages, except the first 2 MiB in 4 KiB pages so that page 0
 * stays unmapped and the VMM area below HF_LOAD_MIN (boot info, command line, GDT, TSS,
 * these tables) is read-only: the guest, in ring 3 with no IDT, has then no way to ring 0,
 * so a reset need not load what only ring 0 can change (snapshot.h, RESTORE_USER). The
 * GDT's descriptors are built accessed, so the CPU never writes them. Returns 0, or -1 if
 * they do not fit below HF_LOAD_MIN. */
static int build_page_tables(struct vm *vm)
{
	uint64_t ram = vm->mem.ram_size;
	uint64_t n2m = (ram + (2 * MiB - 1)) / (2 * MiB);
	uint64_t npd = (n2m + 511) / 512;
	uint64_t npdpt = (npd + 511) / 512;
	uint64_t pml4 = BARE_PT_ADDR, pdpt = pml4 + 4096, pd = pdpt + npdpt * 4096;
	uint64_t pt = pd + npd * 4096, end = pt + 4096;
	const uint64_t flags = PTE_P | PTE_W | PTE_U;

	if (end > HF_LOAD_MIN) {
		pr_err("--mem %llu MiB: too much RAM for the bare-guest page tables",
		       (unsigned long long)(ram / MiB));
		return -1;
	}
	uint64_t *p = mem_ptr(&vm->mem, pml4, end - pml4);
	if (!p)
		return -1;
	memset(p, 0, end - pml4);
	uint64_t *pml4p = mem_ptr(&vm->mem, pml4, 4096);
	for (uint64_t i = 0; i < npdpt; i++)
		pml4p[i] = (pdpt + i * 4096) | flags;
	uint64_t *pdptp = mem_ptr(&vm->mem, pdpt, npdpt * 4096);
	for (uint64_t i = 0; i < npd; i++)
		pdptp[i] = (pd + i * 4096) | flags;
	uint64_t *pdp = mem_ptr(&vm->mem, pd, npd * 4096);
	pdp[0] = pt | flags;
	for (uint64_t i = 1; i < n2m; i++)
		pdp[i] = (i * 2 * MiB) | flags | PTE_PS;
	uint64_t *ptp = mem_ptr(&vm->mem, pt, 4096);
	for (uint64_t i = 1; i < 512; i++)
		ptp[i] = (i * 4096) | (i * 4096 < HF_LOAD_MIN ? flags & ~PTE_W : flags);
	return 0;
}

static void build_gdt_tss(struct vm *vm, uint64_t *gdt)
{
	memset(gdt, 0, BARE_GDT_ENTRIES * 8);
	gdt[HF_SEL_KCODE >> 3] = gdt_entry(0xa09b, 0, 0xfffff);
	gdt[HF_SEL_KDATA >> 3] = gdt_entry(0xc093, 0, 0xfffff);
	gdt[0x20 >> 3] = gdt_entry(0xc0fb, 0, 0xfffff); /* 32-bit user code */
	gdt[HF_SEL_UDATA >> 3] = gdt_entry(0xc0f3, 0, 0xfffff);
	gdt[HF_SEL_UCODE >> 3] = gdt_entry(0xa0fb, 0, 0xfffff);
	gdt[HF_SEL_TSS >> 3] = gdt_entry(0x0089, (uint32_t)BARE_TSS_ADDR, BARE_TSS_SIZE - 1);
	gdt[(HF_SEL_TSS >> 3) + 1] = 0;
	/* An I/O permission bitmap of zeros grants every port, as IOPL 3 does; some hosts
	 * (software KVM) check the bitmap rather than IOPL for ring-3 port I/O. The byte of
	 * ones after it is the terminator the architecture requires. */
	uint8_t *tss = mem_ptr(&vm->mem, BARE_TSS_ADDR, BARE_TSS_SIZE);
	memset(tss, 0, BARE_TSS_SIZE);
	uint16_t iomap = 0x68;
	memcpy(tss + 0x66, &iomap, 2);
	tss[BARE_TSS_SIZE - 1] = 0xff;
}

static int setup_vcpu(struct vm *vm, struct vcpu *c, const uint64_t *gdt, uint64_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_cpuid_entry2 *l7 = host_cpuid(vm->host, 7, 0);

	if (cpu_set_cpuid(vm, c) < 0)
		return -1;
	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0) {
		pr_err("KVM_GET_SREGS on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	struct kvm_segment ucode = segment_from_gdt(gdt[HF_SEL_UCODE >> 3], HF_SEL_UCODE);
	struct kvm_segment udata = segment_from_gdt(gdt[HF_SEL_UDATA >> 3], HF_SEL_UDATA);
	sregs.cs = ucode;
	sregs.ss = sregs.ds = sregs.es = sregs.fs = sregs.gs = udata;
	/* FS: the bottom of this vCPU's stack area, as its thread-local storage. */
	sregs.fs.base = vm->mem.ram_size - (uint64_t)(c->index + 1) * HF_STACK_SIZE;
	sregs.tr = segment_from_gdt(gdt[HF_SEL_TSS >> 3], HF_SEL_TSS);
	sregs.tr.type = 11; /* busy 64-bit TSS */
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 2;
	sregs.ldt.unusable = 1;
	sregs.gdt.base = BARE_GDT_ADDR;
	sregs.gdt.limit = BARE_GDT_ENTRIES * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_AM |
		    X86_CR0_PG;
	sregs.cr3 = BARE_PT_ADDR;
	sregs.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	if (l7 && (l7->ebx & 1))
		sregs.cr4 |= X86_CR4_FSGSBASE;
	struct kvm_cpuid_entry2 *l1 = host_cpuid(vm->host, 1, 0);
	if (vm->host->xcrs && l1 && (l1->ecx & (1u << 26)))
		sregs.cr4 |= X86_CR4_OSXSAVE;
	sregs.efer = X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0) {
		pr_err("KVM_SET_SREGS on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	if ((sregs.cr4 & X86_CR4_OSXSAVE) && cpu_enable_xsave(vm, c) < 0)
		return -1;
	struct kvm_regs regs = {
		.rip = entry,
		.rsp = vm->mem.ram_size - (uint64_t)c->index * HF_STACK_SIZE,
		.rdi = c->index,
		.rsi = HF_BOOT_INFO_ADDR,
		.rflags = 0x3002,
	};
	if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0) {
		pr_err("KVM_SET_REGS on vCPU %u: %s", c->index, strerror(errno));
		return -1;
	}
	return 0;
}

int bare_setup(struct vm *vm, const uint8_t *data, size_t len)
{
	struct elf_image img;
	char err[256];
	const char *path = vm->cfg.image;

	if (elf_parse(data, len, &img, err, sizeof(err)) < 0 ||
	    bare_check_layout(&img, vm->mem.ram_size, vm->ncpus, err, sizeof(err)) < 0) {
		pr_err("bare image %s: %s", path, err);
		return -1;
	}
	const char *cmdline = vm->cfg.cmdline ? vm->cfg.cmdline : "";
	size_t clen = strlen(cmdline);
	if (clen >= HF_CMDLINE_MAX) {
		pr_err("--cmdline is %zu bytes; bare guests take at most %u", clen,
		       HF_CMDLINE_MAX - 1);
		return -1;
	}
	for (unsigned i = 0; i < img.nsegs; i++) {
		const struct elf_segment *s = &img.segs[i];
		uint8_t *dst = mem_ptr(&vm->mem, s->paddr, s->memsz);
		if (!dst) {
			pr_err("bare image %s: segment %u does not fit in guest RAM", path, i);
			return -1;
		}
		memcpy(dst, data + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	if (build_page_tables(vm) < 0)
		return -1;
	uint64_t *gdt = mem_ptr(&vm->mem, BARE_GDT_ADDR, BARE_GDT_ENTRIES * 8);
	build_gdt_tss(vm, gdt);
	memcpy(mem_ptr(&vm->mem, HF_CMDLINE_ADDR, clen + 1), cmdline, clen + 1);
	struct hf_boot_info *bi = mem_ptr(&vm->mem, HF_BOOT_INFO_ADDR, sizeof(*bi));
	*bi = (struct hf_boot_info){
		.magic = HF_BOOT_INFO_MAGIC,
		.abi_version = HF_ABI_VERSION,
		.ram_size = vm->mem.ram_size,
		.heap_start = ALIGN_UP(img.highest, 4096),
		.heap_end = vm->mem.ram_size - (uint64_t)vm->ncpus * HF_STACK_SIZE,
		.tsc_khz = vm->tsc_khz,
		.cmdline = HF_CMDLINE_ADDR,
		.cmdline_len = (uint32_t)clen,
		.ncpus = vm->ncpus,
		.stack_size = HF_STACK_SIZE,
	};
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (setup_vcpu(vm, &vm->vcpus[i], gdt, img.entry) < 0)
			return -1;
	return 0;
}

void bare_clone_info(struct vm *vm, unsigned id, uint64_t request_tsc)
{
	struct hf_boot_info *bi = mem_ptr(&vm->mem, HF_BOOT_INFO_ADDR, sizeof(*bi));
	if (!bi)
		return;
	bi->clone_id = id;
	bi->clone_request_tsc = request_tsc;
	mem_note_write(&vm->mem, bi, sizeof(*bi));
}
