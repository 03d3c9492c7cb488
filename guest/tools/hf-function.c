/* hf-function: the function benchmark in a Linux guest (its workload: fn-workload.h).
 * hf-function full       initialize and compute
 * hf-function afterinit  initialize, signal the fork point (HF_PORT_FORK), compute
 * Prints "function: done ID init_ms I compute_ms C error small|LARGE", records host mark 1
 * (HF_PORT_MARK) when done, exits 0 if right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>

#include "fn-workload.h"
#include "hf-tool.h"

void *fn_alloc(uint64_t bytes)
{
	void *p = malloc(bytes);
	if (!p) {
		fprintf(stderr, "hf-function: out of memory\n");
		exit(1);
	}
	return p;
}

static long ms_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

int main(int argc, char **argv)
{
	int afterinit = argc == 2 && !strcmp(argv[1], "afterinit");
	if (argc != 2 || (!afterinit && strcmp(argv[1], "full"))) {
		fprintf(stderr, "usage: hf-function full|afterinit\n");
		return 2;
	}
	struct fn_state s;
	unsigned id = 0;
	long t0 = ms_now();
	fn_init(&s);
	long t1 = ms_now();
	if (hf_ports("hf-function") < 0)
		return 1;
	if (afterinit) {
		id = inl(HF_PORT_FORK);
		if (id == HF_FORK_FAILED) {
			fprintf(stderr, "hf-function: the fork point failed\n");
			return 1;
		}
	}
	long t2 = ms_now();
	double err = fn_compute(&s);
	long t3 = ms_now();
	int ok = err < 1e-6;
	outl(1, HF_PORT_MARK);
	printf("function: done %u init_ms %ld compute_ms %ld error %s\n", id,
	       id ? 0L : t1 - t0, t3 - t2, ok ? "small" : "LARGE");
	return ok ? 0 : 1;
}
