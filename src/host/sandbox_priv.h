/* What sandbox.c, which starts and stops a sandbox, takes from the files beside it:
 * sandbox_agent.c, sandbox_console.c and sandbox_shared.c. Host-only, internal. */
#ifndef COCOON_SANDBOX_PRIV_H
#define COCOON_SANDBOX_PRIV_H

#include <stddef.h>

#include "host/sandbox.h"
#include "shared/log.h"

/* sandbox_agent.c: the typed client's connection, and the calls at start. */
struct ttrpc_client *sandbox_agent_conn(void *ctx, struct cc_error *err);
int sandbox_hello(struct sandbox *sb, int timeout_ms, struct cc_error *err);
/* After a restore from a template: fresh entropy and the wall clock, then the share. */
int sandbox_after_restore(struct sandbox *sb, int timeout_ms, struct cc_error *err);
int sandbox_configure_network(struct sandbox *sb, int timeout_ms, struct cc_error *err);

/* sandbox_console.c */
/* Appends the last lines of the guest console to err: why the agent never answered. */
void sandbox_add_console_tail(struct sandbox *sb, struct cc_error *err);
#define CONSOLE_TAIL_LINES 20	/* what explains a failure */
#define CONSOLE_DEBUG_LINES 200 /* what follows ours with debug logging */
/* Logs the guest console's last max_lines lines at level (if that level is logged). */
void sandbox_log_console(struct sandbox *sb, enum cc_log_level level, int max_lines);
/* The VMM's own last words in the console log (why it refused a template). */
void sandbox_vmm_last_words(struct sandbox *sb, char *out, size_t len);

/* sandbox_shared.c: mounts <dir>/shared, read-only to the guest, and opens
 * sb->shared_fd and sb->shared_rw_fd. */
int sandbox_mount_shared_dir(struct sandbox *sb, struct cc_error *err);

#endif
