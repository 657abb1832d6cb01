/* cocoon-agent: PID 1 of the guest VM (mounts, reaping, the host channel, the RPC
 * server), or, outside a VM, `cocoon-agent --listen unix:PATH` to test the RPC layer.
 * As PID 1 it must never exit (the kernel would panic): fatal errors end the VM. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "shared/log.h"
#include "shared/util.h"

/* Virtio ports are announced by the host shortly after the device probes. */
#define SERIAL_WAIT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cocoon-agent --listen unix:PATH [--cgroup-root DIR] [--log-level LEVEL]\n"
		"  As PID 1 (the guest's /init) it takes no arguments and reads\n"
		"  cocoon.channel=serial|vsock and cocoon.debug=1 from the kernel command line.\n"
		"  Outside a VM, --listen serves on a unix socket and containers' cgroups go\n"
		"  below --cgroup-root (a cgroup v2 directory).\n");
}

static void fatal(bool pid1, const char *what, const struct cc_error *err)
{
	cc_err("%s: %s", what, err->msg);
	if (pid1) {
		cc_err("powering off");
		guest_power_off();
	}
	exit(1);
}

static int find_serial(struct agent *a, struct cc_error *err)
{
	for (int waited = 0;; waited += 10) {
		if (channel_find_serial(a->serial_path, sizeof(a->serial_path), err) == 0)
			return 0;
		if (waited >= SERIAL_WAIT_MS)
			return -1;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

static void pid1_main(struct agent *a)
{
	struct cc_error err;
	if (guest_setup(&err) < 0)
		fatal(true, "guest setup", &err);
	cleanup_free char *cmdline = NULL;
	struct guest_cmdline cl;
	if (cc_read_file("/proc/cmdline", 64 << 10, &cmdline, NULL, &err) < 0)
		fatal(true, "kernel command line", &err);
	guest_parse_cmdline(cmdline, &cl);
	if (cl.debug)
		cc_log_set_level(CC_LOG_DEBUG);
	/* No virtio-fs device is a sandbox without shared files (e.g. a bare boot test),
	 * not a reason to stop. */
	if (!cl.template && guest_mount_shared(&err) < 0)
		cc_warn("%s", err.msg);
	a->channel = cl.channel;
	if (cl.channel == CHANNEL_VSOCK) {
		a->listen_fd = channel_listen_vsock(AGENT_VSOCK_PORT, &err);
		if (a->listen_fd < 0)
			fatal(true, "agent channel", &err);
	} else if (find_serial(a, &err) < 0) {
		fatal(true, "agent channel", &err);
	}
	cc_info("serving on %s", cl.channel == CHANNEL_VSOCK ? "vsock" : a->serial_path);
}

int main(int argc, char **argv)
{
	static struct agent a;
	struct cc_error err;
	bool pid1 = getpid() == 1;
	const char *listen = NULL, *cgroup_root = NULL;
	int level = CC_LOG_INFO;

	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "cgroup-root", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* As /init the kernel passes unknown boot arguments here: ignore them. */
	for (int c; !pid1 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'c': cgroup_root = optarg; break;
		case 'L':
			if ((level = cc_log_parse_level(optarg)) < 0) {
				fprintf(stderr, "cocoon-agent: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!pid1 && (listen == NULL || strncmp(listen, "unix:", 5) != 0 || listen[5] == '\0' ||
		      optind != argc)) {
		usage(stderr);
		return 2;
	}

	/* As PID 1, stderr is /dev/console: the serial console the host keeps as a log. */
	cc_log_init("cocoon-agent", pid1 ? CC_LOG_WARN : (enum cc_log_level)level, STDERR_FILENO);
	if (agent_init(&a, pid1, &err) < 0)
		fatal(pid1, "agent", &err);
	if (pid1) {
		pid1_main(&a);
	} else {
		if (cgroup_root != NULL && container_set_cgroup_root(cgroup_root, &err) < 0)
			fatal(false, "--cgroup-root", &err);
		a.channel = CHANNEL_UNIX;
		a.listen_fd = channel_listen_unix(listen + 5, &err);
		if (a.listen_fd < 0)
			fatal(false, "listen", &err);
		cc_info("listening on %s", listen + 5);
	}
	int rc = agent_run(&a, &err);
	if (rc < 0)
		cc_err("event loop: %s", err.msg);
	agent_cleanup(&a);
	if (pid1)
		guest_power_off();
	unlink(listen + 5);
	return rc < 0 ? 1 : 0;
}
