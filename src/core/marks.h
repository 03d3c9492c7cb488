/* The marks log (`run --marks FILE`): host timestamps of moments in a VM's life, for
 * benchmarks. Each mark is one line "TAG NS NAME" (TAG from include/hyperfork/abi.h's
 * HF_MARK_*, NS CLOCK_MONOTONIC nanoseconds) appended to one file that the VM and its
 * clones share (O_APPEND: one write per line keeps lines whole): the guest's HF_PORT_MARK
 * writes, its first console output (core/console.c), the fork requests the main loop takes. */
#ifndef HF_MARKS_H
#define HF_MARKS_H

#include <stdint.h>

struct marks;

/* Open (create, append to) the log at path. name is the VM's name, read at every mark (a
 * clone renames its VM in place, and its marks carry its own name). Returns the log, or
 * NULL (logged). */
struct marks *marks_open(const char *path, const char *name);
/* Record tag now, under the VM's name. Nothing if m is NULL (no log). Any thread. */
void marks_record(struct marks *m, uint32_t tag);
/* Record tag with its own time ns and name. Nothing if m is NULL. */
void marks_record_at(struct marks *m, uint32_t tag, uint64_t ns, const char *name);
/* Close the log (NULL: nothing). */
void marks_close(struct marks *m);

#endif
