/* cocoon template-make: the background maker of a sandbox template (host/template.h),
 * and cocoon template-spare, the filler of its spares. Not for users: a sandbox that
 * found no template for its shape starts the maker, detached, with the shape in its
 * arguments; a restore starts the filler; their log is <state_dir>/templates/maker.log. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "host/hypervisor.h"
#include "shared/log.h"
#include "host/sandbox.h"
#include "host/template.h"

int cmd_template_make(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "virtiofsd", required_argument, NULL, 'f' },
		{ "vmm", required_argument, NULL, 'v' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "nics", required_argument, NULL, 'n' },
		{ "cmdline", required_argument, NULL, 'l' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "spares", required_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct sandbox_config sc = { .hv = &hypervisor_cocoon_vmm, .boot_timeout_ms = 30000 };
	unsigned long nics = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': sc.state_root = optarg; break;
		case 'k': sc.kernel = optarg; break;
		case 'i': sc.initrd = optarg; break;
		case 'f': sc.virtiofsd = optarg; break;
		case 'v': sc.vmm_binary = optarg; break;
		case 'c': sc.cpus = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': sc.memory_mib = strtoull(optarg, NULL, 10); break;
		case 'n': nics = strtoul(optarg, NULL, 10); break;
		case 'l': sc.extra_cmdline = optarg; break;
		case 't': sc.boot_timeout_ms = atoi(optarg); break;
		case 'p': sc.template_spares = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': sc.debug = true; break;
		default: fprintf(stderr, "cocoon template-make: bad arguments\n"); return 2;
		}
	}
	if (sc.state_root == NULL || sc.kernel == NULL || sc.initrd == NULL ||
	    sc.virtiofsd == NULL || sc.cpus == 0 || sc.memory_mib == 0 || nics > POD_NET_MAX_IFS ||
	    sc.boot_timeout_ms <= 0 || sc.template_spares > TEMPLATE_MAX_SPARES) {
		fprintf(stderr, "cocoon template-make: missing or bad arguments\n");
		return 2;
	}
	cc_log_set_level(sc.debug ? CC_LOG_DEBUG : CC_LOG_INFO);
	struct cc_error err;
	if (sandbox_enter_mount_ns(&err) < 0 || template_make(&sc, (unsigned)nics, &err) < 0) {
		cc_err("templates: %s", err.msg);
		return 1;
	}
	return 0;
}

int cmd_template_spare(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "template", required_argument, NULL, 't' },
		{ "spares", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *name = NULL;
	unsigned long spares = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 't': name = optarg; break;
		case 'p': spares = strtoul(optarg, NULL, 10); break;
		default: fprintf(stderr, "cocoon template-spare: bad arguments\n"); return 2;
		}
	}
	/* The name becomes a path under the templates directory. */
	if (state == NULL || name == NULL || name[0] == '.' || name[0] == '\0' ||
	    strchr(name, '/') != NULL || spares == 0 || spares > TEMPLATE_MAX_SPARES) {
		fprintf(stderr, "cocoon template-spare: missing or bad arguments\n");
		return 2;
	}
	cc_log_set_level(CC_LOG_INFO);
	template_fill_spares(state, name, (unsigned)spares);
	return 0;
}
