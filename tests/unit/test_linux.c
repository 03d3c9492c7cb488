/* Unit tests for the pure Linux boot builders (src/arch/x86/linux.c): bzImage parsing, e820, zero page, initrd placement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/linux.h"
#include "core/mem.h"
#include "util/util.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define HDRS 0x53726448u /* "HdrS" */

#define assert_err_contains(err, word)                                                       \
	do {                                                                                 \
		if (!strstr((err), (word)))                                                  \
			fail_msg("error \"%s\" does not mention \"%s\"", (err), (word));     \
	} while (0)

/* --- bzImage --- */

struct fake_bz {
	uint8_t *data;
	size_t len;
};

/* A bzImage with setup_sects setup sectors (0 meaning 4) and kernel_bytes of kernel after
 * them; syssize matches the kernel. */
static struct fake_bz make_bz(uint8_t setup_sects, size_t kernel_bytes)
{
	unsigned sects = setup_sects ? setup_sects : 4;
	struct fake_bz bz;
	bz.len = (sects + 1) * 512 + kernel_bytes;
	bz.data = calloc(1, bz.len);
	assert_non_null(bz.data);
	struct setup_header h = {0};
	h.setup_sects = setup_sects;
	h.syssize = (uint32_t)((kernel_bytes + 15) / 16);
	h.boot_flag = 0xaa55;
	h.header = HDRS;
	h.version = 0x20f;
	h.loadflags = LOADED_HIGH;
	h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.cmdline_size = 2047;
	h.init_size = 0x1000000;
	memcpy(bz.data + 0x1f1, &h, sizeof(h));
	for (size_t i = (sects + 1) * 512; i < bz.len; i++)
		bz.data[i] = (uint8_t)(i * 7);
	return bz;
}

static struct setup_header *hdr_of(struct fake_bz *bz)
{
	return (struct setup_header *)(bz->data + 0x1f1);
}

/* Parse with a buffer of exactly len bytes (a heap copy) so over-reads are detected. */
static int bz_parse_len(const struct fake_bz *bz, size_t len, struct bzimage *out, char *err,
			size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, bz->data, len);
	err[0] = 0;
	int rc = linux_bzimage_parse(copy, len, out, err, errlen);
	free(copy);
	return rc;
}

static void expect_bz_reject(struct fake_bz *bz, const char *word)
{
	struct bzimage out;
	char err[256];
	assert_int_equal(bz_parse_len(bz, bz->len, &out, err, sizeof(err)), -1);
	assert_err_contains(err, word);
}

