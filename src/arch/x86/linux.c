/* Linux guests: the x86 boot protocol for bzImage (64-bit entry), the PVH entry of an
 * uncompressed vmlinux (or its 64-bit entry), initramfs, command line, e820 map. */
#include "arch/x86/linux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>

#include "arch/x86/cpu.h"
#include "arch/x86/mptable.h"
#include "core/vcpu.h"
#include "loader/elf.h"
#include "util/log.h"

#define E820_RAM 1
#define E820_RESERVED 2

/* PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h). */
#define PVH_START_MAGIC 0x336ec578u
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define GDT_CODE32 0x08
#define GDT_CODE64 0x10 /* __BOOT_CS */
#define GDT_DATA 0x18   /* __BOOT_DS */
#define GDT_TSS 0x20
#define GDT_ENTRIES 5

void linux_e820(const struct guest_mem *m, struct e820_map *out)
{
	const struct mem_region *low = &m->regions[0];
	memset(out, 0, sizeof(*out));
	out->e[out->n++] = (struct boot_e820_entry){.addr = 0, .size = LINUX_EBDA_START,
						    .type = E820_RAM};
	out->e[out->n++] = (struct boot_e820_entry){.addr = LINUX_EBDA_START,
						    .size = 0xa0000 - LINUX_EBDA_START,
						    .type = E820_RESERVED};
	out->e[out->n++] = (struct boot_e820_entry){.addr = 0xf0000, .size = 0x10000,
						    .type = E820_RESERVED};
	if (low->size > 0x100000)
		out->e[out->n++] = (struct boot_e820_entry){
			.addr = 0x100000, .size = low->size - 0x100000, .type = E820_RAM};
	for (unsigned i = 1; i < m->nregions; i++)
		out->e[out->n++] = (struct boot_e820_entry){
			.addr = m->regions[i].gpa, .size = m->regions[i].size, .type = E820_RAM};
}

int linux_bzimage_parse(const uint8_t *data, size_t len, struct bzimage *bz, char *err,
			size_t errlen)
{
	memset(bz, 0, sizeof(*bz));
	if (len < 0x1f1 + sizeof(struct setup_header))
		return errf(err, errlen, "%s", "too small to be a bzImage");
	memcpy(&bz->hdr, data + 0x1f1, sizeof(bz->hdr));
	if (bz->hdr.header != 0x53726448) /* "HdrS" */
		return errf(err, errlen, "%s", "no Linux boot header (\"HdrS\" missing)");
	if (bz->hdr.boot_flag != 0xaa55)
		return errf(err, errlen, "%s", "bad boot sector signature");
	if (bz->hdr.version < 0x206)
		return errf(err, errlen, "%s", "boot protocol older than 2.06 is not supported");
	if (!(bz->hdr.xloadflags & XLF_KERNEL_64))
		return errf(err, errlen, "%s", "kernel has no 64-bit entry point (XLF_KERNEL_64)");
	if (!(bz->hdr.loadflags & LOADED_HIGH))
		return errf(err, errlen, "%s", "not a bzImage (zImage loaded low)");
	unsigned setup_sects = bz->hdr.setup_sects ? bz->hdr.setup_sects : 4;
	bz->kernel_offset = (uint64_t)(setup_sects + 1) * 512;
	if (bz->kernel_offset >= len)
		return errf(err, errlen, "%s", "truncated bzImage: no protected-mode kernel");
	bz->kernel_size = len - bz->kernel_offset;
	if (bz->hdr.syssize && (uint64_t)bz->hdr.syssize * 16 > bz->kernel_size)
		return errf(err, errlen, "%s", "truncated bzImage: kernel shorter than its header says");
	return 0;
}

