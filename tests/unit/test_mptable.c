/* Unit tests for mptable_build (src/arch/x86/mptable.c): the MP floating pointer and configuration table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/mptable.h"

#define BASE 0xf0000u
#define MPF_SIZE 16u  /* floating pointer structure */
#define MPC_HDR 44u   /* configuration table header */
#define BUF_SIZE 8192u

/* Little-endian readers (the table is byte-packed). */
static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

/* What the walker found in a configuration table. */
struct parsed {
	unsigned nproc, nbus, nioapic, nintsrc, nlint, nentries;
	int bsp_count;
	uint8_t apic_ids[256];
	uint8_t ioapic_id;
	uint32_t ioapic_addr;
	uint8_t isa_bus;
	int irq_pin[MPTABLE_IRQS]; /* IOAPIC pin of (ISA bus) IRQ n, -1 if none */
};

/* Walk the entries of the configuration table at t (length from its header), checking each
 * entry's type and size. */
static void walk(const uint8_t *t, struct parsed *out)
{
	uint16_t len = rd16(t + 4);
	const uint8_t *p = t + MPC_HDR, *end = t + len;

	memset(out, 0, sizeof(*out));
	memset(out->irq_pin, -1, sizeof(out->irq_pin));
	out->isa_bus = 0xff;
	while (p < end) {
		out->nentries++;
		switch (p[0]) {
		case 0: /* processor, 20 bytes */
			assert_true(p + 20 <= end);
			out->apic_ids[out->nproc] = p[1];
			if (!(p[3] & 1))
				fail_msg("processor %u not enabled", out->nproc);
			if (p[3] & 2) {
				out->bsp_count++;
				if (out->nproc != 0)
					fail_msg("processor %u (not the first) has the BSP flag",
						 out->nproc);
			}
			out->nproc++;
			p += 20;
			break;
		case 1: /* bus, 8 bytes */
			assert_true(p + 8 <= end);
			if (!memcmp(p + 2, "ISA   ", 6))
				out->isa_bus = p[1];
			out->nbus++;
			p += 8;
			break;
		case 2: /* I/O APIC, 8 bytes */
			assert_true(p + 8 <= end);
			out->ioapic_id = p[1];
			assert_true(p[3] & 1); /* usable */
			out->ioapic_addr = rd32(p + 4);
			out->nioapic++;
			p += 8;
			break;
		case 3: /* I/O interrupt assignment, 8 bytes */
			assert_true(p + 8 <= end);
			if (p[1] == 0 /* INT */ && p[4] == out->isa_bus && p[5] < MPTABLE_IRQS) {
				assert_int_equal(p[6], out->ioapic_id);
				out->irq_pin[p[5]] = p[7];
			}
			out->nintsrc++;
			p += 8;
			break;
		case 4: /* local interrupt assignment, 8 bytes */
			assert_true(p + 8 <= end);
			out->nlint++;
			p += 8;
			break;
		default:
			fail_msg("unknown entry type %u at offset %td", p[0], p - t);
		}
	}
	assert_ptr_equal(p, end);
}

/* Build for ncpus into a zeroed buffer and check the structure fully. */
static void check_table(unsigned ncpus, uint32_t base)
{
	uint8_t *buf = calloc(1, BUF_SIZE);
	assert_non_null(buf);
	int used = mptable_build(buf, BUF_SIZE, base, ncpus);
	assert_true(used > 0);

	/* Floating pointer: signature, checksum over its 16 bytes, pointer to the table. */
	assert_memory_equal(buf, "_MP_", 4);
	assert_int_equal(sum(buf, MPF_SIZE), 0);
	assert_int_equal(rd32(buf + 4), base + MPF_SIZE);
	assert_int_equal(buf[8], 1); /* length in 16-byte paragraphs */
	assert_int_equal(buf[9], 4); /* spec 1.4 */
	assert_int_equal(buf[11], 0); /* feature byte 1: 0 = a configuration table is present */

	/* Configuration table where physptr says (relative to base). */
	const uint8_t *t = buf + (rd32(buf + 4) - base);
	assert_memory_equal(t, "PCMP", 4);
	uint16_t len = rd16(t + 4);
	assert_true(len >= MPC_HDR);
	assert_int_equal(t[6], 4);
	assert_int_equal(sum(t, len), 0);
	assert_int_equal(rd32(t + 36), MPTABLE_LAPIC_ADDR);
	/* Bytes used: the pointer plus the table. */
	assert_int_equal(used, MPF_SIZE + len);

	struct parsed p;
	walk(t, &p);
	assert_int_equal(rd16(t + 34), p.nentries); /* entry count */
	assert_int_equal(p.nproc, ncpus);
	assert_int_equal(p.bsp_count, 1);
	for (unsigned i = 0; i < ncpus; i++)
		assert_int_equal(p.apic_ids[i], i);
	assert_int_equal(p.nbus, 1);
	assert_int_equal(p.isa_bus, 0);
	assert_int_equal(p.nioapic, 1);
	assert_int_equal(p.ioapic_addr, MPTABLE_IOAPIC_ADDR);
	/* The IOAPIC's id collides with no CPU's. */
	for (unsigned i = 0; i < ncpus; i++)
		assert_int_not_equal(p.ioapic_id, p.apic_ids[i]);
	/* IRQ n on IOAPIC pin n, for all 24 pins. */
	for (int irq = 0; irq < (int)MPTABLE_IRQS; irq++)
		assert_int_equal(p.irq_pin[irq], irq);
	assert_int_equal(p.nlint, 2);

	/* Nothing written past the bytes used. */
	for (size_t i = (size_t)used; i < BUF_SIZE; i++)
		if (buf[i])
			fail_msg("byte %zu past the table (%d bytes) written", i, used);
	free(buf);
}

