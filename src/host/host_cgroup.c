#include "host/host_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The directory of the cgroup this process is in, in the hierarchy of dir
 * (CGROUP_ROOT/cocoon/... for v2, CGROUP_ROOT/<controller>/cocoon/... for v1). */
static int own_cgroup(const char *dir, char *out, size_t len, struct cc_error *err)
{
	char ctrl[64] = "";
	const char *rest = dir + strlen(CGROUP_ROOT "/");
	if (strncmp(rest, "cocoon/", 7) != 0) {
		size_t n = strcspn(rest, "/");
		if (n >= sizeof(ctrl))
			return cc_error_set(err, EINVAL, "cgroup %s", dir);
		memcpy(ctrl, rest, n);
		ctrl[n] = '\0';
	}
	cleanup_fclose FILE *f = fopen("/proc/self/cgroup", "re");
	if (f == NULL)
		return cc_error_set(err, errno, "/proc/self/cgroup");
	char line[PATH_MAX + 128];
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		/* hierarchy-id:controller,controller:path */
		char *list = strchr(line, ':'), *path = list ? strchr(list + 1, ':') : NULL;
		if (path == NULL)
			continue;
		*path++ = '\0';
		list++;
		bool v2 = ctrl[0] == '\0';
		bool match = v2 && *list == '\0' && strcmp(line, "0") == 0;
		char *save = NULL;
		for (char *c = strtok_r(list, ",", &save); c != NULL && !v2;
		     c = strtok_r(NULL, ",", &save))
			match |= strcmp(c, ctrl) == 0;
		if (!match)
			continue;
		if ((size_t)snprintf(out, len, "%s%s%s%s", CGROUP_ROOT, ctrl[0] ? "/" : "", ctrl,
				     strcmp(path, "/") == 0 ? "" : path) >= len)
			return cc_error_set(err, ENAMETOOLONG, "cgroup %s", path);
		return 0;
	}
	return cc_error_set(err, ENOENT, "/proc/self/cgroup names no cgroup for %s", dir);
}

int host_cgroup_join_self(struct host_cgroup *cg, struct cc_error *err)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", getpid());
	for (unsigned i = 0; i < cg->n; i++)
		if (own_cgroup(cg->dirs[i], cg->back[i], sizeof(cg->back[i]), err) < 0)
			return -1;
	cg->joined = true;
	for (unsigned i = 0; i < cg->n; i++)
		if (write_value(cg->dirs[i], "cgroup.procs", pid, err) < 0)
			return -1;
	return 0;
}

void host_cgroup_leave_self(struct host_cgroup *cg)
{
	if (!cg->joined)
		return;
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", getpid());
	for (unsigned i = 0; i < cg->n; i++) {
		struct cc_error e;
		if (write_value(cg->back[i], "cgroup.procs", pid, &e) == 0)
			continue;
		/* Its old cgroup was removed (or, v2, gained children): the root takes anyone. */
		char root[PATH_MAX];
		snprintf(root, sizeof(root), "%.*s",
			 (int)(strstr(cg->dirs[i], "/cocoon/") - cg->dirs[i]), cg->dirs[i]);
		if (write_value(root, "cgroup.procs", pid, &e) < 0)
			cc_warn("leaving cgroup %s: %s", cg->dirs[i], e.msg);
	}
	cg->joined = false;
}

void host_cgroup_destroy(struct host_cgroup *cg)
{
	host_cgroup_leave_self(cg);
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

static const char *const hierarchies[] = { CGROUP_ROOT, CGROUP_ROOT "/memory", CGROUP_ROOT "/pids",
					   CGROUP_ROOT "/cpu" };

void host_cgroup_remove(const char *state_dir)
{
	char id[200];
	cgroup_name(state_dir, id, sizeof(id));
	struct host_cgroup cg = { .n = 0 };
	for (size_t i = 0; i < CC_ARRAY_SIZE(hierarchies) && cg.n < CC_ARRAY_SIZE(cg.dirs); i++) {
		snprintf(cg.dirs[cg.n], PATH_MAX, "%s/cocoon/%.200s", hierarchies[i], id);
		if (access(cg.dirs[cg.n], F_OK) == 0)
			cg.n++;
	}
	host_cgroup_destroy(&cg);
}

void host_cgroup_remove_dead(const char *prefix)
{
	const char *base = strrchr(prefix, '/');
	base = base != NULL ? base + 1 : prefix;
	for (size_t i = 0; i < CC_ARRAY_SIZE(hierarchies); i++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/cocoon", hierarchies[i]);
		DIR *d = opendir(dir);
		if (d == NULL)
			continue;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, base, strlen(base)) != 0)
				continue;
			char *end;
			long pid = strtol(e->d_name + strlen(base), &end, 10);
			if (end == e->d_name + strlen(base) || *end != '-' || pid <= 0 ||
			    pid > INT32_MAX || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
				continue;
			/* Ours only: the name's hash is of the whole path it was made for. */
			char path[PATH_MAX + 32], id[200];
			snprintf(path, sizeof(path), "%s%ld", prefix, pid);
			cgroup_name(path, id, sizeof(id));
			if (strcmp(id, e->d_name) != 0)
				continue;
			cc_info("cgroup %s/%s: its process %ld died, removing it", dir, id, pid);
			host_cgroup_remove(path);
		}
		closedir(d);
	}
}
