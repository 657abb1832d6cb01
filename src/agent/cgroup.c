/* cgroup v2: one directory per container under a configurable root (default
 * /sys/fs/cgroup/cocoon). Limits, freezing, signalling every member, statistics. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/container_priv.h"
#include "shared/agent_proto.h"
#include "shared/util.h"

#define CGROUP_FILE_MAX (256 * 1024)

static char cgroup_root[200] = "/sys/fs/cgroup/cocoon";

int container_set_cgroup_root(const char *root, struct cc_error *err)
{
	if (root[0] != '/' || strlen(root) >= sizeof(cgroup_root))
		return cc_error_set(err, 0,
				    "cgroup root %s: must be an absolute path below %zu bytes",
				    root, sizeof(cgroup_root));
	strcpy(cgroup_root, root);
	return 0;
}

/* dir/file; dir is at most cgroup_root + "/" + id, so 512 bytes always fit. */
static void cg_path(char *buf, size_t size, const char *dir, const char *file)
{
	if (snprintf(buf, size, "%s/%s", dir, file) >= (int)size)
		buf[0] = '\0';
}

static int cg_write(const char *dir, const char *file, const char *value, struct cc_error *err)
{
	char path[512];
	cg_path(path, sizeof(path), dir, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return cc_error_set(err, 0, "%s: missing (is its controller enabled?)", path);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		return cc_error_set(err, errno, "write '%s' to %s", value, path);
	return 0;
}

static int cg_read(const char *dir, const char *file, char **out, struct cc_error *err)
{
	char path[512];
	cg_path(path, sizeof(path), dir, file);
	return cc_read_file(path, CGROUP_FILE_MAX, out, NULL, err);
}

/* Value of "key N" in a flat-keyed file such as cpu.stat; 0 when absent. */
static uint64_t keyed(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *l = text; l != NULL; l = strchr(l, '\n')) {
		l += *l == '\n';
		if (strncmp(l, key, klen) == 0 && l[klen] == ' ')
			return strtoull(l + klen + 1, NULL, 10);
	}
	return 0;
}

/* Enables every available controller in the subtree_control of each level from the
 * cgroup2 mount down to `dir`, so that children get the interface files. Controllers
 * that cannot be enabled are left out; a limit that needs one then fails by name. */
static void enable_controllers(const char *dir)
{
	char up[512];
	/* Parents first; the walk stops above the cgroup2 mount root, whose parent has no
	 * cgroup.controllers. */
	snprintf(up, sizeof(up), "%s", dir);
	char *slash = strrchr(up, '/');
	if (slash != NULL && slash != up) {
		char probe[512];
		*slash = '\0';
		cg_path(probe, sizeof(probe), up, "cgroup.controllers");
		if (access(probe, F_OK) == 0)
			enable_controllers(up);
	}
	cleanup_free char *avail = NULL;
	struct cc_error ignored;
	if (cg_read(dir, "cgroup.controllers", &avail, &ignored) < 0)
		return;
	for (char *save = NULL, *c = strtok_r(avail, " \n", &save); c != NULL;
	     c = strtok_r(NULL, " \n", &save)) {
		char op[64];
		snprintf(op, sizeof(op), "+%s", c);
		cg_write(dir, "cgroup.subtree_control", op, &ignored);
	}
}

int cgroup_create(const char *id, char *path, size_t path_size, struct cc_error *err)
{
	struct cc_error bad;
	if (agent_check_id("container id", id, false, &bad) < 0)
		return cc_error_set(err, 0, "container id '%.100s': use 1-100 of [A-Za-z0-9_.-]",
				    id);
	if (cc_mkdir_p(cgroup_root, 0755, err) < 0)
		return cc_error_prefix(err, "cgroup root");
	enable_controllers(cgroup_root);
	if ((size_t)snprintf(path, path_size, "%s/%s", cgroup_root, id) >= path_size)
		return cc_error_set(err, ENAMETOOLONG, "cgroup for %s", id);
	if (mkdir(path, 0755) < 0)
		return cc_error_set(err, errno, "create cgroup %s", path);
	return 0;
}

/* OCI cpu shares (2..262144, default 1024) to cgroup v2 cpu.weight (1..10000). */
static uint64_t shares_to_weight(uint64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

int cgroup_apply(const char *path, const struct oci_resources *r, struct cc_error *err)
{
	char v[64];
	if (r->memory_limit > 0) {
		snprintf(v, sizeof(v), "%" PRId64, r->memory_limit);
		if (cg_write(path, "memory.max", v, err) < 0)
			return -1;
	}
	if (r->memory_swap > 0) {
		if (r->memory_limit <= 0 || r->memory_swap < r->memory_limit)
			return cc_error_set(err, 0,
					    "memory.swap (%" PRId64 ") must be at least "
					    "memory.limit",
					    r->memory_swap);
		/* OCI counts memory+swap; v2 counts swap alone. No file: no swap at all. */
		snprintf(v, sizeof(v), "%" PRId64, r->memory_swap - r->memory_limit);
		if (cg_write(path, "memory.swap.max", v, err) < 0 && err->err_no != 0)
			return -1;
	}
	if (r->cpu_quota > 0 || r->cpu_period > 0) {
		uint64_t period = r->cpu_period > 0 ? r->cpu_period : 100000;
		if (r->cpu_quota > 0)
			snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, r->cpu_quota, period);
		else
			snprintf(v, sizeof(v), "max %" PRIu64, period);
		if (cg_write(path, "cpu.max", v, err) < 0)
			return -1;
	}
	if (r->cpu_shares > 0) {
		snprintf(v, sizeof(v), "%" PRIu64, shares_to_weight(r->cpu_shares));
		if (cg_write(path, "cpu.weight", v, err) < 0)
			return -1;
	}
	if (r->cpuset_cpus != NULL && cg_write(path, "cpuset.cpus", r->cpuset_cpus, err) < 0)
		return -1;
	if (r->cpuset_mems != NULL && cg_write(path, "cpuset.mems", r->cpuset_mems, err) < 0)
		return -1;
	if (r->pids_limit > 0) {
		snprintf(v, sizeof(v), "%" PRId64, r->pids_limit);
		if (cg_write(path, "pids.max", v, err) < 0)
			return -1;
	}
	return 0;
}

