/* Unit tests for elf_parse (src/loader/elf.c): valid images, every rejection, the Xen PVH note. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loader/elf.h"

#define IMG_CAP 0x3000u
#define PH_OFF sizeof(Elf64_Ehdr)
#define DATA_OFF 0x1000u /* segment data starts here in the built images */

/* An image under construction: ELF header at 0, program headers right after it. */
struct img {
	_Alignas(8) uint8_t buf[IMG_CAP];
	size_t len;
};

static Elf64_Ehdr *ehdr(struct img *im)
{
	return (Elf64_Ehdr *)im->buf;
}

static Elf64_Phdr *phdr(struct img *im, unsigned i)
{
	return (Elf64_Phdr *)(im->buf + PH_OFF + i * sizeof(Elf64_Phdr));
}

/* A valid static x86-64 executable header with nph program headers (left zero) and len
 * bytes in all. */
static void img_init(struct img *im, unsigned nph, size_t len)
{
	memset(im, 0, sizeof(*im));
	Elf64_Ehdr *e = ehdr(im);
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_type = ET_EXEC;
	e->e_machine = EM_X86_64;
	e->e_version = EV_CURRENT;
	e->e_entry = 0x100040;
	e->e_phoff = PH_OFF;
	e->e_ehsize = sizeof(Elf64_Ehdr);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = (uint16_t)nph;
	im->len = len;
}

static void set_ph(struct img *im, unsigned i, uint32_t type, uint32_t flags, uint64_t off,
		   uint64_t addr, uint64_t filesz, uint64_t memsz)
{
	*phdr(im, i) = (Elf64_Phdr){.p_type = type, .p_flags = flags, .p_offset = off,
				    .p_vaddr = addr, .p_paddr = addr, .p_filesz = filesz,
				    .p_memsz = memsz, .p_align = 0x1000};
}

/* The reference image: text at 1 MiB (entry inside), data+bss at 2 MiB, plus headers that
 * must be ignored (GNU_STACK, an empty PT_LOAD). Its last segment's data ends the file. */
static void img_valid(struct img *im)
{
	img_init(im, 4, DATA_OFF + 0x200);
	set_ph(im, 0, PT_LOAD, PF_R | PF_X, DATA_OFF, 0x100000, 0x100, 0x100);
	set_ph(im, 1, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0);
	set_ph(im, 2, PT_LOAD, PF_R, DATA_OFF, 0x180000, 0, 0); /* memsz 0: skipped */
	set_ph(im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, 0x200000, 0x100, 0x3000);
	for (size_t i = DATA_OFF; i < im->len; i++)
		im->buf[i] = (uint8_t)i;
}

/* elf_parse on an exact-size heap copy, so that any read past len is a valgrind error. */
static int parse_len(const struct img *im, size_t len, struct elf_image *out, char *err,
		     size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, im->buf, len);
	err[0] = 0;
	int rc = elf_parse(copy, len, out, err, errlen);
	free(copy);
	return rc;
}

static int parse(const struct img *im, struct elf_image *out, char *err, size_t errlen)
{
	return parse_len(im, im->len, out, err, errlen);
}

#define assert_err_contains(err, word)                                                       \
	do {                                                                                 \
		if (!strstr((err), (word)))                                                  \
			fail_msg("error \"%s\" does not mention \"%s\"", (err), (word));     \
	} while (0)

/* Parse must fail with an error mentioning word. */
static void expect_reject(const struct img *im, const char *word)
{
	struct elf_image out;
	char err[256];
	assert_int_equal(parse(im, &out, err, sizeof(err)), -1);
	assert_err_contains(err, word);
}

static void test_valid_image(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_valid(&im);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.entry, 0x100040);
	assert_int_equal(out.nsegs, 2);
	assert_int_equal(out.segs[0].paddr, 0x100000);
	assert_int_equal(out.segs[0].vaddr, 0x100000);
	assert_int_equal(out.segs[0].offset, DATA_OFF);
	assert_int_equal(out.segs[0].filesz, 0x100);
	assert_int_equal(out.segs[0].memsz, 0x100);
	assert_int_equal(out.segs[0].flags, PF_R | PF_X);
	assert_int_equal(out.segs[1].paddr, 0x200000);
	assert_int_equal(out.segs[1].offset, DATA_OFF + 0x100);
	assert_int_equal(out.segs[1].filesz, 0x100);
	assert_int_equal(out.segs[1].memsz, 0x3000);
	assert_int_equal(out.segs[1].flags, PF_R | PF_W);
	assert_int_equal(out.lowest, 0x100000);
	assert_int_equal(out.highest, 0x203000);
	assert_int_equal(out.pvh_entry, 0);
}

