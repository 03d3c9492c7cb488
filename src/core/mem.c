/* Guest RAM: one host mapping split into guest-physical regions, and the one checked
 * accessor through which every guest-supplied address is translated. */
#include "core/mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "util/log.h"
#include "util/util.h"

#define HUGE_ALIGN (2 * MiB)

void mem_layout(struct guest_mem *m, uint64_t ram_size, uint64_t hole_start)
{
	memset(m, 0, sizeof(*m));
	m->ram_size = ram_size;
	if (hole_start == 0 || ram_size <= hole_start) {
		m->nregions = 1;
		m->regions[0] = (struct mem_region){.gpa = 0, .size = ram_size};
	} else {
		m->nregions = 2;
		m->regions[0] = (struct mem_region){.gpa = 0, .size = hole_start};
		m->regions[1] = (struct mem_region){.gpa = 4 * GiB, .size = ram_size - hole_start};
	}
}

int mem_map(struct guest_mem *m, bool huge)
{
	uint64_t len = ALIGN_UP(m->ram_size, HUGE_ALIGN);
	uint8_t *raw = mmap(NULL, len + HUGE_ALIGN, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED) {
		pr_err("cannot map %llu MiB of guest RAM: %s",
		       (unsigned long long)(m->ram_size / MiB), strerror(errno));
		return -1;
	}
	uint8_t *base = (uint8_t *)ALIGN_UP((uintptr_t)raw, HUGE_ALIGN);
	if (base > raw)
		munmap(raw, (size_t)(base - raw));
	size_t tail = (size_t)((raw + len + HUGE_ALIGN) - (base + len));
	if (tail)
		munmap(base + len, tail);
	if (madvise(base, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0)
		pr_debug("madvise(%s) on guest RAM: %s", huge ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
			 strerror(errno));
	m->base = base;
	m->huge = huge;
	uint64_t off = 0;
	for (unsigned i = 0; i < m->nregions; i++) {
		m->regions[i].hva = base + off;
		off += m->regions[i].size;
	}
	return 0;
}

void mem_unmap(struct guest_mem *m)
{
	if (m->base)
		munmap(m->base, ALIGN_UP(m->ram_size, HUGE_ALIGN));
	m->base = NULL;
}

void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct mem_region *r = &m->regions[i];
		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return r->hva ? r->hva + (gpa - r->gpa) : NULL;
	}
	return NULL;
}

uint64_t mem_top(const struct guest_mem *m)
{
	const struct mem_region *r = &m->regions[m->nregions - 1];
	return r->gpa + r->size;
}
