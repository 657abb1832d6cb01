/* containerd-shim-cocoon-v2 entry point. containerd runs it as
 *   -namespace NS -address ADDR -publish-binary BIN -id ID [-bundle DIR] [-debug] start|delete
 * and `start` re-executes it without a subcommand as the long-lived daemon. Flags are
 * Go-style (args.c). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "shim/shim.h"

static void usage(void)
{
	fprintf(stderr, "usage: containerd-shim-cocoon-v2 -namespace NS -address ADDR "
			"-publish-binary BIN -id ID [-bundle DIR] [-debug] [start|delete]\n"
			"This binary is run by containerd (runtime " SHIM_RUNTIME_NAME ").\n");
}

int main(int argc, char **argv)
{
	struct shim_args args;
	struct cc_error err = { 0 };

	/* containerd's log FIFO and event socket go away when it restarts. */
	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
		printf("containerd-shim-cocoon-v2 (runtime " SHIM_RUNTIME_NAME ")\n");
		return 0;
	}
	if (shim_parse_args(argc, argv, &args, &err) < 0) {
		fprintf(stderr, "containerd-shim-cocoon-v2: %s\n", err.msg);
		usage();
		return 2;
	}
	cc_log_init("containerd-shim-cocoon-v2", args.debug ? CC_LOG_DEBUG : CC_LOG_INFO,
		    STDERR_FILENO);
	if (args.action && strcmp(args.action, "start") == 0) {
		/* containerd reads stdout and stderr together as the socket address: only a
		 * failure may print anything. */
		cc_log_set_level(CC_LOG_ERROR);
		if (shim_start(&args, &err) < 0)
			goto fail;
		return 0;
	}
	if (args.action && strcmp(args.action, "delete") == 0) {
		if (shim_delete(&args, &err) < 0)
			goto fail;
		return 0;
	}
	/* The daemon: `start` passed the listening socket as fd 3. */
	if (fcntl(3, F_GETFD) < 0) {
		fprintf(stderr, "containerd-shim-cocoon-v2: no listening socket on fd 3; "
				"the daemon is started by `start`\n");
		return 2;
	}
	/* `start` re-executed us through /proc/self/exe, which names the process "exe";
	 * ps, top and pgrep show the name the binary has (the kernel keeps 15 bytes,
	 * "containerd-shim", as for every containerd shim). */
	prctl(PR_SET_NAME, "containerd-shim-cocoon-v2", 0, 0, 0);
	return shim_serve(&args, 3) < 0 ? 1 : 0;
fail:
	cc_err("%s: %s", args.action, err.msg);
	return 1;
}
