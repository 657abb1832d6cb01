/* cocoon run: one container in its own VM. Boots a sandbox, shares the rootfs through
 * virtio-fs, creates and starts the container through the agent, relays stdio and
 * signals, and exits with the container's status. Everything it started or mounted is
 * gone when it returns. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run_opts.h"
#include "shared/agent_proto.h"
#include "host/child.h"
#include "shared/log.h"
#include "shared/oci_spec.h"
#include "host/oci_edit.h"
#include "host/sandbox.h"
#include "host/stdio_relay.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"

#define READ_CHUNK (256u << 10)
#define STREAM_DRAIN_MS 2000

static uint64_t t0;

static void timing(const struct run_opts *o, const char *name)
{
	if (o->debug)
		fprintf(stderr, "timing %s %.1f\n", name, (double)(cc_now_ns() - t0) / 1e6);
}

/* ---- the container spec ---- */

struct spec_in {
	char rootfs[PATH_MAX]; /* host path */
	char *bundle_json;     /* config.json text of --bundle, NULL for --rootfs */
	int64_t bundle_memory; /* the bundle's own memory limit, -1 none */
	bool bundle_terminal;
	bool bundle_readonly; /* root.readonly: the host side of the share is read-only too */
};

static int load_bundle(const struct run_opts *o, struct spec_in *in)
{
	struct cc_error err;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	if (realpath(o->bundle, dir) == NULL)
		return fprintf(stderr, "cocoon: bundle %s: %s\n", o->bundle, strerror(errno)), -1;
	snprintf(path, sizeof(path), "%s/config.json", dir);
	size_t len;
	if (cc_read_file(path, OCI_MAX_SPEC_BYTES, &in->bundle_json, &len, &err) < 0)
		return fprintf(stderr, "cocoon: bundle %s: %s\n", o->bundle, err.msg), -1;
	struct oci_spec *spec = NULL;
	if (oci_spec_parse(in->bundle_json, len, &spec, &err) < 0)
		return fprintf(stderr, "cocoon: %s: %s\n", path, err.msg), -1;
	int rc = 0;
	if (spec->root_path == NULL || spec->root_path[0] == '\0') {
		rc = (fprintf(stderr, "cocoon: %s: root.path: missing\n", path), -1);
	} else {
		char root[PATH_MAX * 2];
		if (spec->root_path[0] == '/')
			snprintf(root, sizeof(root), "%s", spec->root_path);
		else
			snprintf(root, sizeof(root), "%s/%s", dir, spec->root_path);
		if (realpath(root, in->rootfs) == NULL)
			rc = (fprintf(stderr, "cocoon: rootfs %s: %s\n", root, strerror(errno)),
			      -1);
	}
	if (rc == 0 && o->cmd[0] == NULL &&
	    (spec->process.args == NULL || spec->process.args[0] == NULL))
		rc = (fprintf(stderr,
			      "cocoon: %s: process.args is empty and no command was given\n", path),
		      -1);
	in->bundle_memory = spec->resources.memory_limit;
	in->bundle_terminal = spec->process.terminal;
	in->bundle_readonly = spec->root_readonly;
	oci_spec_free(spec);
	return rc;
}

static int check_rootfs(const char *path, char *out)
{
	struct stat st;
	if (realpath(path, out) == NULL || stat(out, &st) < 0)
		return fprintf(stderr, "cocoon: rootfs %s: %s\n", path, strerror(errno)), -1;
	if (!S_ISDIR(st.st_mode))
		return fprintf(stderr, "cocoon: rootfs %s: %s\n", path, strerror(ENOTDIR)), -1;
	return 0;
}

/* -e entries as K=V; a bare K copies the variable from our environment, like docker. */
static char **env_list(const struct run_opts *o, char *store[MAX_ENV + 1])
{
	size_t n = 0;
	for (size_t i = 0; i < o->n_env; i++) {
		if (strchr(o->env[i], '=') != NULL) {
			store[n++] = strdup(o->env[i]);
		} else {
			const char *v = getenv(o->env[i]);
			if (v != NULL)
				store[n++] = cc_strdup_printf("%s=%s", o->env[i], v);
		}
		if (n > 0 && store[n - 1] == NULL)
			n--;
	}
	store[n] = NULL;
	return store;
}

