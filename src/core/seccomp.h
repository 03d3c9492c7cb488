/* seccomp: every VMM thread runs under an allow-list filter for its kind, built once with
 * libseccomp (seccomp_prepare) and loaded per thread with one system call.
 *
 *  - main: the main loop (control socket, devices' host side, forks and the clones'
 *    rebuild of their KVM VM). Loaded once per process lineage, right before the first
 *    vCPU runs guest code; clones inherit it across fork().
 *  - vcpu: a vCPU thread (KVM_RUN, the device emulation that runs on it). Stacked on
 *    main's, which every thread inherits from the main thread.
 *  - helper: the copy-on-write prefault thread. Stacked on main's too.
 *  - keeper: the jail's keeper (src/jail), root and pid 1 of a jail: it reaps, watches
 *    cgroups, answers pid questions and removes what ended VMs left. A filter of its own;
 *    it is loaded once the keeper has started the VMM, which does not inherit it.
 *
 * A forbidden call traps: the process writes one line naming the thread kind, the call
 * (and an ioctl's request) to its log and ends with HF_STATUS_ERROR. */
#ifndef HF_SECCOMP_H
#define HF_SECCOMP_H

#include <stdbool.h>

enum seccomp_kind { SECCOMP_MAIN, SECCOMP_VCPU, SECCOMP_HELPER, SECCOMP_KEEPER, SECCOMP_NKINDS };

/* Build the filters (off: every later call does nothing). -1 on error, logged. */
int seccomp_prepare(bool on);

/* Load the filter of this thread's kind (and name the thread). For SECCOMP_MAIN, does
 * nothing if the process already has it. -1 on error, logged. */
int seccomp_enter(enum seccomp_kind kind);

/* Test-only (HYPERFORK_TEST_SECCOMP=KIND[:clone], KIND main, vcpu, helper, keeper or ioctl): a
 * thread of that kind (in a clone only, with :clone) makes a call its filter forbids, so
 * the tests see the trap. Does nothing otherwise. */
void seccomp_test_hook(enum seccomp_kind kind, bool in_clone);

/* Test-only (HYPERFORK_TEST_ESCAPE=TARGET[,TARGET...], each IPV4:PORT or @ABSTRACT, a Unix
 * socket in the abstract namespace): what code that took over the VMM's main thread could
 * reach, under its filter and in its namespaces. Tries to connect to each and logs
 * "escape test: TARGET: connected" or "...: refused (REASON)". Does nothing otherwise. */
void seccomp_escape_test(void);

const char *seccomp_kind_name(enum seccomp_kind kind);

#endif
