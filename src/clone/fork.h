/* Flash-cloning: pause, capture, fork(), and in each child rebuild the KVM VM from the
 * captured state. Guest RAM is private anonymous memory, so the clone shares it with its
 * parent copy-on-write. */
#ifndef HF_FORK_H
#define HF_FORK_H

#include "api/proto.h"
#include "core/vm.h"

struct clone_result {
	unsigned requested;
	unsigned made;                /* clones running */
	struct hf_clone_info *clones; /* made entries */
	char error[256];              /* first failure, "" if none */
};

/* Make count clones of vm, each with a console of the given kind. requester, if not NULL,
 * is the vCPU stopped at HF_PORT_FORK: each clone's copy of it returns the clone number.
 * Main thread only.
 * Returns 0 in the parent (res filled in; res->made may be less than count, with
 * res->error saying why), -1 in the parent if no clone could be made, and 1 in a clone,
 * whose KVM state is then fully restored and whose caller must rebuild its event loop and
 * start the vCPUs (clone_child_started). */
int clone_fork(struct vm *vm, unsigned count, enum console_kind console, struct vcpu *requester,
	       struct clone_result *res);
void clone_result_free(struct clone_result *res);

/* Path of a VM's control socket / default clone console, in buf. */
void vm_socket_path(const struct vm *vm, const char *name, char *buf, size_t len);
void vm_console_path(const struct vm *vm, const char *name, char *buf, size_t len);

/* Clone: the vCPU threads and event loop run; open the console and tell the parent the
 * clone is ready. Returns 0, or -1 if the clone cannot go on (the parent is told why). */
int clone_child_started(struct vm *vm);

#endif
