/* `hyperfork serve`'s Prometheus metrics (see metrics.h). */
#include "serve/metrics.h"

#include <ctype.h>
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/client.h"
#include "util/admit.h"
#include "util/util.h"
#include "serve/function.h"
#include "serve/histogram.h"

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
		fprintf(m, "%s_bucket{function=\"%s\",le=\"%g\"} %llu\n", name, fn, hist_bounds[i],
			(unsigned long long)cum);
	}
	fprintf(m, "%s_bucket{function=\"%s\",le=\"+Inf\"} %llu\n", name, fn,
		(unsigned long long)h->count);
	fprintf(m, "%s_sum{function=\"%s\"} %.9f\n", name, fn, (double)h->sum_ns / 1e9);
	fprintf(m, "%s_count{function=\"%s\"} %llu\n", name, fn, (unsigned long long)h->count);
}

/* What one function's metrics say, taken under its lock (and from its template). */
struct fn_snapshot {
	const char *name;
	struct fn_stats st;
	/* the one-number metrics (struct scalar) */
	uint64_t active, on_demand, live, pool_ready, pool_target, ready, boots, memory;
	pid_t group; /* its VMs' process group (its template's pid), 0 if none */
};

static void snapshot(struct function *f, struct fn_snapshot *out)
{
	pthread_mutex_lock(&f->lock);
	out->name = f->cfg->name;
	out->st = f->stats;
	out->ready = f->state == FN_READY;
	out->active = f->active;
	out->boots = f->boots;
	out->group = f->template_pid;
	pthread_mutex_unlock(&f->lock);
	out->on_demand = out->st.on_demand;
	out->live = out->st.live;
	out->pool_ready = out->pool_target = 0;
	if (out->ready && fn_cloned(f->cfg)) {
		struct hf_request req = {.cmd = CMD_STATUS};
		struct hf_response resp = {0};
		char why[200];
		int fd = fn_template_connect(f, false, why, sizeof(why));
		if (fd >= 0 && ctl_exchange(fd, f->cfg->name, &req, &resp) == 0 && resp.ok) {
			out->pool_ready = resp.vm.pool_ready;
			out->pool_target = resp.vm.pool_target;
		}
	}
}

/* Each function's memory: the proportional set sizes of the processes in its process
 * group (its template, warm pool and clones share one), in one pass over /proc. */
static void groups_pss(struct fn_snapshot *snap, unsigned n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		int ppid, pg;
		unsigned i = 0;
		if (proc_parent_group(atoi(e->d_name), &ppid, &pg) < 0 || pg <= 0)
			continue;
		while (i < n && snap[i].group != pg)
			i++;
		struct proc_memory m;
		if (i < n && proc_memory(atoi(e->d_name), &m) == 0)
			snap[i].memory += m.pss_kb * 1024;
	}
	if (d)
		closedir(d);
}

/* The metrics of one number per function. */
static const struct scalar {
	const char *name, *type, *help;
	size_t field; /* offsetof a uint64_t of struct fn_snapshot */
} scalars[] = {
	{"hyperfork_invocations_active", "gauge", "Invocations in flight.",
	 offsetof(struct fn_snapshot, active)},
	{"hyperfork_clones_on_demand_total", "counter",
	 "Invocations whose clone was made when they came: the pool had none warm.",
	 offsetof(struct fn_snapshot, on_demand)},
	{"hyperfork_clones_live", "gauge", "VMs running an invocation now (clones; boots in mode boot).",
	 offsetof(struct fn_snapshot, live)},
	{"hyperfork_pool_warm_clones", "gauge", "Warm clones ready in the template's pool.",
	 offsetof(struct fn_snapshot, pool_ready)},
	{"hyperfork_pool_target_clones", "gauge", "Warm clones the template keeps ready.",
	 offsetof(struct fn_snapshot, pool_target)},
	{"hyperfork_function_ready", "gauge",
	 "1 when the function takes invocations (its template is frozen).",
	 offsetof(struct fn_snapshot, ready)},
	{"hyperfork_function_boots_total", "counter",
	 "Times the function's VM was booted and initialised (more than 1: it died).",
	 offsetof(struct fn_snapshot, boots)},
	{"hyperfork_function_memory_bytes", "gauge",
	 "Host memory of the function's VMMs (template, warm pool, live clones): the sum of "
	 "their proportional set sizes, so pages shared copy-on-write count once.",
	 offsetof(struct fn_snapshot, memory)},
};

int serve_metrics(struct function *const *fns, unsigned n, char **buf, size_t *len)
{
	static const char *const outcomes[] = {"ok", "handled", "unhandled", "timeout",
					       "throttled", "service"};
	struct fn_snapshot *snap = calloc(n ? n : 1, sizeof(*snap));
	FILE *m = snap ? open_memstream(buf, len) : NULL;
	if (!m) {
		free(snap);
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		snapshot(fns[i], &snap[i]);
	groups_pss(snap, n);

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
	for (size_t k = 0; k < sizeof(scalars) / sizeof(scalars[0]); k++) {
		family(m, scalars[k].name, scalars[k].type, scalars[k].help);
		for (unsigned i = 0; i < n; i++) {
			uint64_t v;
			memcpy(&v, (const char *)&snap[i] + scalars[k].field, sizeof(v));
			fprintf(m, "%s{function=\"%s\"} %llu\n", scalars[k].name, snap[i].name,
				(unsigned long long)v);
		}
	}
	family(m, "hyperfork_host_memory_available_bytes", "gauge",
	       "The host's MemAvailable (/proc/meminfo).");
	fprintf(m, "hyperfork_host_memory_available_bytes %llu\n",
		(unsigned long long)host_mem_available());
	free(snap);
	return fclose(m) == 0 ? 0 : -1;
}