static void test_one_cpu(void **state)
{
	(void)state;
	check_table(1, BASE);
}

static void test_several_cpus(void **state)
{
	(void)state;
	check_table(2, BASE);
	check_table(4, BASE);
	check_table(7, BASE);
	check_table(64, BASE);
}

static void test_max_cpus(void **state)
{
	(void)state;
	check_table(254, BASE);
}

/* physptr follows base_addr (and so does the checksum). */
static void test_base_addr(void **state)
{
	(void)state;
	check_table(2, 0x9fc00);
	check_table(2, 0);
	uint8_t a[BUF_SIZE], b[BUF_SIZE];
	assert_true(mptable_build(a, sizeof(a), 0xf0000, 3) > 0);
	assert_true(mptable_build(b, sizeof(b), 0xe0000, 3) > 0);
	assert_int_equal(rd32(a + 4), 0xf0010);
	assert_int_equal(rd32(b + 4), 0xe0010);
	assert_int_not_equal(a[10], b[10]); /* the checksums differ */
	/* The configuration table itself does not depend on where it is. */
	assert_memory_equal(a + MPF_SIZE, b + MPF_SIZE, rd16(a + MPF_SIZE + 4));
}

/* Too small a buffer: -1 and nothing written; exactly the right size: fine. */
static void test_buffer_too_small(void **state)
{
	(void)state;
	uint8_t *buf = malloc(BUF_SIZE);
	assert_non_null(buf);
	for (unsigned ncpus = 1; ncpus <= 16; ncpus *= 4) {
		int need = mptable_build(buf, BUF_SIZE, BASE, ncpus);
		assert_true(need > 0);
		memset(buf, 0xcc, BUF_SIZE);
		assert_int_equal(mptable_build(buf, (size_t)need - 1, BASE, ncpus), -1);
		for (size_t i = 0; i < BUF_SIZE; i++)
			if (buf[i] != 0xcc)
				fail_msg("byte %zu written by a failed build", i);
		assert_int_equal(mptable_build(buf, 0, BASE, ncpus), -1);
		assert_int_equal(mptable_build(buf, MPF_SIZE, BASE, ncpus), -1);

		/* An exact-size heap buffer: valgrind checks nothing is written past it. */
		uint8_t *exact = malloc((size_t)need);
		assert_non_null(exact);
		assert_int_equal(mptable_build(exact, (size_t)need, BASE, ncpus), need);
		assert_memory_equal(exact, "_MP_", 4);
		free(exact);
	}
	free(buf);
}

static void test_bad_cpu_count(void **state)
{
	(void)state;
	uint8_t *buf = malloc(BUF_SIZE);
	assert_non_null(buf);
	memset(buf, 0xcc, BUF_SIZE);
	assert_int_equal(mptable_build(buf, BUF_SIZE, BASE, 0), -1);
	/* APIC ids are 8-bit and the IOAPIC takes the id after the last CPU's. */
	assert_int_equal(mptable_build(buf, BUF_SIZE, BASE, 255), -1);
	assert_int_equal(mptable_build(buf, BUF_SIZE, BASE, 1000), -1);
	assert_int_equal(buf[0], 0xcc);
	free(buf);
}

/* Each extra CPU costs one 20-byte processor entry. */
static void test_size_grows_per_cpu(void **state)
{
	(void)state;
	uint8_t *buf = malloc(BUF_SIZE);
	assert_non_null(buf);
	int one = mptable_build(buf, BUF_SIZE, BASE, 1);
	int two = mptable_build(buf, BUF_SIZE, BASE, 2);
	int ten = mptable_build(buf, BUF_SIZE, BASE, 10);
	assert_int_equal(two - one, 20);
	assert_int_equal(ten - one, 9 * 20);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_several_cpus),
		cmocka_unit_test(test_max_cpus),
		cmocka_unit_test(test_base_addr),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_bad_cpu_count),
		cmocka_unit_test(test_size_grows_per_cpu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
