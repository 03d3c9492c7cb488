/* Breaking copy-on-write ahead of the guest, from a background thread (see prefault.h). */
#include "clone/prefault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/seccomp.h"
#include "core/vm.h"
#include "util/log.h"
#include "util/trace.h"

#define CHUNK (2 * MiB)
#define PAGES_PER_CHUNK (CHUNK / 4096)
#define PM_PRESENT (1ull << 63)
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; older glibc headers lack it */
#endif

struct prefault {
	struct vm *vm;
	enum prefault_mode mode;
	pthread_t thread;
	bool running;
	volatile bool stop;
	uint64_t pages; /* pages made private, for the log */
};

int prefault_parse(const char *s, enum prefault_mode *mode, bool *sync)
{
	size_t n = strlen(s);
	*sync = n > 5 && !strcmp(s + n - 5, "-sync");
	if (*sync)
		n -= 5;
	if (n == 4 && !strncmp(s, "none", 4) && !*sync)
		*mode = PREFAULT_NONE;
	else if (n == 8 && !strncmp(s, "populate", 8))
		*mode = PREFAULT_POPULATE;
	else if (n == 4 && !strncmp(s, "huge", 4))
		*mode = PREFAULT_HUGE;
	else
		return -1;
	return 0;
}

const char *prefault_name(enum prefault_mode mode)
{
	return mode == PREFAULT_POPULATE ? "populate" : mode == PREFAULT_HUGE ? "huge" : "none";
}

/* Fault in writable private copies of the present pages of one 2 MiB chunk. */
static void chunk_populate(struct prefault *p, int pm, uint8_t *chunk, bool huge)
{
	uint64_t ent[PAGES_PER_CHUNK];
	off_t off = (off_t)((uintptr_t)chunk / 4096 * sizeof(uint64_t));
	if (pread(pm, ent, sizeof(ent), off) != (ssize_t)sizeof(ent))
		return;
	unsigned present = 0;
	for (unsigned i = 0; i < PAGES_PER_CHUNK;) {
		if (!(ent[i] & PM_PRESENT)) {
			i++;
			continue;
		}
		unsigned j = i;
		while (j < PAGES_PER_CHUNK && (ent[j] & PM_PRESENT))
			j++;
		if (madvise(chunk + (size_t)i * 4096, (size_t)(j - i) * 4096, MADV_POPULATE_WRITE) < 0)
			for (unsigned k = i; k < j; k++) /* older kernels: write each page */
				__atomic_fetch_add(chunk + (size_t)k * 4096, 0, __ATOMIC_RELAXED);
		present += j - i;
		i = j;
	}
	p->pages += present;
	if (huge && present)
		madvise(chunk, CHUNK, MADV_COLLAPSE); /* best effort: may fail for lack of memory */
}

static void pass(struct vm *vm, enum prefault_mode mode, struct prefault *p)
{
	int pm = mem_pagemap_open();
	if (pm < 0) {
		pr_debug("prefault: /proc/self/pagemap: %s", strerror(errno));
		return;
	}
	trace_point("prefault-start");
	uint64_t t0 = now_ns();
	for (unsigned r = 0; r < vm->mem.nregions && !p->stop; r++) {
		struct mem_region *reg = &vm->mem.regions[r];
		for (uint64_t o = 0; o + CHUNK <= reg->size && !p->stop; o += CHUNK)
			chunk_populate(p, pm, reg->hva + o, mode == PREFAULT_HUGE);
	}
	close(pm);
	trace_point("prefault-done");
	pr_debug("prefault (%s): %llu pages made private in %.1f ms",
		 prefault_name(mode), (unsigned long long)p->pages,
		 (double)(now_ns() - t0) / 1e6);
}

static void *prefault_thread(void *arg)
{
	struct prefault *p = arg;
	if (seccomp_enter(SECCOMP_HELPER) < 0)
		return NULL;
	seccomp_test_hook(SECCOMP_HELPER, p->vm->clone_id != 0);
	pass(p->vm, p->mode, p);
	return NULL;
}

void prefault_run(struct vm *vm, enum prefault_mode mode)
{
	struct prefault p = {0};
	if (mode != PREFAULT_NONE)
		pass(vm, mode, &p);
}

int prefault_start(struct prefault **pp, struct vm *vm, enum prefault_mode mode)
{
	if (mode == PREFAULT_NONE)
		return 0;
	if (!*pp) {
		*pp = calloc(1, sizeof(struct prefault));
		if (!*pp)
			return -1;
	}
	struct prefault *p = *pp;
	if (p->running)
		prefault_stop(p); /* a new fork: start over, every page may be shared again */
	p->vm = vm;
	p->mode = mode;
	p->stop = false;
	p->pages = 0;
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGSYS); /* a blocked SIGSYS would kill without the seccomp report */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&p->thread, NULL, prefault_thread, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		pr_err("cannot start the copy-on-write prefault thread: %s", strerror(e));
		return -1;
	}
	p->running = true;
	return 0;
}

void prefault_stop(struct prefault *p)
{
	if (!p || !p->running)
		return;
	p->stop = true;
	pthread_join(p->thread, NULL);
	p->running = false;
}

void prefault_forget(struct prefault *p)
{
	if (p)
		p->running = false;
}

void prefault_free(struct prefault *p)
{
	prefault_stop(p);
	free(p);
}
