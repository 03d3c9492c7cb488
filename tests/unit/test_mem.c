/* Unit tests for guest RAM layout and the checked accessor mem_ptr/mem_top (src/core/mem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mem.h"
#include "util/util.h"

/* --- mem_layout / mem_top --- */

static void test_layout_single_region(void **state)
{
	(void)state;
	struct guest_mem m;

	memset(&m, 0xee, sizeof(m));
	mem_layout(&m, 512 * MiB, 3 * GiB);
	assert_int_equal(m.nregions, 1);
	assert_int_equal(m.ram_size, 512 * MiB);
	assert_int_equal(m.regions[0].gpa, 0);
	assert_int_equal(m.regions[0].size, 512 * MiB);
	assert_null(m.regions[0].hva);
	assert_null(m.base);
	assert_int_equal(mem_top(&m), 512 * MiB);

	/* No hole requested (bare guests): one region however large. */
	mem_layout(&m, 8 * GiB, 0);
	assert_int_equal(m.nregions, 1);
	assert_int_equal(m.regions[0].size, 8 * GiB);
	assert_int_equal(mem_top(&m), 8 * GiB);

	/* RAM exactly up to the hole: still one region. */
	mem_layout(&m, 3 * GiB, 3 * GiB);
	assert_int_equal(m.nregions, 1);
	assert_int_equal(mem_top(&m), 3 * GiB);
}

static void test_layout_split(void **state)
{
	(void)state;
	struct guest_mem m;

	mem_layout(&m, 6 * GiB, 3 * GiB);
	assert_int_equal(m.nregions, 2);
	assert_int_equal(m.ram_size, 6 * GiB);
	assert_int_equal(m.regions[0].gpa, 0);
	assert_int_equal(m.regions[0].size, 3 * GiB);
	assert_int_equal(m.regions[1].gpa, 4 * GiB);
	assert_int_equal(m.regions[1].size, 3 * GiB);
	assert_int_equal(m.regions[0].size + m.regions[1].size, m.ram_size);
	assert_int_equal(mem_top(&m), 7 * GiB);

	/* One byte over the hole start. */
	mem_layout(&m, 3 * GiB + 1, 3 * GiB);
	assert_int_equal(m.nregions, 2);
	assert_int_equal(m.regions[1].size, 1);
	assert_int_equal(mem_top(&m), 4 * GiB + 1);
}

/* --- mem_ptr on a small split RAM backed by a real buffer --- */

#define LOW (4 * MiB)  /* region 0: [0, LOW) */
#define HIGH (2 * MiB) /* region 1: [4 GiB, 4 GiB + HIGH) */

struct fixture {
	struct guest_mem m;
	uint8_t *buf;
};

static int setup_split(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->buf = calloc(1, LOW + HIGH);
	if (!f->buf) {
		free(f);
		return -1;
	}
	mem_layout(&f->m, LOW + HIGH, LOW);
	f->m.base = f->buf;
	f->m.regions[0].hva = f->buf;
	f->m.regions[1].hva = f->buf + LOW;
	*state = f;
	return 0;
}

static int teardown_split(void **state)
{
	struct fixture *f = *state;
	free(f->buf);
	free(f);
	return 0;
}

static void test_ptr_in_range(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	assert_ptr_equal(mem_ptr(m, 0, 0), f->buf);
	assert_ptr_equal(mem_ptr(m, 0, 1), f->buf);
	assert_ptr_equal(mem_ptr(m, 0x1234, 16), f->buf + 0x1234);
	assert_ptr_equal(mem_ptr(m, 0, LOW), f->buf);
	assert_ptr_equal(mem_ptr(m, LOW - 1, 1), f->buf + LOW - 1);
	assert_ptr_equal(mem_ptr(m, 4 * GiB, 1), f->buf + LOW);
	assert_ptr_equal(mem_ptr(m, 4 * GiB + 0x10, 0x20), f->buf + LOW + 0x10);
	assert_ptr_equal(mem_ptr(m, 4 * GiB, HIGH), f->buf + LOW);
	assert_ptr_equal(mem_ptr(m, 4 * GiB + HIGH - 8, 8), f->buf + LOW + HIGH - 8);

	/* The pointers are usable: writes through guest addresses land in the buffer. */
	uint32_t *p = mem_ptr(m, 0x2000, sizeof(*p));
	*p = 0xfeedf00d;
	uint32_t v;
	memcpy(&v, f->buf + 0x2000, 4);
	assert_int_equal(v, 0xfeedf00d);
}

