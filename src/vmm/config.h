/* What `hyperfork run` was told: the machine, its devices, how it is cloned, and how the
 * VMM runs it. Filled in by cmd/run.c, read by the vmm/ layer. */
#ifndef HF_VMM_CONFIG_H
#define HF_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "clone/clone.h"
#include "core/vm.h"
#include "devices/devices.h"

#define VMM_MAX_DEVICES 32

struct vmm_config {
	struct vm_config vm;       /* the machine */
	unsigned ndevices;         /* devices given on the command line, in order */
	struct device_arg devices[VMM_MAX_DEVICES];
	struct clone_config clone; /* how it is cloned */
	uint64_t timeout_ns;       /* stop the VM after this long (0: never) */
	const char *marks_path;    /* the marks log (core/marks.h), NULL: none */
	bool no_seccomp;           /* no system call filters (debugging) */
	bool exit_files;           /* the VM, and each of its clones, writes its exit status
	                              into RUN_DIR/NAME.exit as it ends (--exit-files) */
	int (*before_guest)(void); /* once the board is built, before the guest runs (the jail
	                              drops privileges); NULL: none. 0 or -1 */
};

#endif
