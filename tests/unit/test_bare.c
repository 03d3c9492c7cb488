/* Unit tests for bare_check_layout (src/arch/x86/bare.c): where a bare guest image may lie. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/bare.h"
#include "hyperfork/abi.h"

#define MB (1024ull * 1024)

#define assert_err_contains(err, word)                                                       \
	do {                                                                                 \
		if (!strstr((err), (word)))                                                  \
			fail_msg("error \"%s\" does not mention \"%s\"", (err), (word));     \
	} while (0)

static void add_seg(struct elf_image *img, uint64_t paddr, uint64_t vaddr, uint64_t memsz,
		    uint32_t flags)
{
	struct elf_segment *s = &img->segs[img->nsegs++];
	*s = (struct elf_segment){.paddr = paddr, .vaddr = vaddr, .offset = 0x1000,
				  .filesz = memsz / 2, .memsz = memsz, .flags = flags};
	if (img->nsegs == 1 || paddr < img->lowest)
		img->lowest = paddr;
	if (paddr + memsz > img->highest)
		img->highest = paddr + memsz;
}

/* A typical bare guest: text at 1 MiB, data after it. */
static void typical(struct elf_image *img)
{
	memset(img, 0, sizeof(*img));
	add_seg(img, HF_LOAD_MIN, HF_LOAD_MIN, 0x3000, PF_R | PF_X);
	add_seg(img, HF_LOAD_MIN + 0x3000, HF_LOAD_MIN + 0x3000, 0x5000, PF_R | PF_W);
	img->entry = HF_LOAD_MIN + 0x10;
}

static int check(const struct elf_image *img, uint64_t ram, unsigned ncpus, char *err,
		 size_t errlen)
{
	err[0] = 0;
	return bare_check_layout(img, ram, ncpus, err, errlen);
}

static void test_valid_image(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];

	typical(&img);
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), 0);
	assert_int_equal(check(&img, 16 * MB, 8, err, sizeof(err)), 0);
	/* Smallest RAM the VMM allows for a bare guest. */
	assert_int_equal(check(&img, 2 * MB, 1, err, sizeof(err)), 0);
}

static void test_not_identity_mapped(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];

	typical(&img);
	img.segs[1].vaddr = 0xffffffff80000000ull + img.segs[1].paddr;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "segment 1");
	assert_err_contains(err, "identity-mapped");
	assert_err_contains(err, "0xffffffff80103000");

	/* Off by one page is just as wrong. */
	typical(&img);
	img.segs[0].vaddr += 0x1000;
	img.entry += 0x1000;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "segment 0");
	assert_err_contains(err, "differs from physical");
}

static void test_below_load_min(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];

	memset(&img, 0, sizeof(img));
	add_seg(&img, HF_LOAD_MIN - 0x1000, HF_LOAD_MIN - 0x1000, 0x3000, PF_R | PF_X);
	img.entry = HF_LOAD_MIN;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "below 0x100000");
	assert_err_contains(err, "0xff000");

	/* Address 0 (the unmapped page and the VMM area). */
	memset(&img, 0, sizeof(img));
	add_seg(&img, 0, 0, 0x1000, PF_R | PF_X);
	img.entry = 0;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "below");

	/* The second segment is the culprit. */
	typical(&img);
	img.segs[1].paddr = img.segs[1].vaddr = 0x8000;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "segment 1");
	assert_err_contains(err, "below");
}

/* The image must end at or below ram - ncpus * HF_STACK_SIZE. */
static void test_overlaps_stacks(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];
	const uint64_t ram = 4 * MB;

	for (unsigned ncpus = 1; ncpus <= 8; ncpus *= 2) {
		uint64_t heap_end = ram - ncpus * HF_STACK_SIZE;
		/* Ends exactly where the stacks begin: fits. */
		memset(&img, 0, sizeof(img));
		add_seg(&img, HF_LOAD_MIN, HF_LOAD_MIN, 0x1000, PF_R | PF_X);
		add_seg(&img, 0x101000, 0x101000, heap_end - 0x101000, PF_R | PF_W);
		img.entry = HF_LOAD_MIN;
		if (check(&img, ram, ncpus, err, sizeof(err)) != 0)
			fail_msg("%u vCPUs, image up to the stacks rejected: %s", ncpus, err);
		/* One byte more: overlaps the last vCPU's stack. */
		img.segs[1].memsz++;
		assert_int_equal(check(&img, ram, ncpus, err, sizeof(err)), -1);
		assert_err_contains(err, "stack");
		char want[64];
		snprintf(want, sizeof(want), "only 0x%llx is free", (unsigned long long)heap_end);
		assert_err_contains(err, want);
		snprintf(want, sizeof(want), "%u vCPU stack(s)", ncpus);
		assert_err_contains(err, want);
	}
}