/* len 0 is allowed right at the end of a region (an empty range), nothing beyond. */
static void test_ptr_exact_end(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	assert_ptr_equal(mem_ptr(m, LOW, 0), f->buf + LOW);
	assert_ptr_equal(mem_ptr(m, 4 * GiB + HIGH, 0), f->buf + LOW + HIGH);
	assert_null(mem_ptr(m, LOW + 1, 0));
	assert_null(mem_ptr(m, 4 * GiB + HIGH + 1, 0));
}

static void test_ptr_one_past_end(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	assert_null(mem_ptr(m, LOW, 1));
	assert_null(mem_ptr(m, LOW - 1, 2));
	assert_null(mem_ptr(m, 0, LOW + 1));
	assert_null(mem_ptr(m, 4 * GiB + HIGH, 1));
	assert_null(mem_ptr(m, 4 * GiB + HIGH - 1, 2));
	assert_null(mem_ptr(m, 4 * GiB, HIGH + 1));
	assert_null(mem_ptr(m, 4 * GiB - 1, 1)); /* just below region 1 */
}

static void test_ptr_len_larger_than_ram(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	assert_null(mem_ptr(m, 0, LOW + HIGH));
	assert_null(mem_ptr(m, 0, LOW + HIGH + 1));
	assert_null(mem_ptr(m, 4 * GiB, LOW + HIGH));
	assert_null(mem_ptr(m, 0, 8 * GiB));
}

/* gpa + len wraps around 2^64: must not pass as a small range. */
static void test_ptr_overflow(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	assert_null(mem_ptr(m, UINT64_MAX, 1));
	assert_null(mem_ptr(m, UINT64_MAX, 0));
	assert_null(mem_ptr(m, UINT64_MAX - 0xf, 0x20));
	assert_null(mem_ptr(m, 0x1000, UINT64_MAX - 0xfff)); /* 0x1000 + len == 1 */
	assert_null(mem_ptr(m, 0x1000, UINT64_MAX - 0xfff + 1)); /* wraps to exactly 0 */
	assert_null(mem_ptr(m, 4 * GiB + 0x10, UINT64_MAX - 4 * GiB)); /* wraps to 0xf */
	assert_null(mem_ptr(m, (uint64_t)-LOW, LOW)); /* ends exactly at 2^64 */
}

static void test_ptr_huge_len(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	static const uint64_t lens[] = {UINT64_MAX, UINT64_MAX - 1, 1ull << 63, (1ull << 63) + 1,
					1ull << 32, (1ull << 32) + 1, 0xffffffffull};
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		assert_null(mem_ptr(m, 0, lens[i]));
		assert_null(mem_ptr(m, 1, lens[i]));
		assert_null(mem_ptr(m, 4 * GiB, lens[i]));
	}
}

/* Addresses in the hole between the regions are not RAM. */
static void test_ptr_in_hole(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	assert_null(mem_ptr(m, LOW, 1));
	assert_null(mem_ptr(m, LOW + 0x1000, 4));
	assert_null(mem_ptr(m, 3 * GiB, 1));
	assert_null(mem_ptr(m, 4 * GiB - 4, 4));
	assert_null(mem_ptr(m, 2 * GiB, 0));
}

/* A range spanning both regions is rejected, even though region 1's host memory directly
 * follows region 0's. */
static void test_ptr_spanning_regions(void **state)
{
	struct fixture *f = *state;
	const struct guest_mem *m = &f->m;

	assert_ptr_equal(m->regions[0].hva + m->regions[0].size, m->regions[1].hva);
	assert_null(mem_ptr(m, LOW - 16, 32));
	assert_null(mem_ptr(m, 4 * GiB - 16, 32));
	assert_null(mem_ptr(m, LOW - 1, 4 * GiB - LOW + 2));
	assert_null(mem_ptr(m, 0, 4 * GiB + 1));
	assert_null(mem_ptr(m, 0, 4 * GiB + HIGH));
}

