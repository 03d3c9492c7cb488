/* libFuzzer target: the bzImage header parser (src/arch/x86/linux.c). What it accepts must
 * hold its protected-mode kernel inside the file, and the command-line limit it implies
 * must be sane whatever the header says. */
#include <assert.h>
#include <stdint.h>

#include "arch/x86/linux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bzimage bz;
	char err[256];
	if (linux_bzimage_parse(data, size, &bz, err, sizeof(err)) < 0) {
		assert(err[0]);
		return 0;
	}
	assert(bz.kernel_offset <= size && bz.kernel_size <= size - bz.kernel_offset);
	uint32_t limit = linux_cmdline_limit(bz.hdr.cmdline_size);
	assert(limit >= 1 && limit <= LINUX_CMDLINE_MAX);
	return 0;
}
