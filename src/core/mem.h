/* Guest RAM: one host mapping split into guest-physical regions, and the one checked
 * accessor through which every guest-supplied address is translated.
 *
 * RAM is private anonymous memory (fork() makes it copy-on-write), or a file (a memfd)
 * mapped shared: a template's, whose clones each map it privately (mem_private) and can go
 * back to it page by page (mem_restore): the pages the guest wrote (KVM's dirty log) and
 * those the VMM wrote for it (mem_note_write). */
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
	/* file-backed RAM (mem_map_file) */
	bool file;          /* RAM is the file fd (offset = host address - base) */
	int fd;
	bool private_view;  /* this process maps it privately (mem_private) */
	const uint8_t *pristine; /* the file, mapped shared read-only: what mem_restore copies */
	uint64_t *written;  /* pages the VMM wrote since the last mem_restore, a bit per 4 KiB
	                       of RAM from base (mem_private makes it); NULL: none kept */
	uint64_t *kept;     /* pages mem_restore copied back since RAM was last trimmed: this
	                       process holds them privately, equal to the file's */
	uint64_t nkept;
};

/* mem_restore copies back the pages a reset puts back in short runs (cheap for the few a
 * guest writes here and there), and drops runs of MEM_DROP_RUN pages or more instead
 * (MADV_DONTNEED: the guest reads the file's again where it touches them, and the process
 * holds no copy). The copies stay private to the process, and a guest that writes other
 * pages each time would keep more and more: once they number over MEM_TRIM_PAGES and
 * MEM_TRIM_RATIO times the pages one reset puts back, every private page is dropped. A
 * reused clone's memory stays near a fresh one's. */
#define MEM_DROP_RUN 64
#define MEM_TRIM_PAGES 1024
#define MEM_TRIM_RATIO 4

#define MEM_PAGE 4096ull
/* 64-bit words of a bitmap with a bit per page of size bytes. */
#define MEM_BITMAP_WORDS(size) (((size) / MEM_PAGE + 63) / 64)

/* Lay out ram_size bytes of RAM: [0, ram) if hole_start is 0 or ram fits below it, otherwise
 * [0, hole_start) and [4 GiB, 4 GiB + ram - hole_start). Pure: does not allocate. */
void mem_layout(struct guest_mem *m, uint64_t ram_size, uint64_t hole_start);

/* Map the RAM laid out by mem_layout: private anonymous memory (copy-on-write across fork),
 * 2 MiB aligned, with MADV_HUGEPAGE if huge else MADV_NOHUGEPAGE. Returns 0 or -1 (logged). */
int mem_map(struct guest_mem *m, bool huge);
/* The same, but RAM is a memfd mapped shared: what the VM writes is the file's. For a VM to
 * be frozen into a template whose clones go back to it (mem_private, mem_restore). */
int mem_map_file(struct guest_mem *m, bool huge);
void mem_unmap(struct guest_mem *m);

/* A fork child of a VM whose RAM is a file, before anything writes to its RAM: map the file
 * privately at the same address (copy-on-write of the file: the parent no longer sees this
 * process's writes, nor this process the parent's), beside a read-only view of the file,
 * and start keeping a record of the VMM's writes. Nothing if RAM is not a file, or is this
 * process's own private view already (a clone of a clone inherits it by fork). Returns 0 or
 * -1 (logged). */
int mem_private(struct guest_mem *m);
/* The VMM wrote len bytes at host address hva, inside guest RAM (device emulation: a
 * payload, a virtqueue's buffers): noted for mem_restore. Any thread. Nothing if no record
 * is kept. */
void mem_note_write(const struct guest_mem *m, const void *hva, uint64_t len);
/* Put back the file's contents (the template's) in the pages set in dirty[r] (a bitmap with
 * a bit per page of region r, MEM_BITMAP_WORDS(its size) words, as KVM's dirty log gives
 * it) and in the pages the VMM noted, and forget the notes. dirty NULL: the guest's writes
 * are not known; every page this process holds a private copy of is put back
 * (/proc/self/pagemap, a walk of all of RAM). Needs mem_private. Returns the pages put
 * back, or -1 (logged). */
long mem_restore(struct guest_mem *m, uint64_t *const *dirty);

/* Host pointer for guest range [gpa, gpa+len) if it lies entirely inside one RAM region,
 * else NULL. Overflow-safe; len 0 is allowed. All guest-controlled addresses go through
 * this. */
void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Open this process's /proc/self/pagemap. A jailed VMM is not dumpable (no process of its
 * uid may read its memory), which makes its /proc/self root's: it is dumpable for the
 * moment of the open. Returns the fd, or -1 with errno. */
int mem_pagemap_open(void);

/* End of the highest region (exclusive guest-physical address). */
uint64_t mem_top(const struct guest_mem *m);

#endif