/* Region without a host mapping (laid out, not mapped): no pointer even in range. */
static void test_ptr_unmapped(void **state)
{
	(void)state;
	struct guest_mem m;

	mem_layout(&m, 16 * MiB, 0);
	assert_null(mem_ptr(&m, 0, 16));
	assert_null(mem_ptr(&m, 1 * MiB, 0));
}

/* The real 3-4 GiB hole of a Linux guest with 6 GiB. Host addresses are never dereferenced
 * here, so the regions get fake ones and only offsets are compared. */
static void test_ptr_real_hole(void **state)
{
	(void)state;
	struct guest_mem m;
	uint8_t *fake = (uint8_t *)(uintptr_t)0x100000000000ull;

	mem_layout(&m, 6 * GiB, 3 * GiB);
	m.regions[0].hva = fake;
	m.regions[1].hva = fake + 3 * GiB;
#define OFF(p) ((uint64_t)((uintptr_t)(p) - (uintptr_t)fake))
	assert_int_equal(OFF(mem_ptr(&m, 0, 4096)), 0);
	assert_int_equal(OFF(mem_ptr(&m, 3 * GiB - 4096, 4096)), 3 * GiB - 4096);
	assert_int_equal(OFF(mem_ptr(&m, 4 * GiB, 4096)), 3 * GiB);
	assert_int_equal(OFF(mem_ptr(&m, 7 * GiB - 1, 1)), 6 * GiB - 1);
	assert_int_equal(OFF(mem_ptr(&m, 5 * GiB, 2 * GiB)), 4 * GiB);
#undef OFF
	/* The hole: LAPIC, IOAPIC, and everything else in 3-4 GiB. */
	assert_null(mem_ptr(&m, 3 * GiB, 1));
	assert_null(mem_ptr(&m, 0xfee00000, 4));
	assert_null(mem_ptr(&m, 0xfec00000, 4));
	assert_null(mem_ptr(&m, 4 * GiB - 1, 1));
	/* Spanning the hole, either side. */
	assert_null(mem_ptr(&m, 3 * GiB - 4096, 8192));
	assert_null(mem_ptr(&m, 4 * GiB - 4096, 8192));
	assert_null(mem_ptr(&m, 0, 6 * GiB));
	/* Past the top. */
	assert_null(mem_ptr(&m, 7 * GiB, 1));
	assert_null(mem_ptr(&m, 7 * GiB - 1, 2));
	assert_null(mem_ptr(&m, 4 * GiB, 3 * GiB + 1));
}

/* mem_map gives every region a host address, in one contiguous writable mapping. */
static void test_map_unmap(void **state)
{
	(void)state;
	struct guest_mem m;

	mem_layout(&m, 4 * MiB, 2 * MiB);
	assert_int_equal(mem_map(&m, false), 0);
	assert_non_null(m.base);
	assert_int_equal((uintptr_t)m.base % (2 * MiB), 0);
	assert_ptr_equal(m.regions[0].hva, m.base);
	assert_ptr_equal(m.regions[1].hva, m.base + 2 * MiB);
	assert_false(m.huge);

	uint8_t *lo = mem_ptr(&m, 2 * MiB - 1, 1);
	uint8_t *hi = mem_ptr(&m, 4 * GiB, 1);
	assert_non_null(lo);
	assert_non_null(hi);
	assert_int_equal(*lo, 0); /* anonymous memory starts zeroed */
	*lo = 0x11;
	*hi = 0x22;
	assert_int_equal(m.base[2 * MiB - 1], 0x11);
	assert_int_equal(m.base[2 * MiB], 0x22);
	assert_null(mem_ptr(&m, 2 * MiB, 1)); /* hole */
	assert_null(mem_ptr(&m, 4 * GiB + 2 * MiB, 1));
	assert_int_equal(mem_top(&m), 4 * GiB + 2 * MiB);

	mem_unmap(&m);
	assert_null(m.base);
	mem_unmap(&m); /* idempotent */
	assert_null(m.base);
}

/* A template's RAM in a file, a clone's private view of it: what the template wrote is
 * there; what the clone writes is its own; mem_restore puts back exactly the pages it is
 * told of (the guest's, as KVM's dirty log says, and those the VMM noted), and with no
 * dirty log every page the clone holds a copy of. */