static void free_env(char **env)
{
	for (size_t i = 0; env[i] != NULL; i++)
		free(env[i]);
}

/* The bundle's config.json with our flags applied on top. */
static char *edit_bundle(const struct run_opts *o, const struct spec_in *in, struct sandbox *sb,
			 const char *guest_root, char **env, struct cc_error *err)
{
	json_object *spec = json_tokener_parse(in->bundle_json);
	if (spec == NULL) {
		cc_error_set(err, ENOMEM, "config.json");
		return NULL;
	}
	if (sandbox_share_spec_mounts(sb, spec, "mount", err) < 0) {
		json_object_put(spec);
		return NULL;
	}
	oci_edit_root(spec, guest_root, o->readonly);
	struct oci_edit_process p = {
		.args = o->cmd,
		.env = env,
		.cwd = o->workdir,
		.has_user = o->has_user,
		.uid = o->uid,
		.gid = o->gid,
		.terminal = o->tty,
	};
	oci_edit_process(spec, &p);
	oci_edit_limits(spec, o->memory, o->cpus ? (int64_t)(o->cpus * CPU_PERIOD_US) : 0,
			o->cpus ? CPU_PERIOD_US : 0);
	char *out = strdup(json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN));
	json_object_put(spec);
	if (out == NULL)
		cc_error_set(err, ENOMEM, "config.json");
	return out;
}

static char *build_spec(const struct run_opts *o, const struct spec_in *in, struct sandbox *sb,
			const char *guest_root, struct cc_error *err)
{
	char *store[MAX_ENV + 1];
	char **env = env_list(o, store);
	char *json;
	if (in->bundle_json != NULL) {
		json = edit_bundle(o, in, sb, guest_root, env, err);
	} else {
		struct oci_default_opts d = {
			.args = o->cmd,
			.env = env,
			.cwd = o->workdir,
			.uid = o->has_user ? o->uid : 0,
			.gid = o->has_user ? o->gid : 0,
			.terminal = o->tty,
			.readonly = o->readonly,
			.root_path = guest_root,
			.memory_limit = o->memory ? (int64_t)o->memory : -1,
			.cpu_quota = o->cpus ? (int64_t)(o->cpus * CPU_PERIOD_US) : -1,
			.cpu_period = o->cpus ? CPU_PERIOD_US : 0,
		};
		json = oci_spec_default_json(&d, err);
	}
	free_env(env);
	return json;
}

/* ---- running it: stdio relay, signals, terminal ---- */

struct run_ctx {
	struct sandbox *sb;
	const char *cid;
	int stop_pipe[2]; /* readable once the signal thread must end */
};

/* Waits until fd is readable (true) or the stop pipe says the run is over (false). */
static bool wait_input(int fd, int stop_fd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = stop_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		return p[1].revents == 0;
	}
}

static void resize(struct run_ctx *c)
{
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws) < 0 && ioctl(1, TIOCGWINSZ, &ws) < 0)
		return;
	struct cc_error err;
	if (agent_resize(&c->sb->client, c->cid, "", ws.ws_col, ws.ws_row, 5000, &err) < 0)
		cc_debug("ResizePty: %s", err.msg);
}

#define KILL_AFTER_INTERRUPTS 3
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH };

static void *signal_main(void *arg)
{
	struct run_ctx *c = arg;
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < CC_ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	cleanup_close int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return NULL;
	int interrupts = 0;
	for (;;) {
		if (!wait_input(sfd, c->stop_pipe[0]))
			return NULL;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGWINCH) {
			resize(c);
			continue;
		}
		/* A container's init ignores signals it has no handler for, so interrupts
		 * alone might never end it: the third one is a SIGKILL. */
		uint32_t sig = si.ssi_signo;
		if ((sig == SIGINT || sig == SIGTERM) && ++interrupts >= KILL_AFTER_INTERRUPTS) {
			fprintf(stderr, "cocoon: interrupted %d times: killing the container\n",
				interrupts);
			sig = SIGKILL;
		}
		cc_debug("forwarding signal %u to the container", sig);
		struct cc_error err;
		if (agent_signal(&c->sb->client, c->cid, "", sig, false, 5000, &err) < 0)
			cc_debug("SignalProcess: %s", err.msg);
	}
}