/* lowest/highest do not depend on the order of the program headers, and a segment with a
 * higher start can still end lower. */
static void test_lowest_highest_unordered(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_init(&im, 3, DATA_OFF + 0x300);
	set_ph(&im, 0, PT_LOAD, PF_R | PF_W, DATA_OFF, 0x800000, 0x100, 0x100000);
	set_ph(&im, 1, PT_LOAD, PF_R | PF_X, DATA_OFF + 0x100, 0x100000, 0x100, 0x100000);
	set_ph(&im, 2, PT_LOAD, PF_R, DATA_OFF + 0x200, 0x300000, 0x100, 0x1000);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.nsegs, 3);
	assert_int_equal(out.lowest, 0x100000);
	assert_int_equal(out.highest, 0x900000);
	/* Segments keep file order. */
	assert_int_equal(out.segs[0].paddr, 0x800000);
	assert_int_equal(out.segs[1].paddr, 0x100000);
	assert_int_equal(out.segs[2].paddr, 0x300000);
}

/* A segment with filesz 0 (pure bss) is loadable and needs no file data. */
static void test_bss_only_segment(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_valid(&im);
	/* An offset past the end of the file is rejected even with nothing to read. */
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, 0xffffffff, 0x200000, 0, 0x1000);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), -1);
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, im.len, 0x200000, 0, 0x1000);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.nsegs, 2);
	assert_int_equal(out.segs[1].filesz, 0);
	assert_int_equal(out.segs[1].memsz, 0x1000);
}

static void test_bad_magic(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	im.buf[1] = 'e';
	expect_reject(&im, "magic");

	img_valid(&im);
	im.buf[0] = 0;
	expect_reject(&im, "magic");
}

/* Fewer bytes than the magic: not ELF, without reading past len. */
static void test_shorter_than_magic(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_valid(&im);
	for (size_t len = 0; len < SELFMAG; len++) {
		assert_int_equal(parse_len(&im, len, &out, err, sizeof(err)), -1);
		assert_err_contains(err, "magic");
	}
}

/* The magic but less than a whole ELF header: truncated, with the size in the message. */
static void test_truncated_header(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256], want[64];

	img_valid(&im);
	for (size_t len = SELFMAG; len < sizeof(Elf64_Ehdr); len++) {
		assert_int_equal(parse_len(&im, len, &out, err, sizeof(err)), -1);
		assert_err_contains(err, "truncated ELF header");
		snprintf(want, sizeof(want), "(%zu bytes)", len);
		assert_err_contains(err, want);
	}
}

static void test_class_32(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	im.buf[EI_CLASS] = ELFCLASS32;
	expect_reject(&im, "64-bit");
	im.buf[EI_CLASS] = ELFCLASSNONE;
	expect_reject(&im, "64-bit");
}

static void test_big_endian(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	im.buf[EI_DATA] = ELFDATA2MSB;
	expect_reject(&im, "little-endian");
}

static void test_wrong_machine(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	ehdr(&im)->e_machine = EM_386;
	expect_reject(&im, "x86-64");
	ehdr(&im)->e_machine = EM_AARCH64;
	expect_reject(&im, "e_machine 183");
}

static void test_pie_rejected(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	ehdr(&im)->e_type = ET_DYN;
	expect_reject(&im, "static executable");
	expect_reject(&im, "-no-pie");
	ehdr(&im)->e_type = ET_REL;
	expect_reject(&im, "e_type 1");
	ehdr(&im)->e_type = ET_CORE;
	expect_reject(&im, "static executable");
}

static void test_phentsize_wrong(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	ehdr(&im)->e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_reject(&im, "program header size");
	ehdr(&im)->e_phentsize = 32; /* Elf32_Phdr */
	expect_reject(&im, "program header size 32");
	ehdr(&im)->e_phentsize = 0;
	expect_reject(&im, "program header size");
}

