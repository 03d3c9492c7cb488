/* Breaking copy-on-write ahead of the guest. After a fork, the first guest write to each
 * shared page takes a guest page fault that copies it (~55 us on software KVM, against ~2 us
 * for a host fault). A VM started with --cow-prefault has a background thread, in the
 * clone and in the parent after each fork, fault in private copies from the host instead:
 * populate: MADV_POPULATE_WRITE on every page of guest RAM present (the pages the template
 *           had touched, found in /proc/self/pagemap);
 * huge:     the same, then MADV_COLLAPSE of each 2 MiB range into a huge page, so the guest
 *           maps it with one fault.
 * With "-sync" (populate-sync, huge-sync) a clone does this before its guest runs instead:
 * a later start, no copy-on-write faults at all. A template's warm clones always do it
 * while they wait, off the clone's critical path. Either way each clone then holds a
 * private copy of every page the template had touched. */
#ifndef HF_PREFAULT_H
#define HF_PREFAULT_H

#include <stdbool.h>
#include <stdint.h>

enum prefault_mode { PREFAULT_NONE, PREFAULT_POPULATE, PREFAULT_HUGE };

struct vm;
struct prefault; /* a background pass */

/* Parse "none", "populate", "huge", "populate-sync" or "huge-sync". Returns 0 or -1. */
int prefault_parse(const char *s, enum prefault_mode *mode, bool *sync);
const char *prefault_name(enum prefault_mode mode);
/* Start the pass (mode) over vm's guest RAM on a background thread, kept in *p (made on
 * first use); nothing for PREFAULT_NONE; a pass already running is stopped first. Returns
 * 0 or -1 (logged). */
int prefault_start(struct prefault **p, struct vm *vm, enum prefault_mode mode);
/* The same pass, on this thread, now. */
void prefault_run(struct vm *vm, enum prefault_mode mode);
/* Wait for a running pass to end (before the guest RAM goes). p may be NULL. */
void prefault_stop(struct prefault *p);
/* Fork child: the thread did not survive; forget it. p may be NULL. */
void prefault_forget(struct prefault *p);
/* prefault_stop, then free p. */
void prefault_free(struct prefault *p);

#endif
