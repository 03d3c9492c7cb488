/* A task's figures for containerd's Stats (`ctr task metrics`, CRI's container stats): its
 * VMM as a cgroup v2 would count it, packed as io.containerd.cgroups.v2.Metrics. Memory is
 * the VMM's proportional set size (a clone's share of what it shares with its template and
 * siblings, guest RAM included) against the guest's RAM as the limit; CPU, the VMM's user
 * and system time; pids, its threads (the vCPUs among them). */
#include "shim/internal.h"
#include "util/util.h"

#include "github.com/containerd/cgroups/v2/stats/metrics.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"

void shim_stats_answer(pid_t pid, uint64_t mem_limit, struct ttrpc_result *res)
{
	struct proc_cpu c;
	struct proc_memory m;
	if (pid <= 0 || proc_cpu(pid, &c) < 0 || proc_memory(pid, &m) < 0) {
		ttrpc_result_status(res, TTRPC_NOT_FOUND, "its VMM (pid %d) is gone", (int)pid);
		return;
	}
	Io__Containerd__Cgroups__V2__PidsStat pids = IO__CONTAINERD__CGROUPS__V2__PIDS_STAT__INIT;
	Io__Containerd__Cgroups__V2__CPUStat cpu = IO__CONTAINERD__CGROUPS__V2__CPUSTAT__INIT;
	Io__Containerd__Cgroups__V2__MemoryStat mem = IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
	Io__Containerd__Cgroups__V2__Metrics metrics = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
	pids.current = c.threads;
	cpu.user_usec = c.user_us;
	cpu.system_usec = c.system_us;
	cpu.usage_usec = c.user_us + c.system_us;
	mem.usage = m.pss_kb * 1024;
	mem.usage_limit = mem_limit;
	mem.anon = m.pss_anon_kb * 1024;
	mem.file = m.pss_file_kb * 1024;
	mem.shmem = m.pss_shmem_kb * 1024;
	metrics.pids = &pids;
	metrics.cpu = &cpu;
	metrics.memory = &mem;

	uint8_t value[512]; /* (a dozen varints) */
	if (protobuf_c_message_get_packed_size(&metrics.base) > sizeof(value)) {
		ttrpc_result_status(res, TTRPC_INTERNAL, "its metrics do not fit");
		return;
	}
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = "io.containerd.cgroups.v2.Metrics";
	any.value.data = value;
	any.value.len = protobuf_c_message_pack(&metrics.base, value);
	Containerd__Task__V2__StatsResponse out = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	out.stats = &any;
	ttrpc_result_message(res, &out.base);
}