void linux_boot_params(struct boot_params *bp, const struct setup_header *hdr,
		       uint64_t cmdline_addr, uint32_t cmdline_size, uint64_t initrd_addr,
		       uint64_t initrd_size, const struct e820_map *e820)
{
	memset(bp, 0, sizeof(*bp));
	if (hdr) {
		bp->hdr = *hdr;
	} else {
		bp->hdr.boot_flag = 0xaa55;
		bp->hdr.header = 0x53726448;
		bp->hdr.version = 0x20f;
		bp->hdr.kernel_alignment = 0x1000000;
	}
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= CAN_USE_HEAP | LOADED_HIGH;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.vid_mode = 0xffff;
	bp->hdr.cmd_line_ptr = (uint32_t)cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(cmdline_addr >> 32);
	bp->hdr.cmdline_size = cmdline_size;
	bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp->ext_ramdisk_image = (uint32_t)(initrd_addr >> 32);
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	bp->e820_entries = (uint8_t)e820->n;
	memcpy(bp->e820_table, e820->e, e820->n * sizeof(e820->e[0]));
}

void linux_rng_seed(struct vm *vm, struct boot_params *bp)
{
	enum { SEED_BYTES = 32 };
	struct setup_data *sd = mem_ptr(&vm->mem, LINUX_SETUP_DATA_ADDR, sizeof(*sd) + SEED_BYTES);

	if (!sd || bp->hdr.version < 0x209)
		return;
	if (getrandom(sd->data, SEED_BYTES, GRND_NONBLOCK) != SEED_BYTES) {
		pr_warn("no random seed for the guest kernel: %s", strerror(errno));
		return;
	}
	sd->type = SETUP_RNG_SEED;
	sd->len = SEED_BYTES;
	sd->next = bp->hdr.setup_data;
	bp->hdr.setup_data = LINUX_SETUP_DATA_ADDR;
}

uint64_t linux_initrd_addr(const struct guest_mem *m, uint64_t size, uint64_t floor,
			   uint64_t limit)
{
	uint64_t top = m->regions[0].size < limit ? m->regions[0].size : limit;
	if (size == 0 || size > top)
		return 0;
	uint64_t addr = (top - size) & ~0xfffull;
	return addr >= floor ? addr : 0;
}

static void write_gdt(struct vm *vm, uint64_t *gdt)
{
	memset(gdt, 0, GDT_ENTRIES * 8);
	gdt[GDT_CODE32 >> 3] = gdt_entry(0xc09b, 0, 0xfffff);
	gdt[GDT_CODE64 >> 3] = gdt_entry(0xa09b, 0, 0xfffff);
	gdt[GDT_DATA >> 3] = gdt_entry(0xc093, 0, 0xfffff);
	gdt[GDT_TSS >> 3] = gdt_entry(0x008b, 0, 0x67);
	(void)vm;
}

/* Identity map of the first 4 GiB with 2 MiB pages, for the 64-bit entry. */
static void write_page_tables(struct vm *vm)
{
	uint64_t *pml4 = mem_ptr(&vm->mem, LINUX_PML4_ADDR, 6 * 4096);
	memset(pml4, 0, 6 * 4096);
	uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
	pml4[0] = (LINUX_PML4_ADDR + 4096) | PTE_P | PTE_W;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LINUX_PML4_ADDR + 8192 + i * 4096) | PTE_P | PTE_W;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_W | PTE_PS;
}

enum entry_mode { ENTRY_64, ENTRY_PVH };

