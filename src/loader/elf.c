/* ELF64 image parsing for bare guests and vmlinux: validates headers and segments in memory. */
#include "loader/elf.h"

#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* Xen ELF note carrying the PVH 32-bit entry point (xen/include/public/elfnote.h). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* True if [off, off+size) lies within a buffer of len bytes. */
static int in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

static void parse_notes(const uint8_t *p, uint64_t size, struct elf_image *img)
{
	uint64_t pos = 0;
	while (size - pos >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p + pos, sizeof(nh));
		pos += sizeof(nh);
		uint64_t namesz = ((uint64_t)nh.n_namesz + 3) & ~3ull;
		uint64_t descsz = ((uint64_t)nh.n_descsz + 3) & ~3ull;
		if (namesz > size - pos || descsz > size - pos - namesz)
			return; /* truncated note: ignore the rest */
		const uint8_t *name = p + pos;
		const uint8_t *desc = p + pos + namesz;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(name, "Xen", 4) == 0) {
			if (nh.n_descsz == 4) {
				uint32_t v;
				memcpy(&v, desc, 4);
				img->pvh_entry = v;
			} else if (nh.n_descsz == 8) {
				uint64_t v;
				memcpy(&v, desc, 8);
				img->pvh_entry = v;
			}
		}
		pos += namesz + descsz;
	}
}

int elf_parse(const uint8_t *data, size_t len, struct elf_image *img, char *err, size_t errlen)
{
	Elf64_Ehdr eh;

	memset(img, 0, sizeof(*img));
	if (len < SELFMAG || memcmp(data, ELFMAG, SELFMAG) != 0)
		return errf(err, errlen, "not an ELF file (bad magic)");
	if (len < sizeof(eh))
		return errf(err, errlen, "truncated ELF header (%zu bytes)", len);
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return errf(err, errlen, "not a 64-bit ELF file");
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return errf(err, errlen, "not a little-endian ELF file");
	if (eh.e_machine != EM_X86_64)
		return errf(err, errlen, "not an x86-64 ELF file (e_machine %u)", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return errf(err, errlen,
			    "not a static executable (e_type %u; link with -static -no-pie)",
			    eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return errf(err, errlen, "bad program header size %u", eh.e_phentsize);
	if (eh.e_phnum == 0)
		return errf(err, errlen, "no program headers");
	if (!in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
		return errf(err, errlen, "program headers lie outside the file (truncated image?)");

	img->entry = eh.e_entry;
	img->lowest = UINT64_MAX;
	unsigned phidx[ELF_MAX_SEGMENTS]; /* each segment's program header, for errors */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			if (in_file(ph.p_offset, ph.p_filesz, len))
				parse_notes(data + ph.p_offset, ph.p_filesz, img);
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (img->nsegs == ELF_MAX_SEGMENTS)
			return errf(err, errlen, "too many loadable segments (max %d)",
				    ELF_MAX_SEGMENTS);
		if (ph.p_filesz > ph.p_memsz)
			return errf(err, errlen, "segment %u: file size exceeds memory size", i);
		if (!in_file(ph.p_offset, ph.p_filesz, len))
			return errf(err, errlen,
				    "segment %u: data at offset 0x%llx+0x%llx lies outside the "
				    "%zu-byte file (truncated image?)",
				    i, (unsigned long long)ph.p_offset,
				    (unsigned long long)ph.p_filesz, len);
		if (ph.p_paddr + ph.p_memsz < ph.p_paddr || ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
			return errf(err, errlen, "segment %u: address range overflows", i);
		for (unsigned k = 0; k < img->nsegs; k++) {
			const struct elf_segment *o = &img->segs[k];
			if (ph.p_paddr < o->paddr + o->memsz && o->paddr < ph.p_paddr + ph.p_memsz)
				return errf(err, errlen,
					    "segment %u (0x%llx-0x%llx) overlaps segment %u "
					    "(0x%llx-0x%llx)",
					    i, (unsigned long long)ph.p_paddr,
					    (unsigned long long)(ph.p_paddr + ph.p_memsz), phidx[k],
					    (unsigned long long)o->paddr,
					    (unsigned long long)(o->paddr + o->memsz));
		}
		phidx[img->nsegs] = i;
		struct elf_segment *s = &img->segs[img->nsegs++];
		s->paddr = ph.p_paddr;
		s->vaddr = ph.p_vaddr;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->memsz = ph.p_memsz;
		s->flags = ph.p_flags;
		if (s->paddr < img->lowest)
			img->lowest = s->paddr;
		if (s->paddr + s->memsz > img->highest)
			img->highest = s->paddr + s->memsz;
	}
	if (img->nsegs == 0)
		return errf(err, errlen, "no loadable segments");
	return 0;
}