static void test_file_private_restore(void **state)
{
	(void)state;
	struct guest_mem m;
	const uint64_t pages = 2048; /* 8 MiB */

	mem_layout(&m, pages * 4096, 0);
	assert_int_equal(mem_map_file(&m, false), 0);
	assert_true(m.file);
	for (uint64_t pg = 0; pg < pages; pg++) /* the template's contents */
		memset(m.base + pg * 4096, (int)(pg % 251) + 1, 4096);
	assert_null(m.written);
	assert_int_equal(mem_private(&m), 0);
	assert_true(m.private_view);
	assert_non_null(m.written);
	assert_int_equal(mem_private(&m), 0); /* already: nothing */
	assert_int_equal(m.base[5 * 4096], 6); /* the template's, through the private view */

	/* The clone writes pages 3, 100, 200 and 300; the dirty log names 3 and 100, the VMM
	 * noted 200 (a buffer spanning into 201, untouched), nobody names 300. */
	for (uint64_t pg = 3; pg <= 300; pg = pg == 3 ? 100 : pg + 100)
		memset(m.base + pg * 4096, 0xee, 4096);
	assert_int_equal(m.pristine[100 * 4096], 101 % 251); /* the file is untouched */
	uint64_t bits[MEM_BITMAP_WORDS(2048 * 4096)] = {0};
	bits[0] |= 1ull << 3;
	bits[100 / 64] |= 1ull << (100 % 64);
	uint64_t *dirty[] = {bits};
	mem_note_write(&m, m.base + 200 * 4096 + 4000, 200);
	mem_note_write(&m, m.base - 1, 1);             /* outside RAM: ignored */
	mem_note_write(&m, m.base + pages * 4096, 10); /* past the end: ignored */
	assert_int_equal(mem_restore(&m, dirty), 4); /* 3, 100, 200 and 201 */
	assert_int_equal(m.base[3 * 4096 + 17], 4);
	assert_int_equal(m.base[100 * 4096], 101 % 251);
	assert_int_equal(m.base[200 * 4096 + 4095], 201 % 251);
	assert_int_equal(m.base[300 * 4096], 0xee); /* not named: left as it is */
	/* The notes are forgotten: the same again restores only what the log names. */
	memset(bits, 0, sizeof(bits));
	assert_int_equal(mem_restore(&m, dirty), 0);

	/* No dirty log: every private copy goes back (300, and the pages restored before,
	 * which the copying made private too). */
	m.base[1500 * 4096] = 0x55;
	long n = mem_restore(&m, NULL);
	assert_int_equal(n, 6); /* 3, 100, 200, 201, 300, 1500 */
	assert_int_equal(m.base[300 * 4096], 301 % 251);
	assert_int_equal(m.base[1500 * 4096], 1501 % 251);
	for (uint64_t pg = 0; pg < pages; pg++)
		assert_int_equal(m.base[pg * 4096 + 7], (int)(pg % 251) + 1);
	mem_unmap(&m);
	assert_false(m.file);
	assert_null(m.written);
}

/* Whether this process holds page pg of m privately (a copy of its own, not the file's). */
static bool held_privately(const struct guest_mem *m, uint64_t pg)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	assert_true(fd >= 0);
	off_t at = (off_t)(((uintptr_t)m->base / 4096 + pg) * sizeof(e));
	assert_int_equal(pread(fd, &e, sizeof(e), at), sizeof(e));
	close(fd);
	return (e >> 63 & 1) && !(e >> 61 & 1); /* present, not a file page */
}

/* A reused clone: long runs of written pages are dropped (the file's read again), short
 * ones copied back; the copies stay private, until they are over MEM_TRIM_PAGES and
 * MEM_TRIM_RATIO times what one reset puts back; then every private page is dropped and
 * RAM reads the template's. */
