/* The guest's cgroup v2 numbers (the agent's StatsResponse) in the cgroup v1 Metrics
 * message containerd's CRI decodes for `crictl stats` / `kubectl top`. */
#include <stdlib.h>

#include "proto/agent.pb-c.h"
#include "shim/shim.h"

#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"

uint8_t *shim_metrics_pack(const struct Cocoon__Agent__V1__StatsResponse *s, size_t *len)
{
	Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
	Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
	Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
	Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
	Io__Containerd__Cgroups__V1__Throttle thr = IO__CONTAINERD__CGROUPS__V1__THROTTLE__INIT;
	Io__Containerd__Cgroups__V1__MemoryStat mem =
		IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
	Io__Containerd__Cgroups__V1__MemoryEntry mu =
		IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT;
	Io__Containerd__Cgroups__V1__MemoryOomControl oom =
		IO__CONTAINERD__CGROUPS__V1__MEMORY_OOM_CONTROL__INIT;
	Io__Containerd__Cgroups__V1__BlkIOStat blk = IO__CONTAINERD__CGROUPS__V1__BLK_IOSTAT__INIT;
	Io__Containerd__Cgroups__V1__BlkIOEntry rd = IO__CONTAINERD__CGROUPS__V1__BLK_IOENTRY__INIT;
	Io__Containerd__Cgroups__V1__BlkIOEntry wr = IO__CONTAINERD__CGROUPS__V1__BLK_IOENTRY__INIT;
	Io__Containerd__Cgroups__V1__BlkIOEntry *ios[2] = { &rd, &wr };

	/* The counters that cross as they are: where each of the guest's numbers goes. */
	const struct {
		uint64_t *to;
		uint64_t from;
	} same[] = {
		{ &pids.current, s->pids_current },
		{ &pids.limit, s->pids_limit },
		{ &usage.total, s->cpu_usage_ns },
		{ &usage.user, s->cpu_user_ns },
		{ &usage.kernel, s->cpu_system_ns },
		{ &thr.throttled_periods, s->cpu_throttled_periods },
		{ &thr.throttled_time, s->cpu_throttled_ns },
		{ &mu.usage, s->memory_usage },
		{ &mu.limit, s->memory_limit },
		{ &mem.rss, s->memory_rss },
		{ &mem.total_rss, s->memory_rss },
		{ &mem.cache, s->memory_cache },
		{ &mem.total_cache, s->memory_cache },
		{ &oom.oom_kill, s->memory_oom_kills },
		{ &rd.value, s->io_read_bytes },
		{ &wr.value, s->io_write_bytes },
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		*same[i].to = same[i].from;
	cpu.usage = &usage;
	cpu.throttling = &thr;
	mem.usage = &mu;
	/* CRI's working set = usage - total_inactive_file. */
	mem.total_inactive_file = mem.inactive_file =
		s->memory_usage > s->memory_working_set ? s->memory_usage - s->memory_working_set
							: 0;
	rd.op = "Read";
	rd.device = "";
	wr.op = "Write";
	wr.device = "";
	blk.n_io_service_bytes_recursive = 2;
	blk.io_service_bytes_recursive = ios;
	m.pids = &pids;
	m.cpu = &cpu;
	m.memory = &mem;
	m.memory_oom_control = &oom;
	m.blkio = &blk;

	*len = protobuf_c_message_get_packed_size(&m.base);
	uint8_t *buf = malloc(*len ? *len : 1);
	if (buf)
		protobuf_c_message_pack(&m.base, buf);
	return buf;
}
