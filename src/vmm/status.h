/* A VM's status (`hyperfork status`, `ls`, serve's metrics): what the VM, its devices,
 * clone/ and the process's memory say of it. */
#ifndef HF_STATUS_H
#define HF_STATUS_H

#include "api/proto.h"
#include "clone/clone.h"
#include "core/vm.h"

/* Fill st with the status of vm, whose clone/ state is cl (memory figures from
 * /proc/self/smaps_rollup). Main thread. */
void vm_status(struct vm *vm, struct clones *cl, struct hf_vm_status *st);

#endif
