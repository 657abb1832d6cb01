/* cocoon version: release, git commit (from the build), agent protocol. */
#include <stdio.h>

#include "cli/cli.h"
#include "shared/agent_proto.h"

#ifndef COCOON_VERSION
#define COCOON_VERSION "0.1.0"
#endif
#ifndef COCOON_COMMIT
#define COCOON_COMMIT "unknown"
#endif

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("cocoon version %s\n", COCOON_VERSION);
	printf("commit: %s\n", COCOON_COMMIT);
	printf("agent protocol: %d\n", AGENT_PROTOCOL_VERSION);
	return 0;
}
