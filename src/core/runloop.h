/* The VMM main thread: runs a VM until it ends, serving its control socket, signals,
 * timeout, console input and fork points. */
#ifndef HF_RUNLOOP_H
#define HF_RUNLOOP_H

#include "api/proto.h"
#include "core/vm.h"

/* Run the VM (vCPUs set up, image loaded) until it ends. Returns the exit status of
 * `hyperfork run` (guest code or HF_STATUS_*). In a clone, returns when the clone ends. */
int vm_run(struct vm *vm);

/* Fill st with vm's status (memory figures from /proc/self/smaps_rollup). */
void vm_status(struct vm *vm, struct hf_vm_status *st);

#endif
