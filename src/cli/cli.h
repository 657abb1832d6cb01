/* cocoon CLI commands: each takes the arguments after its name (argv[0] = command). */
#ifndef COCOON_CLI_H
#define COCOON_CLI_H

#include "host/config.h"

/* Exit codes shared with runc and docker. */
#define CLI_EXIT_RUNTIME 125  /* cocoon itself failed */
#define CLI_EXIT_NOEXEC 126   /* command found but not executable */
#define CLI_EXIT_NOTFOUND 127 /* command not found */

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_template_make(int argc, char **argv);
int cmd_template_spare(int argc, char **argv);

/* Loads the config (path may be NULL) and reports failures on stderr. */
int cli_load_config(struct cc_config *cfg, const char *path);

#endif
