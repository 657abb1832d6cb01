/* cocoon-vmm command line: parses options into a vmm_config and runs the VM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/core/snapshot.h"
#include "vmm/core/vmm.h"

static const char usage[] =
	"Usage: cocoon-vmm --kernel FILE [--initrd FILE] [--cmdline STR] [--cpus N]\n"
	"                  [--memory MiB] [--disk PATH[,ro]] [--net tap=NAME[,mac=MAC]]\n"
	"                  [--vsock cid=N,socket=PATH] [--fs tag=TAG,socket=PATH]\n"
	"                  [--console socket=PATH] [--rng] [--api-socket PATH]\n"
	"                  [--log-level LEVEL] [--profile]\n"
	"       cocoon-vmm --restore DIR [device and socket options as above]\n"
	"       cocoon-vmm --restore-fd STATE,MEMORY[,map] [options]: DIR's two files as open\n"
	"                  fds; with map, MEMORY (read-write) is the guest's RAM as it is\n"
	"Boots a PVH ELF or a bzImage, or resumes the VM saved in DIR by the API's\n"
	"snapshot command; the serial console is on stdout.\n"
	"Exit status: 0 guest reset/poweroff, 1 VMM error, 2 guest crash.\n"
	"--profile prints the boot profile (exits by reason and device, phase times) on\n"
	"stderr at exit; the API's `profile` command reports it while the VM runs.\n";

/* Parses "k=v,k2=v2" in place (getsubopt): vals[i] gets the value of keys[i]. Unknown keys
 * and keys without a value are errors. */
static int parse_kv(char *s, char *const keys[], char *vals[], const char *opt,
		    struct cc_error *err)
{
	while (*s != '\0') {
		char *val = NULL;
		int i = getsubopt(&s, keys, &val);
		if (i < 0)
			return cc_error_set(err, 0, "%s: unknown key in '%s'", opt, val);
		if (val == NULL)
			return cc_error_set(err, 0, "%s: expected %s=value", opt, keys[i]);
		vals[i] = val;
	}
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6], struct cc_error *err)
{
	unsigned b[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return cc_error_set(err, 0, "--net: bad mac '%s'", s);
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return cc_error_set(err, 0, "--net: bad mac '%s'", s);
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out, const char *what,
		      struct cc_error *err)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v > max || s[0] == '-')
		return cc_error_set(err, 0, "%s: bad number '%s'", what, s);
	*out = v;
	return 0;
}

/* --restore: the machine's shape comes from the snapshot; the command line gives the
 * devices' host ends (taps, sockets), which must build the same device set. */
static int restore_config(struct vmm_config *c, bool cpus_given, bool memory_given,
			  struct cc_error *err)
{
	if (c->kernel != NULL || c->initrd != NULL || c->cmdline != NULL)
		return cc_error_set(
			err, 0,
			"--restore resumes a booted VM: --kernel, --initrd and --cmdline "
			"do not apply");
	struct vm_state *s;
	if ((c->restore_fds ? snapshot_read_fd(c->restore_state_fd, c->restore_dir, &s, err)
			    : snapshot_read(c->restore_dir, &s, err)) < 0)
		return -1;
	c->restore = s;
	if ((cpus_given && c->cpus != s->n_vcpus) ||
	    (memory_given && c->memory_mib != s->mem_size >> 20))
		return cc_error_set(
			err, 0, "--cpus/--memory differ from the snapshot's %u vCPUs and %llu MiB",
			s->n_vcpus, (unsigned long long)(s->mem_size >> 20));
	c->cpus = s->n_vcpus;
	c->memory_mib = s->mem_size >> 20;
	return 0;
}

