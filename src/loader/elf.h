/* ELF64 image parsing for bare guests and vmlinux: validates headers and segments in memory. */
#ifndef HF_ELF_H
#define HF_ELF_H

#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_SEGMENTS 16

struct elf_segment {
	uint64_t paddr;  /* guest-physical load address */
	uint64_t vaddr;  /* virtual address (== paddr for bare guests) */
	uint64_t offset; /* file offset of the data */
	uint64_t filesz; /* bytes copied from the file */
	uint64_t memsz;  /* bytes occupied in memory (rest zero-filled) */
	uint32_t flags;  /* PF_R | PF_W | PF_X */
};

struct elf_image {
	uint64_t entry; /* e_entry */
	unsigned nsegs;
	struct elf_segment segs[ELF_MAX_SEGMENTS];
	uint64_t pvh_entry; /* Xen PVH 32-bit entry from the ELF note, 0 if none */
	uint64_t lowest, highest; /* lowest paddr and end of highest segment (exclusive) */
};

/* Parse an ELF64 little-endian x86-64 executable of len bytes. Checks that every header,
 * segment and note lies inside the file, that no address computation overflows, and that
 * there is at least one PT_LOAD segment. On failure returns -1 and writes a message naming
 * the problem into err (errlen bytes). */
int elf_parse(const uint8_t *data, size_t len, struct elf_image *img, char *err, size_t errlen);

#endif