static void test_no_program_headers(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	ehdr(&im)->e_phnum = 0;
	expect_reject(&im, "no program headers");
}

static void test_program_headers_beyond_file(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	/* Table starts inside the file but its end is past it. */
	img_valid(&im);
	ehdr(&im)->e_phoff = im.len - sizeof(Elf64_Phdr);
	expect_reject(&im, "program headers lie outside the file");

	/* Table entirely past the end. */
	img_valid(&im);
	ehdr(&im)->e_phoff = im.len + 8;
	expect_reject(&im, "outside the file");

	/* Offsets chosen so that phoff + size wraps around 2^64. */
	img_valid(&im);
	ehdr(&im)->e_phoff = UINT64_MAX - 8;
	expect_reject(&im, "outside the file");

	/* phnum at its maximum: 65535 * 56 bytes cannot fit. */
	img_valid(&im);
	ehdr(&im)->e_phnum = 0xffff;
	expect_reject(&im, "outside the file");

	/* Exactly fitting table at the very end of the file is fine. */
	img_valid(&im);
	memcpy(im.buf + im.len, phdr(&im, 0), 4 * sizeof(Elf64_Phdr));
	ehdr(&im)->e_phoff = im.len;
	im.len += 4 * sizeof(Elf64_Phdr);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.nsegs, 2);
	/* ... but one byte less is not. */
	assert_int_equal(parse_len(&im, im.len - 1, &out, err, sizeof(err)), -1);
	assert_err_contains(err, "outside the file");
}

static void test_segment_beyond_file(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, 0x200000, 0x101, 0x3000);
	expect_reject(&im, "segment 3");
	expect_reject(&im, "truncated image");

	img_valid(&im);
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, UINT64_MAX, 0x200000, 0x10, 0x3000);
	expect_reject(&im, "lies outside");

	/* offset + filesz wraps around 2^64. */
	img_valid(&im);
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, 0x10, 0x200000, UINT64_MAX - 8, UINT64_MAX - 8);
	expect_reject(&im, "lies outside");
}

/* Every prefix of a valid image (whose last segment ends the file) is rejected cleanly. */
static void test_every_prefix_rejected(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_valid(&im);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	for (size_t len = 0; len < im.len; len++) {
		if (parse_len(&im, len, &out, err, sizeof(err)) != -1)
			fail_msg("prefix of %zu bytes accepted", len);
		assert_true(err[0] != 0);
	}
}

/* Overlapping segments are refused (the second would overwrite the first), naming both;
 * segments that only touch are fine. */
static void test_overlapping_segments(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_valid(&im); /* text 0x100000+0x100, data 0x200000+0x3000 */
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, 0x1000ff, 0x100, 0x3000);
	expect_reject(&im, "segment 3 (0x1000ff-0x1030ff) overlaps segment 0 (0x100000-0x100100)");
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, 0xff000, 0x100, 0x3000);
	expect_reject(&im, "overlaps segment 0"); /* starting below, ending inside */
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, 0xf0000, 0x100, 0x100000);
	expect_reject(&im, "overlaps segment 0"); /* around it */
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, 0x100100, 0x100, 0x3000);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0); /* touching */
	assert_int_equal(out.nsegs, 2);
}

static void test_filesz_exceeds_memsz(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, 0x200000, 0x100, 0xff);
	expect_reject(&im, "file size exceeds memory size");
	expect_reject(&im, "segment 3");
}

static void test_address_overflow(void **state)
{
	(void)state;
	struct img im;

	img_valid(&im);
	set_ph(&im, 3, PT_LOAD, PF_R | PF_W, DATA_OFF + 0x100, UINT64_MAX - 0xfff, 0x100, 0x2000);
	expect_reject(&im, "overflows");

	/* Only the physical range wraps. */
	img_valid(&im);
	phdr(&im, 3)->p_paddr = UINT64_MAX - 0x100;
	expect_reject(&im, "overflows");

	/* Only the virtual range wraps. */
	img_valid(&im);
	phdr(&im, 3)->p_vaddr = UINT64_MAX - 0x100;
	expect_reject(&im, "overflows");

	/* Huge memsz. */
	img_valid(&im);
	phdr(&im, 3)->p_memsz = UINT64_MAX;
	expect_reject(&im, "overflows");
}

