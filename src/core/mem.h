/* Guest RAM: one host mapping split into guest-physical regions, and the one checked
 * accessor through which every guest-supplied address is translated. */
#ifndef HF_MEM_H
#define HF_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define MEM_MAX_REGIONS 2

struct mem_region {
	uint64_t gpa;  /* guest-physical start */
	uint64_t size; /* bytes */
	uint8_t *hva;  /* host address of gpa */
};

struct guest_mem {
	uint8_t *base;     /* host mapping of all RAM, 2 MiB aligned */
	uint64_t ram_size; /* bytes of RAM (sum of region sizes) */
	bool huge;         /* transparent huge pages requested */
	unsigned nregions;
	struct mem_region regions[MEM_MAX_REGIONS];
};

/* Lay out ram_size bytes of RAM: [0, ram) if hole_start is 0 or ram fits below it, otherwise
 * [0, hole_start) and [4 GiB, 4 GiB + ram - hole_start). Pure: does not allocate. */
void mem_layout(struct guest_mem *m, uint64_t ram_size, uint64_t hole_start);

/* Map the RAM laid out by mem_layout: private anonymous memory (copy-on-write across fork),
 * 2 MiB aligned, with MADV_HUGEPAGE if huge else MADV_NOHUGEPAGE. Returns 0 or -1 (logged). */
int mem_map(struct guest_mem *m, bool huge);
void mem_unmap(struct guest_mem *m);

/* Host pointer for guest range [gpa, gpa+len) if it lies entirely inside one RAM region,
 * else NULL. Overflow-safe; len 0 is allowed. All guest-controlled addresses go through
 * this. */
void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* End of the highest region (exclusive guest-physical address). */
uint64_t mem_top(const struct guest_mem *m);

#endif
