/* The shim's command line: Go-style flags (containerd's shims use Go's flag package),
 * one or two dashes, "-flag value" or "-flag=value", which getopt_long_only parses;
 * flags stop at the first argument that is not one (the action). */
#include <getopt.h>
#include <string.h>

#include "shim/shim.h"

int shim_parse_args(int argc, char **argv, struct shim_args *a, struct cc_error *err)
{
	enum { F_NS = 256, F_ADDRESS, F_PUBLISH, F_ID, F_BUNDLE, F_CONFIG, F_DEBUG };
	static const struct option flags[] = {
		{ "namespace", required_argument, NULL, F_NS },
		{ "address", required_argument, NULL, F_ADDRESS },
		{ "publish-binary", required_argument, NULL, F_PUBLISH },
		{ "id", required_argument, NULL, F_ID },
		{ "bundle", required_argument, NULL, F_BUNDLE },
		{ "config", required_argument, NULL, F_CONFIG },
		/* a bool: -debug, or -debug=true|false */
		{ "debug", optional_argument, NULL, F_DEBUG },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 0; /* 0: getopt starts over (the tests parse several command lines) */
	while ((c = getopt_long_only(argc, argv, "+:", flags, NULL)) != -1) {
		switch (c) {
		case F_NS: a->ns = optarg; break;
		case F_ADDRESS: a->address = optarg; break;
		case F_PUBLISH: a->publish_binary = optarg; break;
		case F_ID: a->id = optarg; break;
		case F_BUNDLE: a->bundle = optarg; break;
		case F_CONFIG: a->config = optarg; break;
		case F_DEBUG: a->debug = !optarg || strcmp(optarg, "true") == 0; break;
		case ':': return cc_error_set(err, 0, "flag %s needs a value", argv[optind - 1]);
		default: return cc_error_set(err, 0, "unknown flag %s", argv[optind - 1]);
		}
	}
	int i = optind;
	if (i < argc)
		a->action = argv[i++];
	if (i < argc)
		return cc_error_set(err, 0, "unexpected argument %s", argv[i]);
	if (a->action && strcmp(a->action, "start") != 0 && strcmp(a->action, "delete") != 0)
		return cc_error_set(err, 0, "unknown action %s (want start or delete)", a->action);
	if (!a->ns || !*a->ns)
		return cc_error_set(err, 0, "-namespace is required");
	if (!a->id || !*a->id)
		return cc_error_set(err, 0, "-id is required");
	if (!a->address || !*a->address)
		return cc_error_set(err, 0, "-address is required");
	return 0;
}
