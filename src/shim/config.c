/* Shim configuration: the defaults below, overridden by the file containerd names in
 * the runtime options (ConfigPath) or COCOON_CONFIG. Guest artifacts are found next to
 * the binary's install prefix (<prefix>/bin/../share/cocoon). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "shim/shim.h"

static void share_dir(char *out, size_t len, const char *file)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		snprintf(out, len, "/usr/local/share/cocoon/%s", file);
		return;
	}
	exe[n] = 0;
	snprintf(out, len, "%s/../share/cocoon/%s", dirname(exe), file);
}

int shim_config_load(const char *path, struct shim_config *cfg, struct cc_error *err)
{
	const char *state = getenv("COCOON_STATE_DIR");

	memset(cfg, 0, sizeof(*cfg));
	if (!path || !*path)
		path = getenv("COCOON_CONFIG");
	snprintf(cfg->path, sizeof(cfg->path), "%s", path && *path ? path : "(built-in defaults)");
	snprintf(cfg->hypervisor, sizeof(cfg->hypervisor), "qemu");
	share_dir(cfg->kernel, sizeof(cfg->kernel), "vmlinux");
	share_dir(cfg->initrd, sizeof(cfg->initrd), "initrd.img");
	snprintf(cfg->virtiofsd, sizeof(cfg->virtiofsd), "/usr/lib/qemu/virtiofsd");
	snprintf(cfg->state_root, sizeof(cfg->state_root), "%s",
		 state && *state ? state : "/run/cocoon");
	cfg->default_cpus = 1;
	cfg->max_cpus = 8;
	cfg->default_memory_mib = 256;
	cfg->max_memory_mib = 16384;
	cfg->boot_timeout_ms = 30000;
	if (path && *path && access(path, R_OK) < 0)
		return cc_error_set(err, errno, "config file %s", path);
	return 0;
}

void shim_config_free(struct shim_config *cfg)
{
	free(cfg->vmm_binary);
	free(cfg->kernel_params);
	cfg->vmm_binary = cfg->kernel_params = NULL;
}
