#include "host/virtiofsd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "host/child.h"
#include "shared/log.h"
#include "shared/util.h"

#define VIRTIOFSD_MAX_FDS 16384
#define CC_STR_(x) #x
#define CC_STR(x) CC_STR_(x)

int virtiofsd_start(const char *binary, const char *source, const char *socket_path,
		    const char *log_path, const char *const *cgroup_procs, int timeout_ms,
		    pid_t *pid, struct cc_error *err)
{
	char path[4096];
	if (cc_find_executable(binary ? binary : VIRTIOFSD_DEFAULT, path, sizeof(path), err) < 0)
		return cc_error_prefix(err, "virtiofsd");
	cleanup_free char *sock_arg = cc_strdup_printf("--socket-path=%s", socket_path);
	cleanup_free char *src_arg = cc_strdup_printf("source=%s", source);
	if (sock_arg == NULL || src_arg == NULL)
		return cc_error_set(err, ENOMEM, "virtiofsd");
	/* cache=auto: the guest revalidates after a timeout, so host-side changes to a
	 * shared directory show up; announce_submounts: every bind mount under source keeps
	 * its own st_dev in the guest, so inode numbers of different filesystems never
	 * collide. */
	/* What a guest can make it hold: at most VIRTIOFSD_MAX_FDS host fds (virtiofsd
	 * itself would raise its limit to a million) and no worker pool (requests are
	 * served on the queue's thread), whatever another virtiofsd version defaults to. */
	char *const argv[] = { path,
			       sock_arg,
			       "--rlimit-nofile=" CC_STR(VIRTIOFSD_MAX_FDS),
			       "--thread-pool-size=0",
			       "-o",
			       src_arg,
			       "-o",
			       "cache=auto",
			       "-o",
			       "sandbox=namespace",
			       "-o",
			       "announce_submounts",
			       "-o",
			       "log_level=warn",
			       NULL };
	struct cc_jail cg_only = { .cgroups = cgroup_procs };
	if (cc_child_spawn_jail(argv, log_path, NULL, &cg_only, pid, err) < 0)
		return -1;

	uint64_t deadline = cc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct stat st;
	while (stat(socket_path, &st) < 0) {
		int status = 0;
		if (cc_child_wait(pid, 0, &status)) {
			cleanup_free char *log = NULL;
			struct cc_error e;
			if (cc_read_file(log_path, 4096, &log, NULL, &e) == 0) {
				size_t n = strlen(log);
				while (n > 0 && log[n - 1] == '\n')
					log[--n] = '\0';
			}
			return cc_error_set(err, 0, "virtiofsd exited (status %d)%s%s",
					    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
					    log && *log ? ": " : "", log ? log : "");
		}
		if (cc_now_ns() >= deadline) {
			virtiofsd_stop(pid);
			return cc_error_set(err, ETIMEDOUT, "virtiofsd: waiting for %s",
					    socket_path);
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

void virtiofsd_stop(pid_t *pid)
{
	cc_child_stop(pid, 1000);
}