static int setup_vcpu(struct vm *vm, struct vcpu *c, const uint64_t *gdt, enum entry_mode mode,
		      uint64_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rflags = 2};

	if (cpu_set_cpuid(vm, c) < 0 || cpu_setup_boot_msrs(c) < 0 || cpu_setup_lapic(c) < 0)
		return -1;
	if (c->index > 0) /* application processors wait for INIT/SIPI from the guest */
		return 0;
	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0) {
		pr_err("KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	sregs.gdt.base = LINUX_GDT_ADDR;
	sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	struct kvm_segment data = segment_from_gdt(gdt[GDT_DATA >> 3], GDT_DATA);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = segment_from_gdt(gdt[GDT_TSS >> 3], GDT_TSS);
	if (mode == ENTRY_PVH) {
		sregs.cs = segment_from_gdt(gdt[GDT_CODE32 >> 3], GDT_CODE32);
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = LINUX_PVH_INFO_ADDR;
	} else {
		sregs.cs = segment_from_gdt(gdt[GDT_CODE64 >> 3], GDT_CODE64);
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
		sregs.cr3 = LINUX_PML4_ADDR;
		sregs.cr4 = X86_CR4_PAE;
		sregs.efer = X86_EFER_LME | X86_EFER_LMA;
		regs.rsi = LINUX_ZERO_PAGE_ADDR;
	}
	regs.rip = entry;
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0) {
		pr_err("KVM_SET_SREGS: %s", strerror(errno));
		return -1;
	}
	if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0) {
		pr_err("KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void write_pvh_info(struct vm *vm, const struct e820_map *e820, uint64_t cmdline,
			   uint64_t initrd, uint64_t initrd_size)
{
	struct hvm_start_info *si = mem_ptr(&vm->mem, LINUX_PVH_INFO_ADDR, 4096);
	struct hvm_modlist_entry *mod = (void *)(si + 1);
	struct hvm_memmap_table_entry *mm = (void *)(mod + 1);
	memset(si, 0, 4096);
	si->magic = PVH_START_MAGIC;
	si->version = 1;
	si->cmdline_paddr = cmdline;
	if (initrd_size) {
		si->nr_modules = 1;
		si->modlist_paddr = LINUX_PVH_INFO_ADDR + sizeof(*si);
		mod->paddr = initrd;
		mod->size = initrd_size;
	}
	si->memmap_paddr = LINUX_PVH_INFO_ADDR + sizeof(*si) + sizeof(*mod);
	si->memmap_entries = e820->n;
	for (unsigned i = 0; i < e820->n; i++)
		mm[i] = (struct hvm_memmap_table_entry){
			.addr = e820->e[i].addr, .size = e820->e[i].size, .type = e820->e[i].type};
}

/* The kernel command line: the user's (or a default), the flags this host needs, and the
 * words that announce devices the kernel cannot discover (virtio-mmio). */
static int build_cmdline(struct vm *vm, char *buf, size_t size)
{
	const char *user = vm->cfg.cmdline ? vm->cfg.cmdline : "console=ttyS0 reboot=k panic=-1";
	const char *extra = vm->cfg.host_flags ? host_linux_flags(vm->host) : "";
	int n = snprintf(buf, size, "%s%s%s", user, *extra ? " " : "", extra);
	for (unsigned i = 0; i < vm->bus.ndevices && n >= 0 && (size_t)n < size; i++) {
		const char *words = vm->bus.devices[i]->cmdline;
		if (*words)
			n += snprintf(buf + n, size - (size_t)n, " %s", words);
	}
	if (n < 0 || (size_t)n >= size) {
		pr_err("kernel command line is longer than %zu bytes", size - 1);
		return -1;
	}
	return n;
}

uint32_t linux_cmdline_limit(uint32_t cmdline_size)
{
	/* in 64 bits: cmdline_size + 1 wraps to 0 in 32 when the header says 0xFFFFFFFF */
	if (cmdline_size && (uint64_t)cmdline_size + 1 < LINUX_CMDLINE_MAX)
		return cmdline_size + 1;
	return LINUX_CMDLINE_MAX;
}

int linux_setup(struct vm *vm, const uint8_t *kernel, size_t klen)
{
	const char *path = vm->cfg.image;
	char err[256], cmdline[LINUX_CMDLINE_MAX];
	struct elf_image elf;
	struct bzimage bz;
	enum entry_mode mode;
	uint64_t entry, kernel_end;
	bool is_elf = klen >= 4 && !memcmp(kernel, "\177ELF", 4);
	uint32_t cmdline_max = LINUX_CMDLINE_MAX;

	if (is_elf) {
		if (elf_parse(kernel, klen, &elf, err, sizeof(err)) < 0) {
			pr_err("kernel %s: %s", path, err);
			return -1;
		}
		if (!elf.pvh_entry && elf.segs[0].vaddr < 0xffff800000000000ull) {
			pr_err("kernel %s: not a Linux vmlinux (no PVH entry note, not linked at a "
			       "kernel address); a bare guest runs with --bare",
			       path);
			return -1;
		}
		for (unsigned i = 0; i < elf.nsegs; i++) {
			struct elf_segment *s = &elf.segs[i];
			uint8_t *dst = mem_ptr(&vm->mem, s->paddr, s->memsz);
			if (!dst || s->paddr < 0x100000) {
				pr_err("kernel %s: segment %u (0x%llx+0x%llx) does not fit in guest "
				       "RAM above 1 MiB",
				       path, i, (unsigned long long)s->paddr,
				       (unsigned long long)s->memsz);
				return -1;
			}
			memcpy(dst, kernel + s->offset, s->filesz);
			memset(dst + s->filesz, 0, s->memsz - s->filesz);
		}
		mode = elf.pvh_entry ? ENTRY_PVH : ENTRY_64;
		entry = mode == ENTRY_PVH ? elf.pvh_entry : elf.entry;
		kernel_end = elf.highest;
	} else {
		if (linux_bzimage_parse(kernel, klen, &bz, err, sizeof(err)) < 0) {
			pr_err("kernel %s: not a vmlinux ELF or bzImage: %s", path, err);
			return -1;
		}
		uint64_t room = bz.hdr.init_size > bz.kernel_size ? bz.hdr.init_size
								  : bz.kernel_size;
		uint8_t *dst = mem_ptr(&vm->mem, LINUX_BZIMAGE_LOAD, room);
		if (!dst) {
			pr_err("kernel %s needs %llu MiB above 1 MiB; --mem is too small", path,
			       (unsigned long long)(room / MiB + 1));
			return -1;
		}
		memcpy(dst, kernel + bz.kernel_offset, bz.kernel_size);
		mode = ENTRY_64;
		entry = LINUX_BZIMAGE_LOAD + 0x200;
		kernel_end = LINUX_BZIMAGE_LOAD + room;
		cmdline_max = linux_cmdline_limit(bz.hdr.cmdline_size);
	}

	int clen = build_cmdline(vm, cmdline, cmdline_max);
	if (clen < 0)
		return -1;
	memcpy(mem_ptr(&vm->mem, LINUX_CMDLINE_ADDR, (uint64_t)clen + 1), cmdline,
	       (size_t)clen + 1);

	uint64_t initrd = 0, initrd_size = 0;
	if (vm->cfg.initrd) {
		uint8_t *data;
		size_t len;
		if (read_file(vm->cfg.initrd, &data, &len) < 0) {
			pr_err("cannot read initrd %s: %s", vm->cfg.initrd, strerror(errno));
			return -1;
		}
		uint64_t limit = is_elf ? 4 * GiB : (uint64_t)bz.hdr.initrd_addr_max + 1;
		initrd = linux_initrd_addr(&vm->mem, len, ALIGN_UP(kernel_end, 4096), limit);
		if (!initrd) {
			pr_err("initrd %s (%zu KiB) does not fit in guest RAM beside the kernel; "
			       "raise --mem",
			       vm->cfg.initrd, len / 1024);
			free(data);
			return -1;
		}
		memcpy(mem_ptr(&vm->mem, initrd, len), data, len);
		initrd_size = len;
		free(data);
	}

	struct e820_map e820;
	linux_e820(&vm->mem, &e820);
	struct boot_params *bp = mem_ptr(&vm->mem, LINUX_ZERO_PAGE_ADDR, sizeof(*bp));
	linux_boot_params(bp, is_elf ? NULL : &bz.hdr, LINUX_CMDLINE_ADDR, (uint32_t)clen,
			  initrd, initrd_size, &e820);
	if (mode == ENTRY_PVH) {
		/* The PVH start info has no way to pass a seed: hf-reseed gives one later. */
		write_pvh_info(vm, &e820, LINUX_CMDLINE_ADDR, initrd, initrd_size);
	} else {
		linux_rng_seed(vm, bp);
		write_page_tables(vm);
	}
	uint64_t *gdt = mem_ptr(&vm->mem, LINUX_GDT_ADDR, GDT_ENTRIES * 8);
	write_gdt(vm, gdt);
	if (mptable_write(vm, LINUX_MPTABLE_ADDR) < 0)
		return -1;
	pr_debug("kernel %s: %s entry at 0x%llx, initrd at 0x%llx (%llu bytes), cmdline \"%s\"",
		 path, mode == ENTRY_PVH ? "PVH" : "64-bit", (unsigned long long)entry,
		 (unsigned long long)initrd, (unsigned long long)initrd_size, cmdline);

	for (unsigned i = 0; i < vm->ncpus; i++)
		if (setup_vcpu(vm, &vm->vcpus[i], gdt, mode, entry) < 0)
			return -1;
	return 0;
}