/* The same image fits with 1 vCPU and not with 4: the check depends on ncpus. */
static void test_stacks_depend_on_ncpus(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];
	const uint64_t ram = 4 * MB;

	memset(&img, 0, sizeof(img));
	add_seg(&img, HF_LOAD_MIN, HF_LOAD_MIN, ram - HF_STACK_SIZE - HF_LOAD_MIN, PF_R | PF_X);
	img.entry = HF_LOAD_MIN;
	assert_int_equal(check(&img, ram, 1, err, sizeof(err)), 0);
	assert_int_equal(check(&img, ram, 2, err, sizeof(err)), -1);
	assert_err_contains(err, "stack");
	assert_int_equal(check(&img, ram, 4, err, sizeof(err)), -1);

	/* So many vCPUs that the stacks fill all of RAM (or more): nothing fits. */
	typical(&img);
	assert_int_equal(check(&img, ram, (unsigned)(ram / HF_STACK_SIZE), err, sizeof(err)), -1);
	assert_err_contains(err, "only 0x0 is free");
	assert_int_equal(check(&img, ram, 1000, err, sizeof(err)), -1);
	assert_err_contains(err, "only 0x0 is free");
}

/* A segment past the end of RAM altogether. */
static void test_beyond_ram(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];

	typical(&img);
	add_seg(&img, 64 * MB, 64 * MB, 0x1000, PF_R);
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "0x4001000");
	assert_err_contains(err, "16384 KiB");
}

static void test_entry_outside_exec(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];

	/* In the data segment (not executable). */
	typical(&img);
	img.entry = img.segs[1].paddr + 0x10;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "entry point 0x103010");
	assert_err_contains(err, "executable segment");

	/* Just past the end of the text segment. */
	typical(&img);
	img.entry = img.segs[0].paddr + img.segs[0].memsz;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "entry point");

	/* Just before it. */
	typical(&img);
	img.entry = img.segs[0].paddr - 1;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "entry point");

	/* Zero, as in an image linked without an entry symbol. */
	typical(&img);
	img.entry = 0;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "entry point 0x0 ");

	/* No segments at all. */
	memset(&img, 0, sizeof(img));
	img.entry = HF_LOAD_MIN;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "entry point");
}

static void test_entry_edges_accepted(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];

	typical(&img);
	img.entry = img.segs[0].paddr;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), 0);
	img.entry = img.segs[0].paddr + img.segs[0].memsz - 1;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), 0);

	/* The executable segment may be the second one; X alone (no R) counts. */
	memset(&img, 0, sizeof(img));
	add_seg(&img, HF_LOAD_MIN, HF_LOAD_MIN, 0x1000, PF_R);
	add_seg(&img, HF_LOAD_MIN + 0x1000, HF_LOAD_MIN + 0x1000, 0x1000, PF_X);
	img.entry = HF_LOAD_MIN + 0x1800;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), 0);
}

/* Bad layout is reported before a bad entry point, whatever the segment order. */
static void test_layout_error_wins(void **state)
{
	(void)state;
	struct elf_image img;
	char err[256];

	typical(&img);
	img.entry = 0;
	img.segs[1].vaddr = 0;
	assert_int_equal(check(&img, 16 * MB, 1, err, sizeof(err)), -1);
	assert_err_contains(err, "differs from physical");
}

static void test_small_err_buffer(void **state)
{
	(void)state;
	struct elf_image img;
	char err[16];

	memset(err, 'X', sizeof(err));
	typical(&img);
	img.entry = 0;
	assert_int_equal(bare_check_layout(&img, 16 * MB, 1, err, 10), -1);
	assert_int_equal(strlen(err), 9);
	assert_int_equal(err[10], 'X');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_image),
		cmocka_unit_test(test_not_identity_mapped),
		cmocka_unit_test(test_below_load_min),
		cmocka_unit_test(test_overlaps_stacks),
		cmocka_unit_test(test_stacks_depend_on_ncpus),
		cmocka_unit_test(test_beyond_ram),
		cmocka_unit_test(test_entry_outside_exec),
		cmocka_unit_test(test_entry_edges_accepted),
		cmocka_unit_test(test_layout_error_wins),
		cmocka_unit_test(test_small_err_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
