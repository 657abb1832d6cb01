/* cocoon check: can this host run sandboxes, and with which backend and accelerator? */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cli/cli.h"
#include "host/child.h"
#include "host/hypervisor.h"
#include "shared/util.h"
#include "host/virtiofsd.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int failures;

static void report(const char *status, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report(const char *status, const char *what, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("%-5s %-12s %s\n", status, what, msg);
	if (strcmp(status, "FAIL") == 0)
		failures++;
}

static void first_line_of(const char *cmd, char *out, size_t len)
{
	out[0] = '\0';
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return;
	if (fgets(out, (int)len, p) != NULL)
		out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

static bool cpu_flag(const char *flag)
{
	cleanup_fclose FILE *f = fopen("/proc/cpuinfo", "re");
	char line[8192];
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (char *tok = strtok(strchr(line, ':') ? strchr(line, ':') + 1 : line, " \n");
		     tok != NULL; tok = strtok(NULL, " \n"))
			if (strcmp(tok, flag) == 0)
				return true;
		return false;
	}
	return false;
}

static void check_file(const char *what, const char *key, const char *path,
		       const struct cc_config *cfg)
{
	if (access(path, R_OK) == 0)
		report("ok", what, "%s", path);
	else
		report("FAIL", what, "%s: %s (set %s= in %s)", path, strerror(errno), key,
		       cfg->source[0] ? cfg->source : "/etc/cocoon/cocoon.conf");
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'c') {
			config = optarg;
		} else {
			printf("Usage: cocoon check [--config FILE]\n\n"
			       "Checks whether this host can run sandboxes and says which hypervisor\n"
			       "backend and accelerator `cocoon run` would use. Exits 0 only if it can.\n");
			return c == 'h' ? 0 : 2;
		}
	}
	struct cc_config cfg;
	if (cli_load_config(&cfg, config) < 0)
		return 1;
	report("ok", "config", "%s", cfg.source[0] ? cfg.source : "built-in defaults");

	bool vmx = cpu_flag("vmx"), svm = cpu_flag("svm");
	bool kvm_dev = access("/dev/kvm", R_OK | W_OK) == 0;
	bool kvm = hypervisor_hw_virt();
	if (kvm)
		report("ok", "kvm", "CPU has %s and /dev/kvm opens: hardware acceleration",
		       vmx ? "vmx" : "svm");
	else if (kvm_dev)
		report("info", "kvm",
		       "/dev/kvm present but the CPU shows no vmx/svm (PVM or nested "
		       "virtualization without VT-x): guests run under TCG (software, slower)");
	else
		report("info", "kvm", "no %s: guests run under TCG (software, slower)",
		       vmx || svm ? "usable /dev/kvm" : "vmx/svm and no /dev/kvm");

	const char *why;
	const struct hypervisor_ops *hv = hypervisor_select(cfg.hypervisor, kvm, &why);
	if (hv == NULL)
		report("FAIL", "hypervisor", "unknown hypervisor '%s' in %s", cfg.hypervisor,
		       cfg.source[0] ? cfg.source : "defaults");
	else
		report("ok", "hypervisor", "%s (%s)", hv->name, why);
	char path[4096];
	struct cc_error err;
	if (cc_find_executable(cfg.qemu, path, sizeof(path), &err) == 0) {
		char cmd[4200], ver[256];
		snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", path);
		first_line_of(cmd, ver, sizeof(ver));
		report("ok", "qemu", "%s (%s)", path, ver[0] ? ver : "version unknown");
	} else {
		report(hv != NULL && strcmp(hv->name, "qemu") == 0 ? "FAIL" : "warn", "qemu", "%s",
		       err.msg);
	}
	if (hv != NULL && strcmp(hv->name, "qemu") != 0) {
		struct vm_config probe = { 0 };
		if (hv->probe(&probe, &err) == 0)
			report("ok", hv->name, "usable");
		else
			report("FAIL", hv->name, "%s", err.msg);
	}
	const char *tmpl_why;
	cc_config_templates(&cfg, hv, &tmpl_why);
	report("info", "templates", "%s", tmpl_why);
	if (cc_find_executable(cfg.virtiofsd, path, sizeof(path), &err) == 0)
		report("ok", "virtiofsd", "%s", path);
	else
		report("FAIL", "virtiofsd", "%s", err.msg);
	check_file("kernel", "kernel", cfg.kernel, &cfg);
	check_file("initrd", "initrd", cfg.initrd, &cfg);

	if (geteuid() == 0)
		report("ok", "privileges", "running as root (mount namespace, virtiofsd)");
	else
		report("FAIL", "privileges",
		       "not root: cocoon run needs root for mounts and virtiofsd");
	if (access("/dev/net/tun", R_OK | W_OK) == 0)
		report("ok", "tun", "/dev/net/tun (pod networking)");
	else
		report("warn", "tun", "/dev/net/tun: %s (pods get no network; cocoon run works)",
		       strerror(errno));
	struct statfs sfs;
	if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
		report("ok", "cgroups", "v2 at /sys/fs/cgroup (host; containers use the guest's)");
	else if (access("/sys/fs/cgroup/memory", F_OK) == 0)
		report("ok", "cgroups", "v1 on the host (containers use cgroup v2 in the guest)");
	else
		report("warn", "cgroups",
		       "no cgroup hierarchy found on the host (only the guest's are used)");

	if (failures > 0) {
		printf("\nThis host cannot run sandboxes: %d check%s failed.\n", failures,
		       failures == 1 ? "" : "s");
		return 1;
	}
	/* Only QEMU can fall back to TCG; cocoon-vmm's probe above needs KVM. */
	printf("\nThis host can run sandboxes: backend %s, accelerator %s.\n", hv->name,
	       kvm ? "kvm" : "tcg (software emulation)");
	return 0;
}