static void test_no_pt_load(void **state)
{
	(void)state;
	struct img im;

	img_init(&im, 2, DATA_OFF + 0x100);
	set_ph(&im, 0, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0);
	set_ph(&im, 1, PT_NOTE, PF_R, DATA_OFF, 0, 0, 0);
	expect_reject(&im, "no loadable segments");

	/* PT_LOADs that are all empty count as none. */
	img_init(&im, 2, DATA_OFF + 0x100);
	set_ph(&im, 0, PT_LOAD, PF_R | PF_X, DATA_OFF, 0x100000, 0, 0);
	set_ph(&im, 1, PT_LOAD, PF_R | PF_W, DATA_OFF, 0x200000, 0, 0);
	expect_reject(&im, "no loadable segments");
}

static void test_too_many_segments(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	/* Exactly the maximum is accepted. */
	img_init(&im, ELF_MAX_SEGMENTS, DATA_OFF + 0x10);
	for (unsigned i = 0; i < ELF_MAX_SEGMENTS; i++)
		set_ph(&im, i, PT_LOAD, PF_R | PF_X, DATA_OFF, 0x100000 + i * 0x1000, 0x10, 0x1000);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.nsegs, ELF_MAX_SEGMENTS);
	assert_int_equal(out.highest, 0x100000 + ELF_MAX_SEGMENTS * 0x1000);

	/* One more is not. */
	img_init(&im, ELF_MAX_SEGMENTS + 1, DATA_OFF + 0x10);
	for (unsigned i = 0; i <= ELF_MAX_SEGMENTS; i++)
		set_ph(&im, i, PT_LOAD, PF_R | PF_X, DATA_OFF, 0x100000 + i * 0x1000, 0x10, 0x1000);
	expect_reject(&im, "too many loadable segments");

	/* Non-loadable headers do not count towards the limit. */
	img_init(&im, ELF_MAX_SEGMENTS + 4, DATA_OFF + 0x10);
	for (unsigned i = 0; i < ELF_MAX_SEGMENTS + 4; i++)
		set_ph(&im, i, i % 5 == 4 ? PT_GNU_STACK : PT_LOAD, PF_R, DATA_OFF,
		       0x100000 + i * 0x1000, 0x10, 0x1000);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.nsegs, ELF_MAX_SEGMENTS);
}

/* The error buffer is respected even when it is tiny. */
static void test_small_err_buffer(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[12];

	memset(err, 'X', sizeof(err));
	img_valid(&im);
	ehdr(&im)->e_type = ET_DYN;
	assert_int_equal(elf_parse(im.buf, im.len, &out, err, 8), -1);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'X');
}

/* --- Xen PVH note --- */

/* Append a note to buf at *pos; returns nothing, advances *pos. */
static void put_note(uint8_t *buf, size_t *pos, const char *name, uint32_t namesz,
		     uint32_t type, const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = {.n_namesz = namesz, .n_descsz = descsz, .n_type = type};
	memcpy(buf + *pos, &nh, sizeof(nh));
	*pos += sizeof(nh);
	memcpy(buf + *pos, name, namesz);
	*pos += (namesz + 3) & ~3u;
	memcpy(buf + *pos, desc, descsz);
	*pos += (descsz + 3) & ~3u;
}

#define NOTE_OFF 0x2000u

/* Turn the reference image's GNU_STACK header into a PT_NOTE over the notes already
 * written at [NOTE_OFF, NOTE_OFF + size), which end the file. */
static void img_with_notes(struct img *im, size_t notes_size)
{
	set_ph(im, 1, PT_NOTE, PF_R, NOTE_OFF, 0, notes_size, notes_size);
	im->len = NOTE_OFF + notes_size;
}

static void test_pvh_note_4byte(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];
	size_t pos = NOTE_OFF;
	uint8_t build_id[20];
	uint32_t entry32 = 0x1000abc;
	uint32_t other = 0xdeadbeef;

	memset(build_id, 0x5a, sizeof(build_id));
	img_valid(&im);
	/* An unrelated GNU note first, then a Xen note of another type, then the entry. */
	put_note(im.buf, &pos, "GNU", 4, NT_GNU_BUILD_ID, build_id, sizeof(build_id));
	put_note(im.buf, &pos, "Xen", 4, 17, &other, 4);
	put_note(im.buf, &pos, "Xen", 4, 18, &entry32, 4);
	img_with_notes(&im, pos - NOTE_OFF);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0x1000abc);
	assert_int_equal(out.entry, 0x100040);
	assert_int_equal(out.nsegs, 2);
}