static int parse_args(int argc, char **argv, struct vmm_config *c, struct cc_error *err)
{
	enum {
		O_KERNEL = 1,
		O_INITRD,
		O_CMDLINE,
		O_CPUS,
		O_MEMORY,
		O_DISK,
		O_NET,
		O_VSOCK,
		O_FS,
		O_CONSOLE,
		O_RNG,
		O_API,
		O_LOG,
		O_PROFILE,
		O_RESTORE,
		O_RESTORE_FD,
		O_HELP
	};
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "cmdline", required_argument, NULL, O_CMDLINE },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "disk", required_argument, NULL, O_DISK },
		{ "net", required_argument, NULL, O_NET },
		{ "vsock", required_argument, NULL, O_VSOCK },
		{ "fs", required_argument, NULL, O_FS },
		{ "console", required_argument, NULL, O_CONSOLE },
		{ "rng", no_argument, NULL, O_RNG },
		{ "api-socket", required_argument, NULL, O_API },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "profile", no_argument, NULL, O_PROFILE },
		{ "restore", required_argument, NULL, O_RESTORE },
		{ "restore-fd", required_argument, NULL, O_RESTORE_FD },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t n;
	int o;
	bool cpus_given = false, memory_given = false;

	c->cpus = 1;
	c->memory_mib = 128;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case O_KERNEL: c->kernel = optarg; break;
		case O_INITRD: c->initrd = optarg; break;
		case O_CMDLINE: c->cmdline = optarg; break;
		case O_CPUS:
			if (parse_uint(optarg, VMM_MAX_CPUS, &n, "--cpus", err) < 0)
				return -1;
			c->cpus = (unsigned)n;
			cpus_given = true;
			break;
		case O_MEMORY:
			if (parse_uint(optarg, 1 << 20, &c->memory_mib, "--memory", err) < 0)
				return -1;
			memory_given = true;
			break;
		case O_DISK: {
			if (c->n_disks == CC_ARRAY_SIZE(c->disks))
				return cc_error_set(err, 0, "--disk: at most %zu disks",
						    CC_ARRAY_SIZE(c->disks));
			char *comma = strchr(optarg, ',');
			if (comma != NULL) {
				if (strcmp(comma, ",ro") != 0)
					return cc_error_set(err, 0, "--disk: unknown option '%s'",
							    comma + 1);
				*comma = '\0';
			}
			c->disks[c->n_disks++] = (struct vmm_disk){ optarg, comma != NULL };
			break;
		}
		case O_NET: {
			static char *const keys[] = { "tap", "mac", NULL };
			char *vals[2] = { NULL, NULL };
			if (c->n_nets == CC_ARRAY_SIZE(c->nets))
				return cc_error_set(err, 0, "--net: at most %zu interfaces",
						    CC_ARRAY_SIZE(c->nets));
			if (parse_kv(optarg, keys, vals, "--net", err) < 0)
				return -1;
			if (vals[0] == NULL)
				return cc_error_set(err, 0, "--net: tap= is required");
			struct vmm_net *net = &c->nets[c->n_nets];
			net->tap = vals[0];
			/* Default: locally administered, unicast, distinct per interface. */
			uint8_t def[6] = { 0x02, 0xcc, 0x00, 0x00, 0x00, (uint8_t)(c->n_nets + 1) };
			memcpy(net->mac, def, 6);
			if (vals[1] != NULL && parse_mac(vals[1], net->mac, err) < 0)
				return -1;
			c->n_nets++;
			break;
		}
		case O_VSOCK: {
			static char *const keys[] = { "cid", "socket", NULL };
			char *vals[2] = { NULL, NULL };
			if (parse_kv(optarg, keys, vals, "--vsock", err) < 0)
				return -1;
			if (vals[0] == NULL || vals[1] == NULL)
				return cc_error_set(err, 0,
						    "--vsock: cid= and socket= are required");
			if (parse_uint(vals[0], UINT32_MAX, &c->vsock_cid, "--vsock cid", err) < 0)
				return -1;
			if (c->vsock_cid < 3)
				return cc_error_set(err, 0, "--vsock: cid must be >= 3");
			c->vsock_socket = vals[1];
			break;
		}
		case O_FS: {
			static char *const keys[] = { "tag", "socket", NULL };
			char *vals[2] = { NULL, NULL };
			if (parse_kv(optarg, keys, vals, "--fs", err) < 0)
				return -1;
			if (vals[0] == NULL || vals[1] == NULL)
				return cc_error_set(err, 0, "--fs: tag= and socket= are required");
			c->fs_tag = vals[0];
			c->fs_socket = vals[1];
			break;
		}
		case O_CONSOLE: {
			static char *const keys[] = { "socket", NULL };
			char *vals[1] = { NULL };
			if (parse_kv(optarg, keys, vals, "--console", err) < 0)
				return -1;
			if (vals[0] == NULL)
				return cc_error_set(err, 0, "--console: socket= is required");
			c->console_socket = vals[0];
			break;
		}
		case O_RNG: c->rng = true; break;
		case O_RESTORE: c->restore_dir = optarg; break;
		case O_RESTORE_FD: {
			/* STATE,MEMORY: files a privileged parent opened for a jailed VMM. */
			int sfd, mfd, used = 0;
			if (sscanf(optarg, "%d,%d%n", &sfd, &mfd, &used) != 2 ||
			    (optarg[used] != '\0' && strcmp(optarg + used, ",map") != 0) ||
			    sfd < 3 || mfd < 3 || sfd == mfd)
				return cc_error_set(
					err, 0,
					"--restore-fd: expected STATE,MEMORY[,map] (fds >= 3), "
					"got '%s'",
					optarg);
			/* map: MEMORY is a spare copy of the snapshot's RAM made for this VM
			 * (docs/vmm.md): mapped shared as the guest's RAM, not copied. */
			c->restore_map = optarg[used] != '\0';
			c->restore_fds = true;
			c->restore_state_fd = sfd;
			c->restore_memory_fd = mfd;
			c->restore_dir = "--restore-fd";
			break;
		}
		case O_API: c->api_socket = optarg; break;
		case O_LOG: {
			int l = cc_log_parse_level(optarg);
			if (l < 0)
				return cc_error_set(err, 0, "--log-level: unknown level '%s'",
						    optarg);
			cc_log_set_level((enum cc_log_level)l);
			break;
		}
		case O_PROFILE: c->profile = true; break;
		case O_HELP: fputs(usage, stdout); exit(0);
		default: return cc_error_set(err, 0, "bad arguments (see --help)");
		}
	}
	if (optind != argc)
		return cc_error_set(err, 0, "unexpected argument '%s'", argv[optind]);
	if (c->restore_dir != NULL)
		return restore_config(c, cpus_given, memory_given, err);
	if (c->kernel == NULL)
		return cc_error_set(err, 0, "--kernel is required");
	return 0;
}

