/* Unit tests for the pure parts of src/clone/snapshot.c: the task register a clone gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clone/snapshot.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_forced_restores_available),
		cmocka_unit_test(test_reported_as_held_is_exact),
		cmocka_unit_test(test_only_busy_tss64_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
