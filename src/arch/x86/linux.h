/* Linux guests: the x86 boot protocol for bzImage (64-bit entry), the PVH entry of an
 * uncompressed vmlinux (or its 64-bit entry when it has no PVH note), initramfs, command
 * line, e820 map. The pure builders are exposed for unit tests. */
#ifndef HF_X86_LINUX_H
#define HF_X86_LINUX_H

#include <asm/bootparam.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/vm.h"

/* Guest-physical layout of a Linux guest's low memory. */
#define LINUX_GDT_ADDR 0x500ull
#define LINUX_PVH_INFO_ADDR 0x6000ull
#define LINUX_ZERO_PAGE_ADDR 0x7000ull
#define LINUX_SETUP_DATA_ADDR 0x8000ull /* setup_data list (boot protocol 2.09+) */
#define LINUX_PML4_ADDR 0x9000ull
#define LINUX_CMDLINE_ADDR 0x20000ull
#define LINUX_CMDLINE_MAX 4096u
#define LINUX_MPTABLE_ADDR 0xf0000ull
#define LINUX_EBDA_START 0x9fc00ull
#define LINUX_BZIMAGE_LOAD 0x100000ull
/* MMIO windows of devices (virtio-mmio), in the 3-4 GiB hole below the IOAPIC. */
#define LINUX_DEVICE_MMIO_BASE 0xd0000000ull
#define LINUX_DEVICE_MMIO_END 0xfec00000ull

#define E820_MAX 8

struct e820_map {
	unsigned n;
	struct boot_e820_entry e[E820_MAX];
};

/* The e820 map for guest RAM m: low RAM below the EBDA, the BIOS area reserved, the rest of
 * RAM. */
void linux_e820(const struct guest_mem *m, struct e820_map *out);

struct bzimage {
	struct setup_header hdr;  /* as found in the image */
	uint64_t kernel_offset;   /* file offset of the protected-mode kernel */
	uint64_t kernel_size;     /* its size in bytes */
};

/* How long a command line (its NUL included) a kernel whose header says cmdline_size takes:
 * at most LINUX_CMDLINE_MAX; 0 in the header means the old default, also that. */
uint32_t linux_cmdline_limit(uint32_t cmdline_size);
/* Parse a bzImage: boot protocol >= 2.06 with a 64-bit entry (XLF_KERNEL_64). Returns 0 or
 * -1 with a message in err. */
int linux_bzimage_parse(const uint8_t *data, size_t len, struct bzimage *bz, char *err,
			size_t errlen);

/* Fill the zero page: hdr (NULL for a vmlinux: a minimal header is synthesized), command
 * line, initrd and e820 map. */
void linux_boot_params(struct boot_params *bp, const struct setup_header *hdr,
		       uint64_t cmdline_addr, uint32_t cmdline_size, uint64_t initrd_addr,
		       uint64_t initrd_size, const struct e820_map *e820);

/* Where to put an initrd of size bytes: the highest page-aligned address in low RAM with
 * the initrd below limit (exclusive) and above floor. Returns 0 if it does not fit. */
/* Give the kernel a seed for its random number generator (setup_data SETUP_RNG_SEED) at
 * LINUX_SETUP_DATA_ADDR, so that it need not wait for entropy at boot. Nothing is done for a
 * kernel older than boot protocol 2.09 or when the host has no randomness to give. */
void linux_rng_seed(struct vm *vm, struct boot_params *bp);

uint64_t linux_initrd_addr(const struct guest_mem *m, uint64_t size, uint64_t floor,
			   uint64_t limit);

/* Load a Linux kernel (bzImage or vmlinux), initrd and command line into the VM and set
 * every vCPU up to enter it. The command line ends with the words of the devices already
 * on the bus (virtio-mmio), so they must all be there. Returns 0 or -1 (logged). */
int linux_setup(struct vm *vm, const uint8_t *kernel, size_t klen);

#endif
