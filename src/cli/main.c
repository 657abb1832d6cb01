/* cocoon: run a container in its own VM, check the host, print the version. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "shared/log.h"

static const struct {
	const char *name;
	const char *summary;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", "run a command in a container inside its own VM", cmd_run },
	{ "check", "check whether this host can run sandboxes", cmd_check },
	{ "version", "print version information", cmd_version },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: cocoon COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'cocoon COMMAND --help' for a command's options.\n");
}

int cli_load_config(struct cc_config *cfg, const char *path)
{
	struct cc_error err;
	if (cc_config_load(cfg, path, &err) < 0) {
		fprintf(stderr, "cocoon: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	cc_log_init("cocoon", CC_LOG_WARN, 2);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	/* Internal: started by a sandbox, not listed. */
	if (strcmp(argv[1], "template-make") == 0)
		return cmd_template_make(argc - 1, argv + 1);
	if (strcmp(argv[1], "template-spare") == 0)
		return cmd_template_spare(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "cocoon: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
