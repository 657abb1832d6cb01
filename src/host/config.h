/* Cocoon configuration: one file of `key = value` lines with # comments (a subset of
 * TOML: strings may be quoted, numbers are bare). Looked up in this order: an explicit
 * path (--config, the shim's ConfigPath), $COCOON_CONFIG, <prefix>/etc/cocoon/cocoon.conf,
 * /etc/cocoon/cocoon.conf, else built-in defaults. <prefix> is the directory above the
 * running binary's bin/, so build/bin/cocoon finds build/share/cocoon.
 * $COCOON_STATE_DIR overrides state_dir wherever it came from. */
#ifndef COCOON_CONFIG_H
#define COCOON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"

struct cc_config {
	char hypervisor[64];
	char kernel[4096];
	char initrd[4096];
	char qemu[4096]; /* QEMU binary: a path or a name looked up in $PATH */
	char virtiofsd[4096];
	unsigned default_vcpus;
	uint64_t default_memory_mib;
	int log_level; /* enum cc_log_level */
	char state_dir[4096];
	int boot_timeout_ms;
	int stop_grace_ms;  /* after a SIGKILL the guest did not carry out, the host kills the VM */
	unsigned max_execs; /* live exec'd processes per pod (each holds host threads) */
	char template_mode[8];	  /* "auto": sandboxes start from templates where the backend
				   * can (cocoon-vmm); "off": every sandbox boots cold */
	unsigned template_spares; /* spare copies of a template's RAM kept ready, 0: none */
	char source[4096];	  /* the file these values came from, "" for defaults */
};

/* Built-in defaults; guest artifacts under <prefix>/share/cocoon. */
void cc_config_defaults(struct cc_config *cfg, const char *prefix);
/* Applies the lines of text on top of cfg; errors name "file:line". */
int cc_config_parse(struct cc_config *cfg, const char *text, const char *file,
		    struct cc_error *err);
/* Defaults, then the first config file found (see above), then $COCOON_STATE_DIR.
 * explicit_path may be NULL; if given it must exist. */
int cc_config_load(struct cc_config *cfg, const char *explicit_path, struct cc_error *err);
/* Whether a sandbox on backend hv_name gets templates, and why (for logs and check). */
struct hypervisor_ops;
bool cc_config_templates(const struct cc_config *cfg, const struct hypervisor_ops *hv,
			 const char **why);
/* dirname(dirname(/proc/self/exe)). */
int cc_install_prefix(char *out, size_t len, struct cc_error *err);

#endif