static struct termios saved_tio;
static bool tio_saved;

static void restore_terminal(void)
{
	if (tio_saved) {
		tcsetattr(0, TCSADRAIN, &saved_tio);
		tio_saved = false;
	}
}

static void raw_terminal(void)
{
	if (!isatty(0) || tcgetattr(0, &saved_tio) < 0)
		return;
	struct termios raw = saved_tio;
	cfmakeraw(&raw);
	if (tcsetattr(0, TCSADRAIN, &raw) == 0) {
		tio_saved = true;
		atexit(restore_terminal);
	}
}

/* Maps a failed Create/Start to the docker/runc exit codes for exec failures. */
static int exec_failure_code(const struct cc_error *err)
{
	if (strstr(err->msg, "No such file") != NULL || strstr(err->msg, "not found") != NULL)
		return CLI_EXIT_NOTFOUND;
	if (strstr(err->msg, "Permission denied") != NULL ||
	    strstr(err->msg, "not executable") != NULL)
		return CLI_EXIT_NOEXEC;
	return CLI_EXIT_RUNTIME;
}

/* Creates, starts and waits for the container; returns the exit code to use. */
static int run_container(struct run_ctx *c, const struct run_opts *o, const char *spec_json,
			 uint64_t limit_mib)
{
	const struct agent_client *agent = &c->sb->client;
	struct cc_error err;
	if (agent_create(agent, c->cid, spec_json, strlen(spec_json), o->interactive, NULL, 60000,
			 &err) < 0) {
		fprintf(stderr, "cocoon: create container: %s\n", err.msg);
		return exec_failure_code(&err);
	}
	timing(o, "container_created");

	struct stdio_relay_config rc = {
		.agent = agent,
		.cid = c->cid,
		.eid = "",
		.stdin_fd = o->interactive ? 0 : -1,
		.stdout_fd = 1,
		.stderr_fd = 2,
		.read_max = READ_CHUNK,
		.write_timeout_ms = 0,
		.close_timeout_ms = 5000,
	};
	struct stdio_relay *relay = stdio_relay_start(&rc);
	if (relay == NULL) {
		fprintf(stderr, "cocoon: stdio relay: %s\n", strerror(ENOMEM));
		return CLI_EXIT_RUNTIME;
	}
	pthread_t sig_thread;
	if (o->tty) {
		resize(c);
		raw_terminal();
	}
	bool sig_started = pthread_create(&sig_thread, NULL, signal_main, c) == 0;

	int code = CLI_EXIT_RUNTIME;
	if (agent_start(agent, c->cid, 60000, &err) < 0) {
		restore_terminal();
		fprintf(stderr, "cocoon: start container: %s\n", err.msg);
		code = exec_failure_code(&err);
	} else {
		timing(o, "container_started");
		struct agent_exit exit;
		int rc_wait = agent_wait(agent, c->cid, "", &exit, &err);
		timing(o, "container_exited");
		if (rc_wait < 0) {
			restore_terminal();
			fprintf(stderr, "cocoon: waiting for the container: %s%s\n", err.msg,
				sandbox_alive(c->sb) ? "" : " (the VM stopped)");
		} else {
			code = exit.status;
			if (code < 0 || code > 255)
				code = CLI_EXIT_RUNTIME;
			/* The OOM killer may pick a child the main process survives: then
			 * its own status stands, and the run only says what happened. */
			if (exit.oom_killed) {
				restore_terminal();
				fprintf(stderr,
					code == 137
						? "cocoon: container killed: out of memory (memory limit %llu MiB)\n"
						: "cocoon: a process in the container was killed: out of memory (memory limit %llu MiB)\n",
					(unsigned long long)limit_mib);
			}
		}
	}

	/* Output written just before the exit may still be in flight: drain it, but do not
	 * wait forever on a stream something in the guest keeps open. */
	bool stuck = !stdio_relay_wait_outputs(relay, STREAM_DRAIN_MS);
	/* RemoveContainer fails the agent's parked reads, which ends the relays. */
	if (agent_remove_container(agent, c->cid, 5000, &err) < 0)
		cc_debug("RemoveContainer: %s%s", err.msg, stuck ? " (streams still open)" : "");
	(void)!write(c->stop_pipe[1], "x", 1);
	stdio_relay_cancel_stdin(relay);
	/* Last resort: a dead connection fails every call. */
	if (stuck && !stdio_relay_wait_outputs(relay, 2000))
		c->sb->vm.ops->stop(&c->sb->vm, 1000, &err);
	stdio_relay_join(relay);
	stdio_relay_release(relay);
	if (sig_started)
		pthread_join(sig_thread, NULL);
	restore_terminal();
	return code;
}

