/* `hyperfork serve`'s Prometheus metrics (see metrics.h). */
#include "serve/metrics.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "serve/serve.h"

static const double bounds[HIST_NBUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
					      0.05,   0.1,   0.2,   0.5,   1,    2,
					      5,      10,    30,    60};

void hist_observe(struct histogram *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	unsigned i = 0;
	while (i < HIST_NBUCKETS && s > bounds[i])
		i++;
	if (i < HIST_NBUCKETS)
		h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

/* One metric family's header. */
static void family(FILE *m, const char *name, const char *type, const char *help)
{
	fprintf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist_print(FILE *m, const char *name, const char *fn, const struct histogram *h)
{
	uint64_t cum = 0;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		cum += h->bucket[i];
		fprintf(m, "%s_bucket{function=\"%s\",le=\"%g\"} %llu\n", name, fn, bounds[i],
			(unsigned long long)cum);
	}
	fprintf(m, "%s_bucket{function=\"%s\",le=\"+Inf\"} %llu\n", name, fn,
		(unsigned long long)h->count);
	fprintf(m, "%s_sum{function=\"%s\"} %.9f\n", name, fn, (double)h->sum_ns / 1e9);
	fprintf(m, "%s_count{function=\"%s\"} %llu\n", name, fn, (unsigned long long)h->count);
}

/* Proportional set size of every process in process group pgid (a function's template, its
 * warm clones and its invocations' clones share one), in bytes. */
static uint64_t group_pss(pid_t pgid)
{
	uint64_t kb = 0;
	DIR *d = pgid > 0 ? opendir("/proc") : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char path[64], line[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		char *rp = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		int pg;
		/* after the command's ')': state, ppid, pgrp */
		if (!rp || sscanf(rp + 1, " %*c %*d %d", &pg) != 1 || pg != pgid)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", e->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		unsigned long long v;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Pss: %llu kB", &v) == 1)
				kb += v;
		fclose(f);
	}
	if (d)
		closedir(d);
	return kb * 1024;
}

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/* What one function's metrics say, taken under its lock (and from its template). */
struct fn_snapshot {
	const char *name;
	struct fn_stats st;
	enum fn_state state;
	unsigned active, boots, pool_ready, pool_target;
	uint64_t memory;
};

static void snapshot(struct function *f, struct fn_snapshot *out)
{
	pthread_mutex_lock(&f->lock);
	out->name = f->cfg->name;
	out->st = f->stats;
	out->state = f->state;
	out->active = f->active;
	out->boots = f->boots;
	pid_t group = f->template_pid;
	pthread_mutex_unlock(&f->lock);
	out->pool_ready = out->pool_target = 0;
	if (out->state == FN_READY && f->cfg->mode == FN_MODE_CLONE) {
		struct hf_request req = {.cmd = CMD_STATUS};
		struct hf_response resp = {0};
		int fd = ctl_connect(f->run_dir, f->cfg->name, true);
		if (fd >= 0 && ctl_exchange(fd, f->cfg->name, &req, &resp) == 0 && resp.ok) {
			out->pool_ready = resp.vm.pool_ready;
			out->pool_target = resp.vm.pool_target;
		}
	}
	out->memory = group_pss(group);
}

int serve_metrics(struct serve *s, char **buf, size_t *len)
{
	static const char *const outcomes[] = {"ok", "handled", "unhandled", "timeout",
					       "throttled", "service"};
	unsigned n = s->config.nfns;
	struct fn_snapshot *snap = calloc(n ? n : 1, sizeof(*snap));
	FILE *m = snap ? open_memstream(buf, len) : NULL;
	if (!m) {
		free(snap);
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		snapshot(&s->fns[i], &snap[i]);

	family(m, "hyperfork_invocations_total", "counter",
	       "Invocations by function and outcome (timeout: unhandled by its timeout; "
	       "throttled: refused with 429; service: no clone could run it).");
	for (unsigned i = 0; i < n; i++) {
		const struct fn_stats *st = &snap[i].st;
		uint64_t v[] = {st->ok, st->handled, st->unhandled - st->timeouts, st->timeouts,
				st->throttled, st->service_errors};
		for (unsigned k = 0; k < 6; k++)
			fprintf(m, "hyperfork_invocations_total{function=\"%s\",outcome=\"%s\"} %llu\n",
				snap[i].name, outcomes[k], (unsigned long long)v[k]);
	}
	family(m, "hyperfork_invocations_active", "gauge", "Invocations in flight.");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_invocations_active{function=\"%s\"} %u\n",
			snap[i].name, snap[i].active);
	family(m, "hyperfork_invocation_duration_seconds", "histogram",
	       "End-to-end invocation latency: the request received to its answer ready.");
	for (unsigned i = 0; i < n; i++)
		hist_print(m, "hyperfork_invocation_duration_seconds", snap[i].name,
			   &snap[i].st.duration);
	family(m, "hyperfork_clone_activation_seconds", "histogram",
	       "From asking for an invocation's VM (a clone; a boot in mode boot) until its "
	       "agent took the connection.");
	for (unsigned i = 0; i < n; i++)
		hist_print(m, "hyperfork_clone_activation_seconds", snap[i].name,
			   &snap[i].st.activation);
	family(m, "hyperfork_clones_on_demand_total", "counter",
	       "Invocations whose clone was made when they came: the pool had none warm.");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_clones_on_demand_total{function=\"%s\"} %llu\n",
			snap[i].name, (unsigned long long)snap[i].st.on_demand);
	family(m, "hyperfork_clones_live", "gauge",
	       "VMs running an invocation now (clones; boots in mode boot).");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_clones_live{function=\"%s\"} %u\n", snap[i].name,
			snap[i].st.live);
	family(m, "hyperfork_pool_warm_clones", "gauge", "Warm clones ready in the template's pool.");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_pool_warm_clones{function=\"%s\"} %u\n", snap[i].name,
			snap[i].pool_ready);
	family(m, "hyperfork_pool_target_clones", "gauge", "Warm clones the template keeps ready.");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_pool_target_clones{function=\"%s\"} %u\n",
			snap[i].name, snap[i].pool_target);
	family(m, "hyperfork_function_ready", "gauge",
	       "1 when the function takes invocations (its template is frozen).");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_function_ready{function=\"%s\"} %d\n", snap[i].name,
			snap[i].state == FN_READY);
	family(m, "hyperfork_function_boots_total", "counter",
	       "Times the function's VM was booted and initialised (more than 1: it died).");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_function_boots_total{function=\"%s\"} %u\n",
			snap[i].name, snap[i].boots);
	family(m, "hyperfork_function_memory_bytes", "gauge",
	       "Host memory of the function's VMMs (template, warm pool, live clones): the sum "
	       "of their proportional set sizes, so pages shared copy-on-write count once.");
	for (unsigned i = 0; i < n; i++)
		fprintf(m, "hyperfork_function_memory_bytes{function=\"%s\"} %llu\n",
			snap[i].name, (unsigned long long)snap[i].memory);
	family(m, "hyperfork_host_memory_available_bytes", "gauge",
	       "The host's MemAvailable (/proc/meminfo).");
	fprintf(m, "hyperfork_host_memory_available_bytes %llu\n",
		(unsigned long long)mem_available());
	free(snap);
	return fclose(m) == 0 ? 0 : -1;
}
