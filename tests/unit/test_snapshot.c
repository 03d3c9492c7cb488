/* Unit tests for the pure parts of src/arch/x86/snapshot.c: the task register and the kvm-clock
 * a clone gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/snapshot.h"

static struct kvm_segment tr(uint8_t type)
{
	return (struct kvm_segment){.base = 0xfffffe0000003000ull, .limit = 0x4087, .selector = 0x40,
				    .type = type, .present = 1};
}

/* A host whose KVM reports TR busy whatever the CPU holds (AMD SVM): the busy 64-bit TSS
 * it reported goes back as the available one the guest's LTR left, all else unchanged. */
static void test_busy_forced_restores_available(void **state)
{
	(void)state;
	struct kvm_segment in = tr(11), out = snapshot_tr_to_restore(in, true);
	assert_int_equal(out.type, 9);
	out.type = 11;
	assert_memory_equal(&in, &out, sizeof(in));
}

/* Hosts that report TR as held (Intel VMX, which requires a busy TSS to enter the guest,
 * and PVM): the clone gets exactly what was captured. */
static void test_reported_as_held_is_exact(void **state)
{
	(void)state;
	for (uint8_t type = 0; type < 16; type++) {
		struct kvm_segment in = tr(type), out = snapshot_tr_to_restore(in, false);
		assert_memory_equal(&in, &out, sizeof(in));
	}
}

/* Only a busy 64-bit TSS is changed: other types (a 16-bit busy TSS from a VMM's reset
 * state, an unusable TR) stay. */
static void test_only_busy_tss64_changes(void **state)
{
	(void)state;
	uint8_t keep[] = {0, 3, 9};
	for (unsigned i = 0; i < sizeof(keep); i++)
		assert_int_equal(snapshot_tr_to_restore(tr(keep[i]), true).type, keep[i]);
}

/* A host without KVM_CLOCK_REALTIME (flags 0): the clone's kvm-clock continues from the
 * captured value by the host time the clone took to make, so it stays in step with its TSC. */
static void test_clock_advanced_without_realtime(void **state)
{
	(void)state;
	struct kvm_clock_data c = {.clock = 5000000000ull, .flags = 0};
	struct kvm_clock_data r = snapshot_clock_to_restore(c, 1000000000ull, 1067000000ull);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.clock, 5067000000ull);
}

/* With KVM_CLOCK_REALTIME, KVM advances it: the captured value and flag go back as they are,
 * the other flags (KVM's report: TSC_STABLE, HOST_TSC) are dropped. */
static void test_clock_left_to_kvm_with_realtime(void **state)
{
	(void)state;
	struct kvm_clock_data c = {.clock = 5000000000ull,
				   .flags = KVM_CLOCK_REALTIME | KVM_CLOCK_TSC_STABLE | KVM_CLOCK_HOST_TSC,
				   .realtime = 1700000000000000000ull};
	struct kvm_clock_data r = snapshot_clock_to_restore(c, 1000000000ull, 1067000000ull);
	assert_int_equal(r.flags, KVM_CLOCK_REALTIME);
	assert_int_equal(r.clock, 5000000000ull);
	assert_int_equal(r.realtime, c.realtime);
}

/* A host clock read before the capture (it cannot be, but a bad value must not move the
 * guest's clock back or wrap it). */
static void test_clock_never_goes_back(void **state)
{
	(void)state;
	struct kvm_clock_data c = {.clock = 5000000000ull};
	assert_int_equal(snapshot_clock_to_restore(c, 2000, 1000).clock, 5000000000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_forced_restores_available),
		cmocka_unit_test(test_reported_as_held_is_exact),
		cmocka_unit_test(test_only_busy_tss64_changes),
		cmocka_unit_test(test_clock_advanced_without_realtime),
		cmocka_unit_test(test_clock_left_to_kvm_with_realtime),
		cmocka_unit_test(test_clock_never_goes_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