static void new_id(char *out, size_t len)
{
	unsigned char r[6] = { 0 };
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = cc_now_ns() ^ (uint64_t)getpid() << 32;
		memcpy(r, &t, sizeof(r));
	}
	snprintf(out, len, "run-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

static int check_file(const char *what, const char *key, const char *path,
		      const struct cc_config *cfg)
{
	if (access(path, R_OK) == 0)
		return 0;
	int e = errno;
	const char *where = cfg->source[0] ? cfg->source : "/etc/cocoon/cocoon.conf";
	if (e == ENOENT)
		fprintf(stderr, "cocoon: guest %s %s not found (set %s= in %s)\n", what, path, key,
			where);
	else
		fprintf(stderr, "cocoon: guest %s %s: %s (set %s= in %s)\n", what, path,
			strerror(e), key, where);
	return -1;
}

int cmd_run(int argc, char **argv)
{
	t0 = cc_now_ns();
	struct run_opts o = { 0 };
	if (cli_run_parse_args(argc, argv, &o) < 0)
		return CLI_EXIT_RUNTIME;
	struct cc_config cfg;
	if (cli_load_config(&cfg, o.config) < 0)
		return CLI_EXIT_RUNTIME;
	cc_log_set_level(o.debug ? CC_LOG_DEBUG : (enum cc_log_level)cfg.log_level);

	const char *hv_name = o.hypervisor ? o.hypervisor : cfg.hypervisor, *hv_why;
	const struct hypervisor_ops *hv = hypervisor_select(hv_name, hypervisor_hw_virt(), &hv_why);
	if (hv == NULL) {
		char names[256] = "";
		size_t off = 0;
		for (const char *const *n = hypervisor_names(); *n != NULL && off < sizeof(names);
		     n++)
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
						off ? ", " : "", *n);
		fprintf(stderr, "cocoon: unknown hypervisor '%s' (available: %s, auto)\n", hv_name,
			names);
		return CLI_EXIT_RUNTIME;
	}
	cc_debug("hypervisor %s (%s)", hv->name, hv_why);

	struct spec_in in = { .bundle_memory = -1 };
	int code = CLI_EXIT_RUNTIME;
	struct sandbox *sb = NULL;
	cleanup_free char *spec_json = NULL;
	struct cc_error err;
	if (o.bundle != NULL ? load_bundle(&o, &in) < 0 : check_rootfs(o.rootfs, in.rootfs) < 0)
		goto out;
	if (o.memory == 0 && in.bundle_memory > 0)
		o.memory = (uint64_t)in.bundle_memory < MIN_MEMORY_BYTES
				   ? MIN_MEMORY_BYTES
				   : (uint64_t)in.bundle_memory;
	o.tty = o.tty || in.bundle_terminal;
	if (check_file("kernel", "kernel", cfg.kernel, &cfg) < 0 ||
	    check_file("initrd", "initrd", cfg.initrd, &cfg) < 0)
		goto out;
	char path[4096];
	if (cc_find_executable(cfg.virtiofsd, path, sizeof(path), &err) < 0) {
		fprintf(stderr, "cocoon: %s (set virtiofsd= in %s)\n", err.msg,
			cfg.source[0] ? cfg.source : "/etc/cocoon/cocoon.conf");
		goto out;
	}
	struct sandbox_config sc;
	sandbox_config_from_settings(&sc, &cfg, hv);
	struct vm_config probe_cfg = { .vmm_binary = sc.vmm_binary, .kernel = cfg.kernel };
	if (hv->probe(&probe_cfg, &err) < 0) {
		fprintf(stderr, "cocoon: %s\n", err.msg);
		goto out;
	}

	/* The options on top of the configured settings. */
	uint64_t limit_mib = (o.memory + (1u << 20) - 1) >> 20;
	if (o.cpus > 0) {
		sc.cpus = (unsigned)o.cpus;
		if ((double)sc.cpus < o.cpus)
			sc.cpus++;
	}
	if (o.memory)
		sc.memory_mib = limit_mib + GUEST_OVERHEAD_MIB;
	char id[32];
	new_id(id, sizeof(id));
	sc.id = id;
	sc.netns = o.netns;
	sc.debug = o.debug;
	const char *tmpl_why;
	sc.use_template = cc_config_templates(&cfg, hv, &tmpl_why);
	cc_debug("templates: %s", tmpl_why);

	/* Before any thread exists: the mount namespace, and signals left to the signal
	 * thread (every thread inherits this mask; the VMM and virtiofsd reset it). */
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < CC_ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (sandbox_enter_mount_ns(&err) < 0) {
		fprintf(stderr, "cocoon: %s (cocoon run needs root)\n", err.msg);
		goto out;
	}
	cc_debug("starting sandbox %s: %u vCPU, %llu MiB", id, sc.cpus,
		 (unsigned long long)sc.memory_mib);
	if (sandbox_start(&sc, &sb, &err) < 0) {
		fprintf(stderr, "cocoon: starting the VM: %s\n", err.msg);
		goto out;
	}
	if (o.debug) {
		fprintf(stderr, "timing virtiofsd_ready %.1f\n",
			(double)(sb->t.virtiofsd_ready - t0) / 1e6);
		fprintf(stderr, "timing vmm_spawned %.1f\n",
			(double)(sb->t.vmm_spawned - t0) / 1e6);
		fprintf(stderr, "timing agent_ready %.1f\n",
			(double)(sb->t.agent_ready - t0) / 1e6);
	}
	char guest_root[256];
	if ((o.readonly || in.bundle_readonly) && in.bundle_json != NULL) {
		json_object *bspec = json_tokener_parse(in.bundle_json);
		int r = bspec ? sandbox_make_mountpoints(in.rootfs, bspec, &err) : 0;
		json_object_put(bspec);
		if (r < 0) {
			fprintf(stderr, "cocoon: %s\n", err.msg);
			goto out;
		}
	}
	if (sandbox_share(sb, in.rootfs, "rootfs", o.readonly || in.bundle_readonly, guest_root,
			  sizeof(guest_root), &err) < 0) {
		fprintf(stderr, "cocoon: sharing rootfs %s: %s\n", in.rootfs, err.msg);
		goto out;
	}
	spec_json = build_spec(&o, &in, sb, guest_root, &err);
	if (spec_json == NULL) {
		fprintf(stderr, "cocoon: container spec: %s\n", err.msg);
		goto out;
	}
	cc_debug("spec: %s", spec_json);

	struct run_ctx c = { .sb = sb, .cid = id };
	if (pipe2(c.stop_pipe, O_CLOEXEC) < 0) {
		fprintf(stderr, "cocoon: pipe: %s\n", strerror(errno));
		goto out;
	}
	code = run_container(&c, &o, spec_json, limit_mib);
	close(c.stop_pipe[0]);
	close(c.stop_pipe[1]);
out:
	if (sb != NULL && sandbox_destroy(sb, &err) < 0)
		fprintf(stderr, "cocoon: teardown: %s\n", err.msg);
	timing(&o, "teardown_done");
	free(in.bundle_json);
	return code;
}
