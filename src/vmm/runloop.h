/* The VMM's main thread: runs the VM until it ends, serving its control socket, signals,
 * its timeout, the devices' host side (bus attach), fork points, and clones asked for;
 * a clone made here goes on in this same loop, made anew. */
#ifndef HF_RUNLOOP_H
#define HF_RUNLOOP_H

#include "clone/clone.h"
#include "core/marks.h"
#include "core/vm.h"
#include "vmm/config.h"

/* Run vm (vCPUs set up, guest loaded; clone/'s state cl, fork requests marked in marks,
 * NULL: none) as cfg says, until it ends. Returns the exit status of `hyperfork run` (the
 * guest's code or HF_STATUS_*). In a clone, returns when the clone ends. */
int runloop_run(struct vm *vm, struct clones *cl, struct marks *marks,
		const struct vmm_config *cfg);

#endif