static void test_restore_trims(void **state)
{
	(void)state;
	struct guest_mem m;
	const uint64_t pages = 4096; /* 16 MiB */
	mem_layout(&m, pages * 4096, 0);
	assert_int_equal(mem_map_file(&m, false), 0);
	for (uint64_t pg = 0; pg < pages; pg++)
		memset(m.base + pg * 4096, (int)(pg % 251) + 1, 4096);
	assert_int_equal(mem_private(&m), 0);
	uint64_t bits[MEM_BITMAP_WORDS(4096 * 4096)];
	uint64_t *dirty[] = {bits};

	/* A run of 64 pages (256 KiB written in one go, across two words of the bitmaps):
	 * dropped, nothing kept. */
	memset(bits, 0, sizeof(bits));
	for (uint64_t pg = 3500; pg < 3564; pg++) {
		m.base[pg * 4096 + 9] = 0x7f;
		bits[pg / 64] |= 1ull << (pg % 64);
	}
	assert_true(held_privately(&m, 3500));
	assert_int_equal(mem_restore(&m, dirty), 64);
	assert_int_equal(m.nkept, 0);
	for (uint64_t pg = 3500; pg < 3564; pg++) {
		assert_false(held_privately(&m, pg));
		assert_int_equal(m.base[pg * 4096 + 9], (int)(pg % 251) + 1);
	}

	/* Resets of 300 scattered pages (every other one) each, different ones every time. */
	uint64_t first = 0;
	for (int round = 0; m.nkept <= MEM_TRIM_PAGES; round++) {
		memset(bits, 0, sizeof(bits));
		for (uint64_t pg = first; pg < first + 600; pg += 2) {
			m.base[pg * 4096] = 0x7f;
			bits[pg / 64] |= 1ull << (pg % 64);
		}
		assert_int_equal(mem_restore(&m, dirty), 300);
		assert_true(held_privately(&m, first)); /* a copy, kept */
		assert_int_equal(m.base[first * 4096], (int)(first % 251) + 1);
		first += 600;
		assert_true(round < 10);
	}
	/* 1200 kept; a reset of 300 more: 1500 > 1024 and > 4 x 300: all dropped. */
	memset(bits, 0, sizeof(bits));
	for (uint64_t pg = first; pg < first + 600; pg += 2) {
		m.base[pg * 4096] = 0x7f;
		bits[pg / 64] |= 1ull << (pg % 64);
	}
	m.base[4000 * 4096] = 0x7f; /* and one nobody names */
	assert_int_equal(mem_restore(&m, dirty), 300);
	assert_int_equal(m.nkept, 0);
	for (uint64_t pg = 0; pg < pages; pg++) {
		assert_false(held_privately(&m, pg));
		assert_int_equal(m.base[pg * 4096], (int)(pg % 251) + 1);
	}
	mem_unmap(&m);
}

/* Anonymous RAM has no template's copy to go back to. */
static void test_restore_needs_file(void **state)
{
	(void)state;
	struct guest_mem m;
	mem_layout(&m, 2 * MiB, 0);
	assert_int_equal(mem_map(&m, false), 0);
	assert_int_equal(mem_private(&m), 0); /* nothing to do */
	assert_null(m.written);
	assert_int_equal(mem_restore(&m, NULL), -1);
	mem_note_write(&m, m.base, 10); /* no record kept: nothing */
	mem_unmap(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_single_region),
		cmocka_unit_test(test_layout_split),
		cmocka_unit_test_setup_teardown(test_ptr_in_range, setup_split, teardown_split),
		cmocka_unit_test_setup_teardown(test_ptr_exact_end, setup_split, teardown_split),
		cmocka_unit_test_setup_teardown(test_ptr_one_past_end, setup_split, teardown_split),
		cmocka_unit_test_setup_teardown(test_ptr_len_larger_than_ram, setup_split,
						teardown_split),
		cmocka_unit_test_setup_teardown(test_ptr_overflow, setup_split, teardown_split),
		cmocka_unit_test_setup_teardown(test_ptr_huge_len, setup_split, teardown_split),
		cmocka_unit_test_setup_teardown(test_ptr_in_hole, setup_split, teardown_split),
		cmocka_unit_test_setup_teardown(test_ptr_spanning_regions, setup_split,
						teardown_split),
		cmocka_unit_test(test_ptr_unmapped),
		cmocka_unit_test(test_ptr_real_hole),
		cmocka_unit_test(test_map_unmap),
		cmocka_unit_test(test_file_private_restore),
		cmocka_unit_test(test_restore_trims),
		cmocka_unit_test(test_restore_needs_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