int main(int argc, char **argv)
{
	static struct vmm_config cfg;
	static struct vmm vmm;
	struct cc_error err = { 0 };

	cc_log_init("cocoon-vmm", CC_LOG_WARN, STDERR_FILENO);
	/* A guest can provoke warnings (bad descriptors, resets) at will. */
	cc_log_set_rate_limit(20);
	/* Peers of the vsock and API sockets may go away at any time: see EPIPE, not die. */
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &cfg, &err) < 0) {
		fprintf(stderr, "cocoon-vmm: %s\n", err.msg);
		return VMM_EXIT_ERROR;
	}
	int status;
	if (vmm_init(&vmm, &cfg, &err) < 0 || (status = vmm_run(&vmm, &err)) < 0) {
		fprintf(stderr, "cocoon-vmm: %s\n", err.msg);
		status = VMM_EXIT_ERROR;
	} else if (status != VMM_EXIT_OK) {
		fprintf(stderr, "cocoon-vmm: %s\n", vmm.exit_msg);
	} else {
		cc_info("%s", vmm.exit_msg);
	}
	if (cfg.profile) {
		char line[PROFILE_LINE_MAX];
		profile_format(&vmm, line, sizeof(line));
		fprintf(stderr, "cocoon-vmm: profile %s\n", line);
	}
	if (cfg.api_socket != NULL)
		unlink(cfg.api_socket);
	if (cfg.vsock_socket != NULL)
		unlink(cfg.vsock_socket);
	if (cfg.console_socket != NULL)
		unlink(cfg.console_socket);
	/* vCPU threads may still sit in KVM_RUN: end the process without joining them. */
	_exit(status);
}
