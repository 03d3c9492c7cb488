/* The VMM: one process, one VM. vmm_run boots the VM a vmm_config describes (board.c
 * builds its board and loads its guest), runs it on its main loop (runloop.c: the control
 * socket, signals, the timeout, fork points and clones) and ends it. A clone is this same
 * process forked: it leaves the loop that made it and runs its own. */
#ifndef HF_VMM_H
#define HF_VMM_H

#include "vmm/config.h"

/* Boot the VM cfg describes and run it until it ends, in the foreground. Returns the exit
 * status of `hyperfork run` (the guest's code or HF_STATUS_*); in a clone, the clone's. */
int vmm_run(const struct vmm_config *cfg);

#endif
