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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_ranges),
		cmocka_unit_test(test_mmio_windows),
		cmocka_unit_test(test_bus_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
