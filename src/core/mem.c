/* Guest RAM: one host mapping split into guest-physical regions, and the one checked
 * accessor through which every guest-supplied address is translated. */
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"

#define HUGE_ALIGN (2 * MiB)

void mem_layout(struct guest_mem *m, uint64_t ram_size, uint64_t hole_start)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
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

/* Map len bytes for RAM (2 MiB aligned): anonymous, or fd shared. */
static uint8_t *map_aligned(uint64_t len, int fd)
{
	uint8_t *raw = mmap(NULL, len + HUGE_ALIGN, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uint8_t *base = (uint8_t *)ALIGN_UP((uintptr_t)raw, HUGE_ALIGN);
	if (base > raw)
		munmap(raw, (size_t)(base - raw));
	size_t tail = (size_t)((raw + len + HUGE_ALIGN) - (base + len));
	if (tail)
		munmap(base + len, tail);
	void *p = fd < 0 ? mmap(base, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0)
			 : mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		munmap(base, len);
		errno = e;
		return NULL;
	}
	return base;
}

static int map(struct guest_mem *m, bool huge, int fd)
{
	uint64_t len = ALIGN_UP(m->ram_size, HUGE_ALIGN);
	uint8_t *base = map_aligned(len, fd);
	if (!base) {
		pr_err("cannot map %llu MiB of guest RAM: %s",
		       (unsigned long long)(m->ram_size / MiB), strerror(errno));
		return -1;
	}
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

int mem_map(struct guest_mem *m, bool huge)
{
	return map(m, huge, -1);
}

int mem_map_file(struct guest_mem *m, bool huge)
{
	uint64_t len = ALIGN_UP(m->ram_size, HUGE_ALIGN);
	int fd = memfd_create("hyperfork-ram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		pr_err("cannot make a file of %llu MiB for guest RAM: %s",
		       (unsigned long long)(m->ram_size / MiB), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (map(m, huge, fd) < 0) {
		close(fd);
		return -1;
	}
	m->file = true;
	m->fd = fd;
	return 0;
}

void mem_unmap(struct guest_mem *m)
{
	uint64_t len = ALIGN_UP(m->ram_size, HUGE_ALIGN);
	if (m->base)
		munmap(m->base, len);
	m->base = NULL;
	if (m->pristine)
		munmap((void *)m->pristine, len);
	m->pristine = NULL;
	free(m->written);
	m->written = NULL;
	free(m->kept);
	m->kept = NULL;
	m->nkept = 0;
	if (m->file)
		close(m->fd);
	m->file = false;
	m->fd = -1;
}

int mem_private(struct guest_mem *m)
{
	uint64_t len = ALIGN_UP(m->ram_size, HUGE_ALIGN);
	if (!m->file || m->private_view)
		return 0;
	void *p = mmap(m->base, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, m->fd, 0);
	if (p == MAP_FAILED) {
		pr_err("cannot map guest RAM privately: %s", strerror(errno));
		return -1;
	}
	m->private_view = true;
	if (madvise(m->base, len, m->huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0)
		pr_debug("madvise on guest RAM: %s", strerror(errno));
	void *v = mmap(NULL, len, PROT_READ, MAP_SHARED, m->fd, 0);
	m->written = calloc(MEM_BITMAP_WORDS(len), sizeof(uint64_t));
	m->kept = calloc(MEM_BITMAP_WORDS(len), sizeof(uint64_t));
	m->nkept = 0;
	if (v == MAP_FAILED || !m->written || !m->kept) {
		pr_err("cannot map a view of the template's RAM: %s",
		       v == MAP_FAILED ? strerror(errno) : "out of memory");
		if (v != MAP_FAILED)
			munmap(v, len);
		free(m->written);
		m->written = NULL;
		free(m->kept);
		m->kept = NULL;
		return -1;
	}
	m->pristine = v;
	return 0;
}

void mem_note_write(const struct guest_mem *m, const void *hva, uint64_t len)
{
	const uint8_t *p = hva;
	if (!m->written || !len || p < m->base || p >= m->base + m->ram_size)
		return;
	uint64_t first = (uint64_t)(p - m->base) / MEM_PAGE;
	uint64_t last = ((uint64_t)(p - m->base) + len - 1) / MEM_PAGE;
	for (uint64_t pg = first; pg <= last && pg < m->ram_size / MEM_PAGE; pg++)
		__atomic_fetch_or(&m->written[pg / 64], 1ull << (pg % 64), __ATOMIC_RELAXED);
}

/* Copy pages [first, first + n) (of RAM from base) back from the file. */
static void put_back(struct guest_mem *m, uint64_t first, uint64_t n)
{
	bool drop = n >= MEM_DROP_RUN &&
		    madvise(m->base + first * MEM_PAGE, n * MEM_PAGE, MADV_DONTNEED) == 0;
	if (!drop)
		memcpy(m->base + first * MEM_PAGE, m->pristine + first * MEM_PAGE, n * MEM_PAGE);
	for (uint64_t pg = first; pg < first + n; pg++) {
		bool was = m->kept[pg / 64] >> (pg % 64) & 1;
		if (drop && was) {
			m->kept[pg / 64] &= ~(1ull << (pg % 64));
			m->nkept--;
		} else if (!drop && !was) {
			m->kept[pg / 64] |= 1ull << (pg % 64);
			m->nkept++;
		}
	}
}

/* Too many private copies kept for the pages a reset puts back (see MEM_TRIM_PAGES): drop
 * them all; the guest reads the file's where it next touches RAM. */
static void trim(struct guest_mem *m, long restored)
{
	if (m->nkept <= MEM_TRIM_PAGES || m->nkept <= (uint64_t)restored * MEM_TRIM_RATIO)
		return;
	uint64_t len = ALIGN_UP(m->ram_size, HUGE_ALIGN);
	if (madvise(m->base, len, MADV_DONTNEED) < 0) {
		pr_debug("reset: MADV_DONTNEED on guest RAM: %s", strerror(errno));
		return; /* the copies are right, only kept */
	}
	memset(m->kept, 0, MEM_BITMAP_WORDS(len) * sizeof(uint64_t));
	m->nkept = 0;
}

#define PM_PRESENT (1ull << 63)
#define PM_FILE (1ull << 61) /* a file page, or shared anonymous: not a private copy */

/* Every page of RAM this process holds a private copy of: put back. */
static long restore_private(struct guest_mem *m)
{
	int pm = mem_pagemap_open();
	if (pm < 0) {
		pr_err("reset: /proc/self/pagemap: %s", strerror(errno));
		return -1;
	}
	long n = 0;
	uint64_t ent[512], pages = m->ram_size / MEM_PAGE;
	for (uint64_t pg = 0; pg < pages; pg += 512) {
		uint64_t k = pages - pg < 512 ? pages - pg : 512;
		off_t at = (off_t)(((uintptr_t)m->base / MEM_PAGE + pg) * sizeof(uint64_t));
		if (pread(pm, ent, k * sizeof(uint64_t), at) != (ssize_t)(k * sizeof(uint64_t))) {
			pr_err("reset: /proc/self/pagemap: %s", strerror(errno));
			close(pm);
			return -1;
		}
		for (uint64_t i = 0; i < k; i++)
			if ((ent[i] & PM_PRESENT) && !(ent[i] & PM_FILE)) {
				put_back(m, pg + i, 1);
				n++;
			}
	}
	close(pm);
	return n;
}

long mem_restore(struct guest_mem *m, uint64_t *const *dirty)
{
	if (!m->pristine) {
		pr_err("reset: guest RAM is not a private view of a template's");
		return -1;
	}
	long n = 0;
	if (!dirty) {
		n = restore_private(m);
	} else {
		/* Runs of pages set in either bitmap, joined across words (run_start, run_len:
		 * the one being gathered); regions are laid out one after the other from base. */
		uint64_t off = 0, run_start = 0, run_len = 0;
		for (unsigned r = 0; r < m->nregions; r++) {
			uint64_t pages = m->regions[r].size / MEM_PAGE, first = off / MEM_PAGE;
			for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
				/* (a region starts on a 64-page boundary: at 0, or at 4 GiB) */
				uint64_t bits = dirty[r][w] | m->written[first / 64 + w];
				while (bits) {
					unsigned b = (unsigned)__builtin_ctzll(bits), e = b;
					while (e < 64 && (bits >> e & 1))
						e++;
					uint64_t start = w * 64 + b, cnt = e - b;
					if (start < pages) {
						if (start + cnt > pages)
							cnt = pages - start;
						if (run_len && run_start + run_len == first + start) {
							run_len += cnt;
						} else {
							if (run_len)
								put_back(m, run_start, run_len);
							run_start = first + start;
							run_len = cnt;
						}
						n += (long)cnt;
					}
					bits = e == 64 ? 0 : bits & ~((1ull << e) - 1);
				}
			}
			off += m->regions[r].size;
		}
		if (run_len)
			put_back(m, run_start, run_len);
	}
	memset(m->written, 0, MEM_BITMAP_WORDS(ALIGN_UP(m->ram_size, HUGE_ALIGN)) * sizeof(uint64_t));
	trim(m, n);
	return n;
}

int mem_pagemap_open(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != EACCES || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return fd;
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return -1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int e = errno;
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	errno = e;
	return fd;
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
