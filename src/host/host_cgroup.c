#include "host/host_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static int write_value(const char *dir, const char *file, const char *value, struct cc_error *err)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cc_error_set(err, errno, "%s", path);
	int rc = cc_write_all(fd, value, strlen(value), err);
	close(fd);
	return rc < 0 ? cc_error_prefix(err, "%s = %s", path, value) : 0;
}

static int add_dir(struct host_cgroup *cg, const char *parent, const char *id, struct cc_error *err)
{
	char dir[PATH_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/cocoon", parent) >= sizeof(dir) ||
	    (mkdir(dir, 0755) < 0 && errno != EEXIST))
		return cc_error_set(err, errno, "mkdir %s", dir);
	char d[PATH_MAX];
	if ((size_t)snprintf(d, sizeof(d), "%s/%s", dir, id) >= sizeof(d) - 16)
		return cc_error_set(err, ENAMETOOLONG, "cgroup %s", id);
	/* Left by a sandbox of the same id that crashed: empty, so rmdir works. */
	if (mkdir(d, 0755) < 0 && (errno != EEXIST || rmdir(d) < 0 || mkdir(d, 0755) < 0))
		return cc_error_set(err, errno, "mkdir %s", d);
	memcpy(cg->dirs[cg->n], d, sizeof(d));
	snprintf(cg->procs[cg->n], PATH_MAX, "%.*s/cgroup.procs", PATH_MAX - 16, d);
	cg->procs_list[cg->n] = cg->procs[cg->n];
	cg->n++;
	return 0;
}

/* <basename of state_dir>-<FNV-1a of the whole path>. */
static void cgroup_name(const char *state_dir, char *out, size_t len)
{
	uint32_t h = 2166136261u;
	for (const char *p = state_dir; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	const char *base = strrchr(state_dir, '/');
	snprintf(out, len, "%.150s-%08x", base != NULL ? base + 1 : state_dir, h);
}

int host_cgroup_create(const char *state_dir, const struct host_cgroup_limits *l,
		       struct host_cgroup *cg, struct cc_error *err)
{
	char id[200];
	cgroup_name(state_dir, id, sizeof(id));
	memset(cg, 0, sizeof(*cg));
	char mem[32], pids[32], cpu[64] = "max 100000";
	snprintf(mem, sizeof(mem), "%llu",
		 (unsigned long long)(l->memory_mib + HOST_CGROUP_MEM_OVERHEAD_MIB) << 20);
	snprintf(pids, sizeof(pids), "%u", HOST_CGROUP_PIDS_MAX);
	uint64_t quota = 0, period = l->cpu_period_us ? l->cpu_period_us : 100000;
	if (l->cpu_quota_us > 0)
		quota = l->cpu_quota_us + period * HOST_CGROUP_CPU_OVERHEAD_PCT / 100;
	struct stat st;
	if (stat(CGROUP_ROOT "/cgroup.controllers", &st) == 0) {
		/* v2: one directory; the controllers are enabled down to it. */
		if (write_value(CGROUP_ROOT, "cgroup.subtree_control", "+cpu +memory +pids", err) <
			    0 ||
		    add_dir(cg, CGROUP_ROOT, id, err) < 0 ||
		    write_value(CGROUP_ROOT "/cocoon", "cgroup.subtree_control",
				"+cpu +memory +pids", err) < 0)
			goto fail;
		if (quota > 0)
			snprintf(cpu, sizeof(cpu), "%llu %llu", (unsigned long long)quota,
				 (unsigned long long)period);
		if (write_value(cg->dirs[0], "memory.max", mem, err) < 0 ||
		    write_value(cg->dirs[0], "pids.max", pids, err) < 0 ||
		    write_value(cg->dirs[0], "cpu.max", cpu, err) < 0)
			goto fail;
		return 0;
	}
	/* v1: a directory per controller. */
	if (add_dir(cg, CGROUP_ROOT "/memory", id, err) < 0 ||
	    write_value(cg->dirs[cg->n - 1], "memory.limit_in_bytes", mem, err) < 0 ||
	    add_dir(cg, CGROUP_ROOT "/pids", id, err) < 0 ||
	    write_value(cg->dirs[cg->n - 1], "pids.max", pids, err) < 0 ||
	    add_dir(cg, CGROUP_ROOT "/cpu", id, err) < 0)
		goto fail;
	if (quota > 0) {
		char q[32], p[32];
		snprintf(q, sizeof(q), "%llu", (unsigned long long)quota);
		snprintf(p, sizeof(p), "%llu", (unsigned long long)period);
		if (write_value(cg->dirs[cg->n - 1], "cpu.cfs_period_us", p, err) < 0 ||
		    write_value(cg->dirs[cg->n - 1], "cpu.cfs_quota_us", q, err) < 0)
			goto fail;
	}
	return 0;
fail:
	host_cgroup_destroy(cg);
	return cc_error_prefix(err, "host cgroup of %s", id);
}

void host_cgroup_destroy(struct host_cgroup *cg)
{
	for (unsigned i = 0; i < cg->n; i++) {
		/* A process that just exited may still be leaving it. */
		for (int tries = 0; rmdir(cg->dirs[i]) < 0 && errno == EBUSY && tries < 100;
		     tries++) {
			struct timespec ts = { 0, 10 * 1000000 };
			nanosleep(&ts, NULL);
		}
		if (access(cg->dirs[i], F_OK) == 0)
			cc_warn("cgroup %s: %s", cg->dirs[i], strerror(errno));
	}
	memset(cg, 0, sizeof(*cg));
}

void host_cgroup_remove(const char *state_dir)
{
	char id[200];
	cgroup_name(state_dir, id, sizeof(id));
	static const char *const parents[] = { CGROUP_ROOT, CGROUP_ROOT "/memory",
					       CGROUP_ROOT "/pids", CGROUP_ROOT "/cpu" };
	struct host_cgroup cg = { .n = 0 };
	for (size_t i = 0; i < CC_ARRAY_SIZE(parents) && cg.n < CC_ARRAY_SIZE(cg.dirs); i++) {
		snprintf(cg.dirs[cg.n], PATH_MAX, "%s/cocoon/%.200s", parents[i], id);
		if (access(cg.dirs[cg.n], F_OK) == 0)
			cg.n++;
	}
	host_cgroup_destroy(&cg);
}