static void test_pvh_note_8byte(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];
	size_t pos = NOTE_OFF;
	uint64_t entry64 = 0x123456789aull;

	img_valid(&im);
	put_note(im.buf, &pos, "Xen", 4, 18, &entry64, 8);
	img_with_notes(&im, pos - NOTE_OFF);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0x123456789aull);
}

/* Notes that look similar but are not the PVH entry are ignored. */
static void test_pvh_note_lookalikes_ignored(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];
	size_t pos = NOTE_OFF;
	uint64_t v = 0x2000000;

	img_valid(&im);
	put_note(im.buf, &pos, "GNU", 4, 18, &v, 8);    /* wrong owner */
	put_note(im.buf, &pos, "Xen", 3, 18, &v, 8);    /* name without its NUL */
	put_note(im.buf, &pos, "Xenn", 5, 18, &v, 8);   /* longer name */
	put_note(im.buf, &pos, "Xen", 4, 18, &v, 2);    /* descriptor size neither 4 nor 8 */
	put_note(im.buf, &pos, "Xen", 4, 18, &v, 0);    /* empty descriptor */
	img_with_notes(&im, pos - NOTE_OFF);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0);
}

/* A note whose descriptor runs past the end of the note segment is ignored, without reading
 * past the segment; the image still parses. */
static void test_pvh_note_truncated(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];
	size_t pos = NOTE_OFF;
	uint64_t v = 0x2000000;

	img_valid(&im);
	put_note(im.buf, &pos, "Xen", 4, 18, &v, 8);
	size_t full = pos - NOTE_OFF;
	/* Every truncation of the note segment (and of the file with it). */
	for (size_t sz = 0; sz < full; sz++) {
		img_with_notes(&im, sz);
		assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
		assert_int_equal(out.pvh_entry, 0);
	}
	img_with_notes(&im, full);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0x2000000);

	/* Header claims a huge descriptor: ignored, no overflow. */
	pos = NOTE_OFF;
	put_note(im.buf, &pos, "Xen", 4, 18, &v, 8);
	((Elf64_Nhdr *)(im.buf + NOTE_OFF))->n_descsz = UINT32_MAX;
	img_with_notes(&im, pos - NOTE_OFF);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0);

	/* ... or a huge name. */
	((Elf64_Nhdr *)(im.buf + NOTE_OFF))->n_descsz = 8;
	((Elf64_Nhdr *)(im.buf + NOTE_OFF))->n_namesz = UINT32_MAX;
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0);
}

/* A PT_NOTE whose data lies outside the file is skipped, not an error. */
static void test_pvh_note_outside_file(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_valid(&im);
	set_ph(&im, 1, PT_NOTE, PF_R, im.len - 4, 0, 0x100, 0x100);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0);
	set_ph(&im, 1, PT_NOTE, PF_R, UINT64_MAX - 4, 0, 0x100, 0x100);
	assert_int_equal(parse(&im, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_image),
		cmocka_unit_test(test_lowest_highest_unordered),
		cmocka_unit_test(test_bss_only_segment),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_shorter_than_magic),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_class_32),
		cmocka_unit_test(test_big_endian),
		cmocka_unit_test(test_wrong_machine),
		cmocka_unit_test(test_pie_rejected),
		cmocka_unit_test(test_phentsize_wrong),
		cmocka_unit_test(test_no_program_headers),
		cmocka_unit_test(test_program_headers_beyond_file),
		cmocka_unit_test(test_segment_beyond_file),
		cmocka_unit_test(test_every_prefix_rejected),
		cmocka_unit_test(test_overlapping_segments),
		cmocka_unit_test(test_filesz_exceeds_memsz),
		cmocka_unit_test(test_address_overflow),
		cmocka_unit_test(test_no_pt_load),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_pvh_note_4byte),
		cmocka_unit_test(test_pvh_note_8byte),
		cmocka_unit_test(test_pvh_note_lookalikes_ignored),
		cmocka_unit_test(test_pvh_note_truncated),
		cmocka_unit_test(test_pvh_note_outside_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
