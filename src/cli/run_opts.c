#include "cli/run_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cocoon run [OPTIONS] (--rootfs DIR | --bundle DIR) [--] CMD [ARG...]\n"
		"\n"
		"Runs CMD in a container inside its own virtual machine and exits with its status.\n"
		"\n"
		"Options:\n"
		"      --rootfs DIR        root filesystem (a directory); CMD is required\n"
		"      --bundle DIR        OCI bundle (config.json + rootfs); CMD overrides its args\n"
		"      --cpus N            vCPUs and CPU quota (may be fractional, e.g. 1.5)\n"
		"  -m, --memory SIZE       memory limit (e.g. 256M, 1G); the VM gets this plus %d MiB\n"
		"  -i, --interactive       keep stdin open\n"
		"  -t, --tty               allocate a terminal\n"
		"  -e, --env K=V           set an environment variable (K alone: copy from here)\n"
		"  -w, --workdir DIR       working directory inside the container\n"
		"  -u, --user UID[:GID]    numeric user and group\n"
		"      --read-only         mount the root filesystem read-only\n"
		"      --netns PATH        network namespace whose interfaces the VM takes over\n"
		"                          (e.g. /var/run/netns/NAME); without it: loopback only\n"
		"      --hypervisor NAME   VM backend: qemu, cocoon-vmm or auto (default from the config: auto)\n"
		"      --config FILE       config file (default: $COCOON_CONFIG, <prefix>/etc/cocoon/cocoon.conf, /etc/cocoon/cocoon.conf)\n"
		"      --debug             verbose logs and timing lines on stderr\n"
		"  -h, --help              this help\n"
		"\n"
		"SIGINT, SIGTERM, SIGHUP and SIGQUIT go to the container; a third SIGINT/SIGTERM\n"
		"kills it (its init ignores signals it has no handler for).\n"
		"\n"
		"Exit status: the container's (128+N if killed by signal N), 125 if cocoon failed,\n"
		"126 if CMD cannot be executed, 127 if CMD was not found.\n",
		GUEST_OVERHEAD_MIB);
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "cocoon: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return -1;
}

static int parse_user(const char *s, struct run_opts *o)
{
	char *end;
	errno = 0;
	unsigned long u = strtoul(s, &end, 10);
	if (errno != 0 || end == s || u > UINT32_MAX - 1 || (*end != '\0' && *end != ':'))
		return bad("invalid --user '%s' (use UID[:GID], numeric)", s);
	unsigned long g = u;
	if (*end == ':') {
		const char *gs = end + 1;
		errno = 0;
		g = strtoul(gs, &end, 10);
		if (errno != 0 || end == gs || *end != '\0' || g > UINT32_MAX - 1)
			return bad("invalid --user '%s' (use UID[:GID], numeric)", s);
	}
	o->has_user = true;
	o->uid = (uid_t)u;
	o->gid = (gid_t)g;
	return 0;
}

int cli_run_parse_args(int argc, char **argv, struct run_opts *o)
{
	enum { O_CPUS = 256, O_READONLY, O_HV, O_CONFIG, O_DEBUG, O_ROOTFS, O_BUNDLE, O_NETNS };
	static const struct option longopts[] = {
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "memory", required_argument, NULL, 'm' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "read-only", no_argument, NULL, O_READONLY },
		{ "hypervisor", required_argument, NULL, O_HV },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "debug", no_argument, NULL, O_DEBUG },
		{ "rootfs", required_argument, NULL, O_ROOTFS },
		{ "bundle", required_argument, NULL, O_BUNDLE },
		{ "netns", required_argument, NULL, O_NETNS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cc_error err;
	int c;
	memset(o, 0, sizeof(*o));
	opterr = 0;
	optind = 0; /* 0: getopt starts over (the tests parse several command lines) */
	while ((c = getopt_long(argc, argv, "+m:ite:w:u:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CPUS: {
			char *end;
			errno = 0;
			o->cpus = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(o->cpus > 0) ||
			    o->cpus > MAX_CPUS)
				return bad("invalid --cpus '%s' (use a number from 0.01 to 64)",
					   optarg);
			break;
		}
		case 'm':
			if (cc_parse_size(optarg, &o->memory, &err) < 0)
				return bad("invalid --memory '%s' (use e.g. 512M or 2G)", optarg);
			if (o->memory < MIN_MEMORY_BYTES)
				return bad("invalid --memory '%s': the minimum is 6M", optarg);
			if (o->memory > (1ull << 40))
				return bad("invalid --memory '%s': the maximum is 1T", optarg);
			break;
		case 'i': o->interactive = true; break;
		case 't': o->tty = true; break;
		case 'e':
			if (o->n_env == MAX_ENV)
				return bad("too many -e options (at most %s)", "256");
			if (optarg[0] == '=' || optarg[0] == '\0')
				return bad("invalid -e '%s' (use K=V)", optarg);
			o->env[o->n_env++] = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return bad("invalid --workdir '%s': must be an absolute path",
					   optarg);
			o->workdir = optarg;
			break;
		case 'u':
			if (parse_user(optarg, o) < 0)
				return -1;
			break;
		case O_READONLY: o->readonly = true; break;
		case O_HV: o->hypervisor = optarg; break;
		case O_CONFIG: o->config = optarg; break;
		case O_DEBUG: o->debug = true; break;
		case O_ROOTFS: o->rootfs = optarg; break;
		case O_BUNDLE: o->bundle = optarg; break;
		case O_NETNS: o->netns = optarg; break;
		case 'h': usage(stdout); exit(0);
		case '?':
		default:
			if (optopt != 0 && optopt < 256)
				fprintf(stderr,
					"cocoon run: invalid option or missing argument: -%c\n",
					optopt);
			else
				fprintf(stderr,
					"cocoon run: invalid option or missing argument: %s\n",
					argv[optind - 1]);
			fprintf(stderr, "Run 'cocoon run --help' for usage.\n");
			return -1;
		}
	}
	o->cmd = argv + optind;
	if ((o->rootfs == NULL) == (o->bundle == NULL))
		return bad("%s", "run needs exactly one of --rootfs DIR or --bundle DIR");
	if (o->rootfs != NULL && o->cmd[0] == NULL)
		return bad("%s", "run --rootfs needs a command to run");
	return 0;
}