static void test_bz_valid(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(7, 0x4000);
	struct bzimage out;
	char err[256];

	assert_int_equal(bz_parse_len(&bz, bz.len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.kernel_offset, 8 * 512);
	assert_int_equal(out.kernel_size, 0x4000);
	assert_int_equal(out.kernel_offset + out.kernel_size, bz.len);
	/* The header is the image's, field by field. */
	assert_memory_equal(&out.hdr, bz.data + 0x1f1, sizeof(out.hdr));
	assert_int_equal(out.hdr.version, 0x20f);
	assert_int_equal(out.hdr.init_size, 0x1000000);
	assert_int_equal(out.hdr.cmdline_size, 2047);
	free(bz.data);
}

static void test_bz_setup_sects_zero_means_four(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(0, 0x1000);
	struct bzimage out;
	char err[256];

	assert_int_equal(bz_parse_len(&bz, bz.len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.kernel_offset, 5 * 512);
	assert_int_equal(out.kernel_size, 0x1000);
	free(bz.data);

	/* And 4 written out is the same. */
	bz = make_bz(4, 0x1000);
	assert_int_equal(bz_parse_len(&bz, bz.len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.kernel_offset, 5 * 512);
	free(bz.data);

	/* A large setup (e.g. 0x3f sectors as in recent kernels). */
	bz = make_bz(0x3f, 0x1000);
	assert_int_equal(bz_parse_len(&bz, bz.len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.kernel_offset, 0x40 * 512);
	free(bz.data);
}

static void test_bz_too_small(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(4, 0x1000);
	struct bzimage out;
	char err[256];
	const size_t hdr_end = 0x1f1 + sizeof(struct setup_header);

	for (size_t len = 0; len < hdr_end; len += (len < 0x1f1 ? 0x40 : 1)) {
		assert_int_equal(bz_parse_len(&bz, len, &out, err, sizeof(err)), -1);
		assert_err_contains(err, "too small");
	}
	assert_int_equal(bz_parse_len(&bz, hdr_end - 1, &out, err, sizeof(err)), -1);
	assert_err_contains(err, "too small");
	free(bz.data);
}

static void test_bz_no_hdrs(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(4, 0x1000);
	hdr_of(&bz)->header = 0x53726447;
	expect_bz_reject(&bz, "HdrS");
	/* An ELF file is not a bzImage either. */
	memset(bz.data, 0, bz.len);
	memcpy(bz.data, "\177ELF", 4);
	expect_bz_reject(&bz, "HdrS");
	free(bz.data);
}

static void test_bz_bad_boot_flag(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(4, 0x1000);
	hdr_of(&bz)->boot_flag = 0x55aa;
	expect_bz_reject(&bz, "boot sector signature");
	free(bz.data);
}

static void test_bz_old_protocol(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(4, 0x1000);
	struct bzimage out;
	char err[256];

	hdr_of(&bz)->version = 0x205;
	expect_bz_reject(&bz, "2.06");
	hdr_of(&bz)->version = 0x200;
	expect_bz_reject(&bz, "older than 2.06");
	hdr_of(&bz)->version = 0x206;
	assert_int_equal(bz_parse_len(&bz, bz.len, &out, err, sizeof(err)), 0);
	free(bz.data);
}

static void test_bz_no_64bit_entry(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(4, 0x1000);
	hdr_of(&bz)->xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G; /* everything but KERNEL_64 */
	expect_bz_reject(&bz, "XLF_KERNEL_64");
	hdr_of(&bz)->xloadflags = 0;
	expect_bz_reject(&bz, "64-bit entry");
	free(bz.data);
}

static void test_bz_not_loaded_high(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(4, 0x1000);
	hdr_of(&bz)->loadflags = CAN_USE_HEAP; /* no LOADED_HIGH */
	expect_bz_reject(&bz, "zImage");
	free(bz.data);
}

static void test_bz_truncated(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(4, 0x1000);
	struct bzimage out;
	char err[256];

	/* syssize says one 16-byte paragraph more than there is. */
	hdr_of(&bz)->syssize = 0x1000 / 16 + 1;
	expect_bz_reject(&bz, "truncated bzImage");
	expect_bz_reject(&bz, "shorter than its header");
	/* Exactly as long as it says: fine. */
	hdr_of(&bz)->syssize = 0x1000 / 16;
	assert_int_equal(bz_parse_len(&bz, bz.len, &out, err, sizeof(err)), 0);
	/* Cut the file: every cut inside the kernel is caught. */
	for (size_t len = bz.len - 1; len > 5 * 512; len -= 0x101) {
		assert_int_equal(bz_parse_len(&bz, len, &out, err, sizeof(err)), -1);
		assert_err_contains(err, "truncated bzImage");
	}
	/* Nothing after the setup sectors. */
	assert_int_equal(bz_parse_len(&bz, 5 * 512, &out, err, sizeof(err)), -1);
	assert_err_contains(err, "no protected-mode kernel");
	/* setup_sects pointing past the end of the file. */
	hdr_of(&bz)->setup_sects = 0xff;
	expect_bz_reject(&bz, "no protected-mode kernel");
	free(bz.data);
}

/* --- e820 --- */

static void expect_entry(const struct e820_map *m, unsigned i, uint64_t addr, uint64_t size,
			 uint32_t type)
{
	assert_true(i < m->n);
	if (m->e[i].addr != addr || m->e[i].size != size || m->e[i].type != type)
		fail_msg("e820[%u] = {0x%llx, 0x%llx, %u}, want {0x%llx, 0x%llx, %u}", i,
			 (unsigned long long)m->e[i].addr, (unsigned long long)m->e[i].size,
			 m->e[i].type, (unsigned long long)addr, (unsigned long long)size, type);
}

/* Entries are sorted, do not overlap, and RAM entries total the guest's RAM (below 1 MiB
 * only the 639 KiB of conventional memory count). */
static void check_sane(const struct e820_map *map, const struct guest_mem *m)
{
	uint64_t ram = 0, prev_end = 0;
	assert_true(map->n <= E820_MAX);
	for (unsigned i = 0; i < map->n; i++) {
		assert_true(map->e[i].size > 0);
		assert_true(map->e[i].addr >= prev_end);
		prev_end = map->e[i].addr + map->e[i].size;
		if (map->e[i].type == E820_RAM)
			ram += map->e[i].size;
		/* Every RAM byte is backed by a region. */
		if (map->e[i].type == E820_RAM) {
			bool inside = false;
			for (unsigned r = 0; r < m->nregions; r++)
				if (map->e[i].addr >= m->regions[r].gpa &&
				    prev_end <= m->regions[r].gpa + m->regions[r].size)
					inside = true;
			if (!inside)
				fail_msg("e820[%u] RAM 0x%llx+0x%llx is not guest RAM", i,
					 (unsigned long long)map->e[i].addr,
					 (unsigned long long)map->e[i].size);
		}
	}
	assert_int_equal(ram, m->ram_size - (0x100000 - LINUX_EBDA_START));
}

static void test_e820_below_3g(void **state)
{
	(void)state;
	struct guest_mem m;
	struct e820_map map;

	mem_layout(&m, 512 * MiB, 3 * GiB);
	memset(&map, 0xee, sizeof(map));
	linux_e820(&m, &map);
	assert_int_equal(map.n, 4);
	expect_entry(&map, 0, 0, LINUX_EBDA_START, E820_RAM);
	expect_entry(&map, 1, LINUX_EBDA_START, 0xa0000 - LINUX_EBDA_START, E820_RESERVED);
	expect_entry(&map, 2, 0xf0000, 0x10000, E820_RESERVED);
	expect_entry(&map, 3, 0x100000, 512 * MiB - 0x100000, E820_RAM);
	check_sane(&map, &m);
	/* Unused slots are cleared. */
	for (unsigned i = map.n; i < E820_MAX; i++)
		assert_int_equal(map.e[i].size, 0);

	/* Exactly 3 GiB still fits below the hole: one region, one high entry. */
	mem_layout(&m, 3 * GiB, 3 * GiB);
	linux_e820(&m, &map);
	assert_int_equal(map.n, 4);
	expect_entry(&map, 3, 0x100000, 3 * GiB - 0x100000, E820_RAM);
	check_sane(&map, &m);
}

static void test_e820_above_3g(void **state)
{
	(void)state;
	struct guest_mem m;
	struct e820_map map;

	mem_layout(&m, 6 * GiB, 3 * GiB);
	linux_e820(&m, &map);
	assert_int_equal(map.n, 5);
	expect_entry(&map, 0, 0, LINUX_EBDA_START, E820_RAM);
	expect_entry(&map, 3, 0x100000, 3 * GiB - 0x100000, E820_RAM);
	expect_entry(&map, 4, 4 * GiB, 3 * GiB, E820_RAM);
	check_sane(&map, &m);

	/* Just over the hole start: a one-page region at 4 GiB. */
	mem_layout(&m, 3 * GiB + 4096, 3 * GiB);
	linux_e820(&m, &map);
	assert_int_equal(map.n, 5);
	expect_entry(&map, 4, 4 * GiB, 4096, E820_RAM);
	check_sane(&map, &m);

	/* Nothing maps the 3-4 GiB hole. */
	for (unsigned i = 0; i < map.n; i++)
		assert_true(map.e[i].addr + map.e[i].size <= 3 * GiB || map.e[i].addr >= 4 * GiB);
}

static void test_e820_tiny(void **state)
{
	(void)state;
	struct guest_mem m;
	struct e820_map map;

	/* Exactly 1 MiB: no RAM above the BIOS area. */
	mem_layout(&m, 1 * MiB, 3 * GiB);
	linux_e820(&m, &map);
	assert_int_equal(map.n, 3);
	expect_entry(&map, 0, 0, LINUX_EBDA_START, E820_RAM);
	expect_entry(&map, 2, 0xf0000, 0x10000, E820_RESERVED);
	check_sane(&map, &m);

	/* 1 MiB + one page. */
	mem_layout(&m, 1 * MiB + 4096, 3 * GiB);
	linux_e820(&m, &map);
	assert_int_equal(map.n, 4);
	expect_entry(&map, 3, 0x100000, 4096, E820_RAM);

	/* The smallest RAM the VMM allows a Linux guest. */
	mem_layout(&m, 32 * MiB, 3 * GiB);
	linux_e820(&m, &map);
	assert_int_equal(map.n, 4);
	expect_entry(&map, 3, 0x100000, 31 * MiB, E820_RAM);
	check_sane(&map, &m);
}

/* --- boot params (zero page) --- */

static struct e820_map sample_e820(void)
{
	struct guest_mem m;
	struct e820_map map;
	mem_layout(&m, 6 * GiB, 3 * GiB);
	linux_e820(&m, &map);
	return map;
}

/* The kernel's cmdline_size bounds the command line; a huge one must not wrap. */
static void test_cmdline_limit(void **state)
{
	(void)state;
	assert_int_equal(linux_cmdline_limit(2047), 2048);
	assert_int_equal(linux_cmdline_limit(255), 256);
	assert_int_equal(linux_cmdline_limit(0), LINUX_CMDLINE_MAX);
	assert_int_equal(linux_cmdline_limit(LINUX_CMDLINE_MAX), LINUX_CMDLINE_MAX);
	assert_int_equal(linux_cmdline_limit(0xFFFFFFFEu), LINUX_CMDLINE_MAX);
	assert_int_equal(linux_cmdline_limit(0xFFFFFFFFu), LINUX_CMDLINE_MAX);
}

static void test_boot_params_from_bzimage(void **state)
{
	(void)state;
	struct fake_bz bz = make_bz(7, 0x4000);
	struct bzimage img;
	char err[256];
	struct e820_map map = sample_e820();
	struct boot_params *bp = malloc(sizeof(*bp));

	assert_non_null(bp);
	memset(bp, 0xa5, sizeof(*bp)); /* stale contents must not survive */
	assert_int_equal(bz_parse_len(&bz, bz.len, &img, err, sizeof(err)), 0);
	linux_boot_params(bp, &img.hdr, LINUX_CMDLINE_ADDR, 57, 0x7f00000, 0x123456, &map);

	/* The kernel's own header fields are kept. */
	assert_int_equal(bp->hdr.header, HDRS);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.version, 0x20f);
	assert_int_equal(bp->hdr.setup_sects, 7);
	assert_int_equal(bp->hdr.init_size, 0x1000000);
	assert_int_equal(bp->hdr.xloadflags, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
	/* What the loader fills in. */
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_true(bp->hdr.loadflags & LOADED_HIGH);
	assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
	assert_int_equal(bp->hdr.cmd_line_ptr, LINUX_CMDLINE_ADDR);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(bp->hdr.cmdline_size, 57);
	assert_int_equal(bp->hdr.ramdisk_image, 0x7f00000);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0x123456);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	/* e820 copied, and nothing after it. */
	assert_int_equal(bp->e820_entries, map.n);
	assert_memory_equal(bp->e820_table, map.e, map.n * sizeof(map.e[0]));
	assert_int_equal(bp->e820_table[map.n].size, 0);
	assert_int_equal(bp->e820_table[map.n].addr, 0);
	/* Everything else is zeroed (spot checks across the page). */
	assert_int_equal(bp->screen_info.orig_video_isVGA, 0);
	assert_int_equal(bp->acpi_rsdp_addr, 0);
	assert_int_equal(bp->hdr.setup_data, 0);
	assert_int_equal(bp->sentinel, 0);
	free(bp);
	free(bz.data);
}

/* 64-bit addresses and sizes are split into the 32-bit header field and ext_*. */
static void test_boot_params_64bit_split(void **state)
{
	(void)state;
	struct e820_map map = sample_e820();
	struct boot_params *bp = calloc(1, sizeof(*bp));

	assert_non_null(bp);
	linux_boot_params(bp, NULL, 0x123456789ull, 100, 0x1ffff0000ull, 0x300001000ull, &map);
	assert_int_equal(bp->hdr.cmd_line_ptr, 0x23456789);
	assert_int_equal(bp->ext_cmd_line_ptr, 0x1);
	assert_int_equal(bp->hdr.ramdisk_image, 0xffff0000);
	assert_int_equal(bp->ext_ramdisk_image, 0x1);
	assert_int_equal(bp->hdr.ramdisk_size, 0x1000);
	assert_int_equal(bp->ext_ramdisk_size, 0x3);
	/* Reassembled, they are the originals. */
	assert_int_equal(((uint64_t)bp->ext_ramdisk_image << 32) | bp->hdr.ramdisk_image,
			 0x1ffff0000ull);
	assert_int_equal(((uint64_t)bp->ext_ramdisk_size << 32) | bp->hdr.ramdisk_size,
			 0x300001000ull);
	free(bp);
}

/* No header (vmlinux): a minimal valid one is synthesized. */
static void test_boot_params_synthesized_header(void **state)
{
	(void)state;
	struct e820_map map = sample_e820();
	struct boot_params *bp = malloc(sizeof(*bp));

	assert_non_null(bp);
	memset(bp, 0xa5, sizeof(*bp));
	linux_boot_params(bp, NULL, LINUX_CMDLINE_ADDR, 10, 0, 0, &map);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, HDRS);
	assert_memory_equal(&bp->hdr.header, "HdrS", 4);
	assert_true(bp->hdr.version >= 0x206);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_true(bp->hdr.loadflags & LOADED_HIGH);
	assert_int_equal(bp->hdr.cmd_line_ptr, LINUX_CMDLINE_ADDR);
	assert_int_equal(bp->hdr.cmdline_size, 10);
	/* No initrd. */
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	assert_int_equal(bp->e820_entries, 5);
	assert_memory_equal(bp->e820_table, map.e, 5 * sizeof(map.e[0]));
	/* Fields a synthesized header has no business setting. */
	assert_int_equal(bp->hdr.setup_sects, 0);
	assert_int_equal(bp->hdr.syssize, 0);
	free(bp);
}

/* --- initrd placement --- */

static void test_initrd_highest_fit(void **state)
{
	(void)state;
	struct guest_mem m;

	mem_layout(&m, 512 * MiB, 3 * GiB);
	/* Page-sized: flush against the top of RAM. */
	assert_int_equal(linux_initrd_addr(&m, 10 * MiB, 16 * MiB, 4 * GiB), 502 * MiB);
	/* Not a page multiple: rounded down to a page, still as high as possible. */
	uint64_t a = linux_initrd_addr(&m, 0x1234, 16 * MiB, 4 * GiB);
	assert_int_equal(a % 4096, 0);
	assert_true(a + 0x1234 <= 512 * MiB);
	assert_true(a + 4096 + 0x1234 > 512 * MiB);
	assert_int_equal(a, 512 * MiB - 0x2000);
}

/* The limit (exclusive) caps it when it is below the top of RAM, e.g. initrd_addr_max. */
static void test_initrd_limit(void **state)
{
	(void)state;
	struct guest_mem m;

	mem_layout(&m, 2 * GiB, 3 * GiB);
	assert_int_equal(linux_initrd_addr(&m, 1 * MiB, 16 * MiB, 0x37ffffffull + 1),
			 0x38000000ull - 1 * MiB);
	/* An unaligned limit. */
	uint64_t a = linux_initrd_addr(&m, 4096, 16 * MiB, 0x10000800);
	assert_int_equal(a, 0x0ffff000);
	assert_true(a + 4096 <= 0x10000800);

	/* Only the RAM below the hole is used, even if the limit is higher. */
	mem_layout(&m, 6 * GiB, 3 * GiB);
	assert_int_equal(linux_initrd_addr(&m, 1 * MiB, 16 * MiB, 4 * GiB), 3 * GiB - 1 * MiB);
	assert_int_equal(linux_initrd_addr(&m, 1 * MiB, 16 * MiB, UINT64_MAX),
			 3 * GiB - 1 * MiB);
}

static void test_initrd_floor(void **state)
{
	(void)state;
	struct guest_mem m;

	mem_layout(&m, 64 * MiB, 3 * GiB);
	/* Fits exactly between the floor and the top. */
	assert_int_equal(linux_initrd_addr(&m, 48 * MiB, 16 * MiB, 4 * GiB), 16 * MiB);
	/* One page too big. */
	assert_int_equal(linux_initrd_addr(&m, 48 * MiB + 4096, 16 * MiB, 4 * GiB), 0);
	/* One byte too big: rounding down to a page pushes it under the floor. */
	assert_int_equal(linux_initrd_addr(&m, 48 * MiB + 1, 16 * MiB, 4 * GiB), 0);
	/* Floor above RAM. */
	assert_int_equal(linux_initrd_addr(&m, 4096, 128 * MiB, 4 * GiB), 0);
}

static void test_initrd_does_not_fit(void **state)
{
	(void)state;
	struct guest_mem m;

	mem_layout(&m, 64 * MiB, 3 * GiB);
	assert_int_equal(linux_initrd_addr(&m, 64 * MiB + 1, 0, 4 * GiB), 0);
	assert_int_equal(linux_initrd_addr(&m, UINT64_MAX, 0, 4 * GiB), 0);
	/* Larger than the limit. */
	assert_int_equal(linux_initrd_addr(&m, 2 * MiB, 0, 1 * MiB), 0);
	/* Empty initrd: nothing to place. */
	assert_int_equal(linux_initrd_addr(&m, 0, 16 * MiB, 4 * GiB), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bz_valid),
		cmocka_unit_test(test_bz_setup_sects_zero_means_four),
		cmocka_unit_test(test_bz_too_small),
		cmocka_unit_test(test_bz_no_hdrs),
		cmocka_unit_test(test_bz_bad_boot_flag),
		cmocka_unit_test(test_bz_old_protocol),
		cmocka_unit_test(test_bz_no_64bit_entry),
		cmocka_unit_test(test_bz_not_loaded_high),
		cmocka_unit_test(test_bz_truncated),
		cmocka_unit_test(test_e820_below_3g),
		cmocka_unit_test(test_e820_above_3g),
		cmocka_unit_test(test_e820_tiny),
		cmocka_unit_test(test_cmdline_limit),
		cmocka_unit_test(test_boot_params_from_bzimage),
		cmocka_unit_test(test_boot_params_64bit_split),
		cmocka_unit_test(test_boot_params_synthesized_header),
		cmocka_unit_test(test_initrd_highest_fit),
		cmocka_unit_test(test_initrd_limit),
		cmocka_unit_test(test_initrd_floor),
		cmocka_unit_test(test_initrd_does_not_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
