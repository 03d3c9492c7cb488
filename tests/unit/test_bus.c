/* Unit tests for the device registry (src/core/bus.c): overlapping port ranges and MMIO
 * windows are refused, and lookups find exactly the device owning an access. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus.h"

static const struct device_ops ops = {.name = "test"};

static struct device port_dev(uint16_t base, uint16_t count)
{
	return (struct device){.ops = &ops, .port_base = base, .port_count = count};
}

static struct device mmio_dev(uint64_t base, uint64_t size)
{
	return (struct device){.ops = &ops, .mmio_base = base, .mmio_size = size};
}

static void test_port_ranges(void **state)
{
	(void)state;
	struct bus b;
	memset(&b, 0, sizeof(b));
	struct device a = port_dev(0x3f8, 8), c = port_dev(0x3fc, 2), d = port_dev(0x400, 1);
	assert_int_equal(bus_add(&b, &a), 0);
	assert_int_equal(bus_add(&b, &c), -1); /* inside a's range */
	assert_int_equal(bus_add(&b, &d), 0);  /* just after it */
	assert_ptr_equal(bus_find_port(&b, 0x3f8), &a);
	assert_ptr_equal(bus_find_port(&b, 0x3ff), &a);
	assert_ptr_equal(bus_find_port(&b, 0x400), &d);
	assert_null(bus_find_port(&b, 0x3f7));
	assert_null(bus_find_port(&b, 0x401));
}

static void test_mmio_windows(void **state)
{
	(void)state;
	struct bus b;
	memset(&b, 0, sizeof(b));
	struct device a = mmio_dev(0xd0000000, 0x1000), over = mmio_dev(0xd0000800, 0x1000);
	struct device next = mmio_dev(0xd0001000, 0x1000), ports = port_dev(0x10, 4);
	assert_int_equal(bus_add(&b, &a), 0);
	assert_int_equal(bus_add(&b, &over), -1);
	assert_int_equal(bus_add(&b, &next), 0);
	assert_int_equal(bus_add(&b, &ports), 0); /* no window: never an MMIO match */
	assert_ptr_equal(bus_find_mmio(&b, 0xd0000000, 4), &a);
	assert_ptr_equal(bus_find_mmio(&b, 0xd0000ffc, 4), &a);
	assert_null(bus_find_mmio(&b, 0xd0000ffe, 4)); /* straddles two windows */
	assert_ptr_equal(bus_find_mmio(&b, 0xd0001000, 8), &next);
	assert_null(bus_find_mmio(&b, 0xd0002000, 1));
	assert_null(bus_find_mmio(&b, 0xcfffffff, 1));
	assert_null(bus_find_mmio(&b, 0, 4));
	assert_null(bus_find_mmio(&b, UINT64_MAX, 1));
}

static void test_bus_full(void **state)
{
	(void)state;
	struct bus b;
	struct device d[BUS_MAX_DEVICES + 1];
	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i <= BUS_MAX_DEVICES; i++)
		d[i] = port_dev((uint16_t)(0x100 + i), 1);
	for (unsigned i = 0; i < BUS_MAX_DEVICES; i++)
		assert_int_equal(bus_add(&b, &d[i]), 0);
	assert_int_equal(bus_add(&b, &d[BUS_MAX_DEVICES]), -1);
}

/* Interrupt lines are handed out in the board's order until none is left; MMIO windows
 * are aligned to their size, one after another, and never cross the area's end. */
static void test_alloc(void **state)
{
	(void)state;
	struct bus b;
	memset(&b, 0, sizeof(b));
	const unsigned lines[] = {5, 6, 16};
	bus_board(&b, lines, 3, 0xd0000800, 0xd0003000);
	unsigned irq;
	uint64_t base;
	assert_int_equal(bus_alloc(&b, "a", 0x1000, &irq, &base), 0);
	assert_int_equal(irq, 5);
	assert_int_equal(base, 0xd0001000); /* aligned up from 0xd0000800 */
	assert_int_equal(bus_alloc(&b, "b", 0, &irq, &base), 0); /* a line, no window */
	assert_int_equal(irq, 6);
	assert_int_equal(bus_alloc(&b, "c", 0x2000, &irq, &base), -1); /* 0xd0002000+0x2000 > end */
	assert_int_equal(bus_alloc(&b, "c", 0x1000, &irq, &base), 0);
	assert_int_equal(irq, 16);
	assert_int_equal(base, 0xd0002000);
	assert_int_equal(bus_alloc(&b, "d", 0, &irq, &base), -1); /* no line left */
	bus_board(&b, lines, 3, 0xfffffffffffff000ull, 0xffffffffffffffffull);
	assert_int_equal(bus_alloc(&b, "e", 0x2000, &irq, &base), -1); /* would wrap */
}

/* The clone walks call each device's hook in order and stop at the first failure; the
 * refusal is the first device's reason. */
static int calls[4], ncalls;
static int hook_ok(struct device *d) { calls[ncalls++] = d->port_base; return 0; }
static int hook_fail(struct device *d) { calls[ncalls++] = d->port_base; return -1; }
static const char *refuse(struct device *d) { return d->port_base == 2 ? "two" : NULL; }

static void test_walks(void **state)
{
	(void)state;
	const struct device_ops ok = {.name = "ok", .pre_fork = hook_ok, .post_fork = hook_ok,
				      .cannot_clone = refuse};
	const struct device_ops bad = {.name = "bad", .pre_fork = hook_fail};
	struct device d[3] = {{.ops = &ok, .port_base = 1, .port_count = 1},
			      {.ops = &bad, .port_base = 2, .port_count = 1},
			      {.ops = &ok, .port_base = 3, .port_count = 1}};
	struct bus b;
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 3; i++)
		assert_int_equal(bus_add(&b, &d[i]), 0);
	ncalls = 0;
	assert_int_equal(bus_post_fork(&b), 0); /* bad has no post_fork: skipped */
	assert_int_equal(ncalls, 2);
	assert_int_equal(calls[0], 1);
	assert_int_equal(calls[1], 3);
	ncalls = 0;
	assert_int_equal(bus_pre_fork(&b), -1);
	assert_int_equal(ncalls, 2); /* 1, then 2 failed: 3 not called */
	assert_null(bus_refusal(&(struct bus){0}));
	d[1].ops = &ok;
	assert_string_equal(bus_refusal(&b), "two");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_ranges),
		cmocka_unit_test(test_mmio_windows),
		cmocka_unit_test(test_bus_full),
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_walks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