int cgroup_join_self(const char *path, struct cc_error *err)
{
	return cg_write(path, "cgroup.procs", "0", err);
}

int cgroup_freeze(const char *path, int frozen, struct cc_error *err)
{
	if (cg_write(path, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
		return -1;
	/* Freezing completes asynchronously; cgroup.events says when. */
	for (int i = 0; i < 2000; i++) {
		cleanup_free char *events = NULL;
		if (cg_read(path, "cgroup.events", &events, err) < 0)
			return -1;
		if ((keyed(events, "frozen") != 0) == (frozen != 0))
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return cc_error_set(err, ETIMEDOUT, "%s %s", frozen ? "freeze" : "thaw", path);
}

int cgroup_read_pids(const char *path, pid_t **pids, size_t *n, struct cc_error *err)
{
	cleanup_free char *text = NULL;
	if (cg_read(path, "cgroup.procs", &text, err) < 0)
		return -1;
	size_t cap = 1;
	for (const char *p = text; *p != '\0'; p++)
		cap += *p == '\n';
	pid_t *v = calloc(cap, sizeof(pid_t));
	if (v == NULL)
		return cc_error_set(err, ENOMEM, "pids of %s", path);
	*n = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l != NULL && *n < cap;
	     l = strtok_r(NULL, "\n", &save))
		v[(*n)++] = (pid_t)atoi(l);
	*pids = v;
	return 0;
}

int cgroup_signal_all(const char *path, int sig, struct cc_error *err)
{
	char kill_file[512];
	cg_path(kill_file, sizeof(kill_file), path, "cgroup.kill");
	if (sig == SIGKILL && access(kill_file, F_OK) == 0)
		return cg_write(path, "cgroup.kill", "1", err);
	cleanup_free pid_t *pids = NULL;
	size_t n;
	if (cgroup_read_pids(path, &pids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (kill(pids[i], sig) < 0 && errno != ESRCH)
			return cc_error_set(err, errno, "kill %d", (int)pids[i]);
	}
	return 0;
}

int cgroup_remove(const char *path, struct cc_error *err)
{
	/* Killed members leave the cgroup shortly after the signal lands. */
	for (int i = 0; i < 500; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	return cc_error_set(err, errno, "remove cgroup %s", path);
}

int cgroup_read_stats(const char *path, struct container_stats *st, struct cc_error *err)
{
	memset(st, 0, sizeof(*st));
	cleanup_free char *cpu = NULL, *mem = NULL, *events = NULL, *io = NULL;
	cleanup_free char *cur = NULL, *max = NULL, *pids = NULL, *pmax = NULL;
	/* cpu.stat exists in every v2 cgroup; the others only with their controller. */
	if (cg_read(path, "cpu.stat", &cpu, err) < 0)
		return -1;
	st->cpu_usage_ns = keyed(cpu, "usage_usec") * 1000;
	st->cpu_user_ns = keyed(cpu, "user_usec") * 1000;
	st->cpu_system_ns = keyed(cpu, "system_usec") * 1000;
	st->cpu_throttled_periods = keyed(cpu, "nr_throttled");
	st->cpu_throttled_ns = keyed(cpu, "throttled_usec") * 1000;
	struct cc_error absent;
	if (cg_read(path, "memory.current", &cur, &absent) == 0)
		st->memory_usage = strtoull(cur, NULL, 10);
	if (cg_read(path, "memory.max", &max, &absent) == 0 && strncmp(max, "max", 3) != 0)
		st->memory_limit = strtoull(max, NULL, 10);
	if (cg_read(path, "memory.stat", &mem, &absent) == 0) {
		uint64_t inactive = keyed(mem, "inactive_file");
		st->memory_rss = keyed(mem, "anon");
		st->memory_cache = keyed(mem, "file");
		st->memory_working_set =
			st->memory_usage > inactive ? st->memory_usage - inactive : 0;
	}
	if (cg_read(path, "memory.events", &events, &absent) == 0)
		st->memory_oom_kills = keyed(events, "oom_kill");
	if (cg_read(path, "pids.current", &pids, &absent) == 0)
		st->pids_current = strtoull(pids, NULL, 10);
	if (cg_read(path, "pids.max", &pmax, &absent) == 0 && strncmp(pmax, "max", 3) != 0)
		st->pids_limit = strtoull(pmax, NULL, 10);
	if (cg_read(path, "io.stat", &io, &absent) == 0) {
		/* "8:0 rbytes=N wbytes=N rios=N ..." per device */
		for (char *p = io; (p = strstr(p, "bytes=")) != NULL; p += 6) {
			if (p - io >= 1 && p[-1] == 'r')
				st->io_read_bytes += strtoull(p + 6, NULL, 10);
			else if (p - io >= 1 && p[-1] == 'w')
				st->io_write_bytes += strtoull(p + 6, NULL, 10);
		}
	}
	return 0;
}
