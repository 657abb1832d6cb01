/* `cocoon run`'s options: what the command line asks for, checked. */
#ifndef COCOON_CLI_RUN_OPTS_H
#define COCOON_CLI_RUN_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Guest memory beyond the container's limit: kernel, agent, page cache headroom. */
#define GUEST_OVERHEAD_MIB 96
#define MIN_MEMORY_BYTES (6ull << 20)
#define MAX_CPUS 64
#define CPU_PERIOD_US 100000
#define MAX_ENV 256

struct run_opts {
	double cpus;
	uint64_t memory; /* bytes, 0: no limit */
	bool interactive, tty, readonly, debug;
	const char *env[MAX_ENV];
	size_t n_env;
	const char *workdir;
	bool has_user;
	uid_t uid;
	gid_t gid;
	const char *hypervisor, *config, *rootfs, *bundle, *netns;
	char **cmd; /* NULL-terminated, may be empty */
};

/* Parses argv (argv[0] = "run") into o (zeroed first). -h prints the usage and exits;
 * a bad option is reported on stderr and fails. */
int cli_run_parse_args(int argc, char **argv, struct run_opts *o);

#endif
