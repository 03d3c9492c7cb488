/* Bare guests: load a static ELF and start every vCPU in 64-bit ring 3 over identity-mapped
 * RAM, as the ABI in include/hyperfork/abi.h describes. */
#ifndef HF_X86_BARE_H
#define HF_X86_BARE_H

#include <stddef.h>
#include <stdint.h>

#include "core/vcpu.h"
#include "core/vm.h"
#include "loader/elf.h"

/* Check that img fits the bare-guest layout of a VM with ram_size bytes and ncpus vCPUs.
 * Pure. Returns 0, or -1 with a message in err. */
int bare_check_layout(const struct elf_image *img, uint64_t ram_size, unsigned ncpus, char *err,
		      size_t errlen);

/* Load the image (data, len) into the VM's RAM, write boot info, GDT, TSS and page tables,
 * and set every vCPU's registers. Returns 0 or -1 (logged). */
int bare_setup(struct vm *vm, const uint8_t *data, size_t len);

/* In a clone of a bare guest, before its guest runs: its boot info says it is clone id,
 * asked for when the guest TSC read request_tsc (0: unknown). */
void bare_clone_info(struct vm *vm, unsigned id, uint64_t request_tsc);

#endif
