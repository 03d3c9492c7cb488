/* Admission of new clones: the one place that decides whether a VMM (a fork, a template's
 * pool) or serve may make more, from the live clones and the host's free memory. */
#ifndef HF_ADMIT_H
#define HF_ADMIT_H

#include <stddef.h>
#include <stdint.h>

/* The limits: max_clones, most live clones of one VM (0: no limit); reserve_bytes, host
 * memory kept free (0: off). */
struct clone_limits {
	unsigned max_clones;
	uint64_t reserve_bytes;
};
#define CLONE_LIMITS_MAX_DEFAULT 1024u  /* --max-clones default */
#define CLONE_LIMITS_RESERVE_DEFAULT_MIB 256u /* --reserve-memory default */

enum admission { ADMIT_OK, ADMIT_MAX_CLONES, ADMIT_MEMORY };

/* The host's MemAvailable (/proc/meminfo) in bytes; 0 if it cannot be read (errno says why). */
uint64_t host_mem_available(void);
/* May count more clones be made, with live running now and avail bytes of host memory
 * available (host_mem_available(); 0: unknown, which a reserve refuses)? Pure. Returns
 * ADMIT_OK, or the limit met with why (whylen bytes) naming it, the current figure and the
 * flag that sets it. */
enum admission admit_clones(const struct clone_limits *l, unsigned live, unsigned count,
			    uint64_t avail, char *why, size_t whylen);
/* admit_clones with the host's memory read now (only if there is a reserve); a refusal for
 * memory that cannot be read says why (e.g. no file descriptor left). */
enum admission admit_clones_now(const struct clone_limits *l, unsigned live, unsigned count,
				char *why, size_t whylen);

#endif
