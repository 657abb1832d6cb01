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
#include "lib/agent_proto.h"
#include "lib/child.h"
#include "lib/log.h"
#include "lib/oci_spec.h"
#include "lib/sandbox.h"
#include "lib/ttrpc.h"
#include "lib/util.h"
#include "proto/agent.pb-c.h"

/* Guest memory beyond the container's limit: kernel, agent, page cache headroom. */
#define GUEST_OVERHEAD_MIB 96
#define MIN_MEMORY_BYTES (6ull << 20)
#define MAX_CPUS 64
#define CPU_PERIOD_US 100000
#define READ_CHUNK (256u << 10)
#define STDIN_CHUNK (64u << 10)
#define STREAM_DRAIN_MS 2000
#define MAX_ENV 256

struct run_opts {
	double cpus;
	uint64_t memory; /* bytes, 0: no limit */
	bool interactive, tty, readonly, debug;
	const char *env[MAX_ENV];
	size_t n_env;
	const char *workdir;
	bool has_user;
	uid_t uid;
	gid_t gid;
	const char *hypervisor, *config, *rootfs, *bundle, *netns;
	char **cmd; /* NULL-terminated, may be empty */
};

static uint64_t t0;

static void timing(const struct run_opts *o, const char *name)
{
	if (o->debug)
		fprintf(stderr, "timing %s %.1f\n", name, (double)(cc_now_ns() - t0) / 1e6);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cocoon run [OPTIONS] (--rootfs DIR | --bundle DIR) [--] CMD [ARG...]\n"
		"\n"
		"Runs CMD in a container inside its own virtual machine and exits with its status.\n"
		"\n"
		"Options:\n"
		"      --rootfs DIR        root filesystem (a directory); CMD is required\n"
		"      --bundle DIR        OCI bundle (config.json + rootfs); CMD overrides its args\n"
		"      --cpus N            vCPUs and CPU quota (may be fractional, e.g. 1.5)\n"
		"  -m, --memory SIZE       memory limit (e.g. 256M, 1G); the VM gets this plus %d MiB\n"
		"  -i, --interactive       keep stdin open\n"
		"  -t, --tty               allocate a terminal\n"
		"  -e, --env K=V           set an environment variable (K alone: copy from here)\n"
		"  -w, --workdir DIR       working directory inside the container\n"
		"  -u, --user UID[:GID]    numeric user and group\n"
		"      --read-only         mount the root filesystem read-only\n"
		"      --netns PATH        network namespace whose interfaces the VM takes over\n"
		"                          (e.g. /var/run/netns/NAME); without it: loopback only\n"
		"      --hypervisor NAME   VM backend: qemu, cocoon-vmm or auto (default from the config: auto)\n"
		"      --config FILE       config file (default: $COCOON_CONFIG, <prefix>/etc/cocoon/cocoon.conf, /etc/cocoon/cocoon.conf)\n"
		"      --debug             verbose logs and timing lines on stderr\n"
		"  -h, --help              this help\n"
		"\n"
		"SIGINT, SIGTERM, SIGHUP and SIGQUIT go to the container; a third SIGINT/SIGTERM\n"
		"kills it (its init ignores signals it has no handler for).\n"
		"\n"
		"Exit status: the container's (128+N if killed by signal N), 125 if cocoon failed,\n"
		"126 if CMD cannot be executed, 127 if CMD was not found.\n",
		GUEST_OVERHEAD_MIB);
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "cocoon: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return -1;
}

static int parse_user(const char *s, struct run_opts *o)
{
	char *end;
	errno = 0;
	unsigned long u = strtoul(s, &end, 10);
	if (errno != 0 || end == s || u > UINT32_MAX - 1 || (*end != '\0' && *end != ':'))
		return bad("invalid --user '%s' (use UID[:GID], numeric)", s);
	unsigned long g = u;
	if (*end == ':') {
		const char *gs = end + 1;
		errno = 0;
		g = strtoul(gs, &end, 10);
		if (errno != 0 || end == gs || *end != '\0' || g > UINT32_MAX - 1)
			return bad("invalid --user '%s' (use UID[:GID], numeric)", s);
	}
	o->has_user = true;
	o->uid = (uid_t)u;
	o->gid = (gid_t)g;
	return 0;
}

static int parse_args(int argc, char **argv, struct run_opts *o)
{
	enum { O_CPUS = 256, O_READONLY, O_HV, O_CONFIG, O_DEBUG, O_ROOTFS, O_BUNDLE, O_NETNS };
	static const struct option longopts[] = {
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "memory", required_argument, NULL, 'm' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "read-only", no_argument, NULL, O_READONLY },
		{ "hypervisor", required_argument, NULL, O_HV },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "debug", no_argument, NULL, O_DEBUG },
		{ "rootfs", required_argument, NULL, O_ROOTFS },
		{ "bundle", required_argument, NULL, O_BUNDLE },
		{ "netns", required_argument, NULL, O_NETNS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cc_error err;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:ite:w:u:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CPUS: {
			char *end;
			errno = 0;
			o->cpus = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(o->cpus > 0) ||
			    o->cpus > MAX_CPUS)
				return bad("invalid --cpus '%s' (use a number from 0.01 to 64)",
					   optarg);
			break;
		}
		case 'm':
			if (cc_parse_size(optarg, &o->memory, &err) < 0)
				return bad("invalid --memory '%s' (use e.g. 512M or 2G)", optarg);
			if (o->memory < MIN_MEMORY_BYTES)
				return bad("invalid --memory '%s': the minimum is 6M", optarg);
			if (o->memory > (1ull << 40))
				return bad("invalid --memory '%s': the maximum is 1T", optarg);
			break;
		case 'i': o->interactive = true; break;
		case 't': o->tty = true; break;
		case 'e':
			if (o->n_env == MAX_ENV)
				return bad("too many -e options (at most %s)", "256");
			if (optarg[0] == '=' || optarg[0] == '\0')
				return bad("invalid -e '%s' (use K=V)", optarg);
			o->env[o->n_env++] = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return bad("invalid --workdir '%s': must be an absolute path",
					   optarg);
			o->workdir = optarg;
			break;
		case 'u':
			if (parse_user(optarg, o) < 0)
				return -1;
			break;
		case O_READONLY: o->readonly = true; break;
		case O_HV: o->hypervisor = optarg; break;
		case O_CONFIG: o->config = optarg; break;
		case O_DEBUG: o->debug = true; break;
		case O_ROOTFS: o->rootfs = optarg; break;
		case O_BUNDLE: o->bundle = optarg; break;
		case O_NETNS: o->netns = optarg; break;
		case 'h': usage(stdout); exit(0);
		case '?':
		default:
			if (optopt != 0 && optopt < 256)
				fprintf(stderr,
					"cocoon run: invalid option or missing argument: -%c\n",
					optopt);
			else
				fprintf(stderr,
					"cocoon run: invalid option or missing argument: %s\n",
					argv[optind - 1]);
			fprintf(stderr, "Run 'cocoon run --help' for usage.\n");
			return -1;
		}
	}
	o->cmd = argv + optind;
	if ((o->rootfs == NULL) == (o->bundle == NULL))
		return bad("%s", "run needs exactly one of --rootfs DIR or --bundle DIR");
	if (o->rootfs != NULL && o->cmd[0] == NULL)
		return bad("%s", "run --rootfs needs a command to run");
	return 0;
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

static void set_limits(json_object *spec, const struct run_opts *o)
{
	if (o->memory == 0 && o->cpus == 0)
		return;
	json_object *linux_, *res;
	if (!json_object_object_get_ex(spec, "linux", &linux_) ||
	    !json_object_is_type(linux_, json_type_object)) {
		linux_ = json_object_new_object();
		json_object_object_add(spec, "linux", linux_);
	}
	if (!json_object_object_get_ex(linux_, "resources", &res) ||
	    !json_object_is_type(res, json_type_object)) {
		res = json_object_new_object();
		json_object_object_add(linux_, "resources", res);
	}
	if (o->memory != 0) {
		json_object *mem = json_object_new_object();
		json_object_object_add(mem, "limit", json_object_new_int64((int64_t)o->memory));
		json_object_object_add(res, "memory", mem);
	}
	if (o->cpus != 0) {
		json_object *cpu = json_object_new_object();
		json_object_object_add(cpu, "quota",
				       json_object_new_int64((int64_t)(o->cpus * CPU_PERIOD_US)));
		json_object_object_add(cpu, "period", json_object_new_int64(CPU_PERIOD_US));
		json_object_object_add(res, "cpu", cpu);
	}
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
	json_object *root, *proc;
	if (!json_object_object_get_ex(spec, "root", &root)) {
		root = json_object_new_object();
		json_object_object_add(spec, "root", root);
	}
	json_object_object_add(root, "path", json_object_new_string(guest_root));
	if (o->readonly)
		json_object_object_add(root, "readonly", json_object_new_boolean(1));
	if (!json_object_object_get_ex(spec, "process", &proc)) {
		proc = json_object_new_object();
		json_object_object_add(spec, "process", proc);
	}
	if (o->cmd[0] != NULL) {
		json_object *args = json_object_new_array();
		for (size_t i = 0; o->cmd[i] != NULL; i++)
			json_object_array_add(args, json_object_new_string(o->cmd[i]));
		json_object_object_add(proc, "args", args);
	}
	if (env[0] != NULL) {
		json_object *e;
		if (!json_object_object_get_ex(proc, "env", &e) ||
		    !json_object_is_type(e, json_type_array)) {
			e = json_object_new_array();
			json_object_object_add(proc, "env", e);
		}
		for (size_t i = 0; env[i] != NULL; i++)
			json_object_array_add(e, json_object_new_string(env[i]));
	}
	if (o->workdir != NULL)
		json_object_object_add(proc, "cwd", json_object_new_string(o->workdir));
	if (o->has_user) {
		json_object *u = json_object_new_object();
		json_object_object_add(u, "uid", json_object_new_int64(o->uid));
		json_object_object_add(u, "gid", json_object_new_int64(o->gid));
		json_object_object_add(proc, "user", u);
	}
	if (o->tty)
		json_object_object_add(proc, "terminal", json_object_new_boolean(1));
	set_limits(spec, o);
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
	int stop_pipe[2]; /* readable once the stdin and signal threads must end */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int streams_open; /* stdout/stderr relays not yet at EOF */
};

static void *agent_call(struct run_ctx *c, const char *method, const ProtobufCMessage *req,
			const ProtobufCMessageDescriptor *desc, int timeout_ms,
			struct cc_error *err)
{
	ProtobufCMessage *resp = NULL;
	if (ttrpc_client_call(c->sb->agent, AGENT_SERVICE, method, req, desc, desc ? &resp : NULL,
			      timeout_ms, err) < 0)
		return NULL;
	return desc ? (void *)resp : (void *)c; /* non-NULL on success */
}

struct relay {
	struct run_ctx *c;
	Cocoon__Agent__V1__Stream stream;
	int fd;
	pthread_t thread;
};

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	bool out_ok = true;
	for (;;) {
		Cocoon__Agent__V1__ReadStreamRequest req =
			COCOON__AGENT__V1__READ_STREAM_REQUEST__INIT;
		req.container_id = (char *)r->c->cid;
		req.exec_id = "";
		req.stream = r->stream;
		req.max_len = READ_CHUNK;
		struct cc_error err;
		Cocoon__Agent__V1__ReadStreamResponse *resp =
			agent_call(r->c, "ReadStream", &req.base,
				   &cocoon__agent__v1__read_stream_response__descriptor, 0, &err);
		if (resp == NULL) {
			cc_debug("ReadStream %d: %s", r->stream, err.msg);
			break;
		}
		/* The agent caps replies at max_len; a bigger one is a misbehaving guest. */
		if (agent_check_read_reply(resp, READ_CHUNK, &err) < 0) {
			cc_warn("%s", err.msg);
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			break;
		}
		size_t len = resp->data.len;
		if (len > 0 && out_ok && cc_write_all(r->fd, resp->data.data, len, &err) < 0)
			out_ok = false; /* keep draining so the container does not block */
		bool eof = resp->eof;
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (eof)
			break;
	}
	pthread_mutex_lock(&r->c->lock);
	r->c->streams_open--;
	pthread_cond_broadcast(&r->c->cond);
	pthread_mutex_unlock(&r->c->lock);
	return NULL;
}

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

static void *stdin_main(void *arg)
{
	struct run_ctx *c = arg;
	static char buf[STDIN_CHUNK];
	struct cc_error err;
	for (;;) {
		if (!wait_input(0, c->stop_pipe[0]))
			return NULL;
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		size_t off = 0;
		while (off < (size_t)n) {
			Cocoon__Agent__V1__WriteStdinRequest req =
				COCOON__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
			req.container_id = (char *)c->cid;
			req.exec_id = "";
			req.data.data = (uint8_t *)buf + off;
			req.data.len = (size_t)n - off;
			Cocoon__Agent__V1__WriteStdinResponse *resp = agent_call(
				c, "WriteStdin", &req.base,
				&cocoon__agent__v1__write_stdin_response__descriptor, 0, &err);
			if (resp == NULL)
				return NULL;
			size_t w = resp->len;
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			if (w == 0 || w > req.data.len)
				return NULL; /* the process closed its stdin, or a confused agent */
			off += w;
		}
	}
	Cocoon__Agent__V1__CloseStdinRequest req = COCOON__AGENT__V1__CLOSE_STDIN_REQUEST__INIT;
	req.container_id = (char *)c->cid;
	req.exec_id = "";
	agent_call(c, "CloseStdin", &req.base, NULL, 5000, &err);
	return NULL;
}

static void resize(struct run_ctx *c)
{
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws) < 0 && ioctl(1, TIOCGWINSZ, &ws) < 0)
		return;
	Cocoon__Agent__V1__ResizePtyRequest req = COCOON__AGENT__V1__RESIZE_PTY_REQUEST__INIT;
	req.container_id = (char *)c->cid;
	req.exec_id = "";
	req.width = ws.ws_col;
	req.height = ws.ws_row;
	struct cc_error err;
	if (agent_call(c, "ResizePty", &req.base, NULL, 5000, &err) == NULL)
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
		Cocoon__Agent__V1__SignalProcessRequest req =
			COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
		req.container_id = (char *)c->cid;
		req.exec_id = "";
		req.signal = sig;
		struct cc_error err;
		if (agent_call(c, "SignalProcess", &req.base, NULL, 5000, &err) == NULL)
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
	struct cc_error err;
	Cocoon__Agent__V1__CreateContainerRequest creq =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	creq.container_id = (char *)c->cid;
	creq.spec_json.data = (uint8_t *)spec_json;
	creq.spec_json.len = strlen(spec_json);
	creq.stdin = o->interactive;
	Cocoon__Agent__V1__CreateContainerResponse *cresp =
		agent_call(c, "CreateContainer", &creq.base,
			   &cocoon__agent__v1__create_container_response__descriptor, 60000, &err);
	if (cresp == NULL) {
		fprintf(stderr, "cocoon: create container: %s\n", err.msg);
		return exec_failure_code(&err);
	}
	protobuf_c_message_free_unpacked(&cresp->base, NULL);
	timing(o, "container_created");

	struct relay relays[2] = { { c, COCOON__AGENT__V1__STREAM__STDOUT, 1, 0 },
				   { c, COCOON__AGENT__V1__STREAM__STDERR, 2, 0 } };
	pthread_t in_thread, sig_thread;
	bool in_started = false, sig_started = false;
	int n_relays = 0;
	for (; n_relays < 2; n_relays++) {
		c->streams_open++;
		if (pthread_create(&relays[n_relays].thread, NULL, relay_main, &relays[n_relays]) !=
		    0) {
			c->streams_open--;
			break;
		}
	}
	if (o->tty) {
		resize(c);
		raw_terminal();
	}
	sig_started = pthread_create(&sig_thread, NULL, signal_main, c) == 0;
	if (o->interactive)
		in_started = pthread_create(&in_thread, NULL, stdin_main, c) == 0;

	int code = CLI_EXIT_RUNTIME;
	Cocoon__Agent__V1__ContainerRequest sreq = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	sreq.container_id = (char *)c->cid;
	if (agent_call(c, "StartContainer", &sreq.base, NULL, 60000, &err) == NULL) {
		restore_terminal();
		fprintf(stderr, "cocoon: start container: %s\n", err.msg);
		code = exec_failure_code(&err);
	} else {
		timing(o, "container_started");
		Cocoon__Agent__V1__WaitProcessRequest wreq =
			COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
		wreq.container_id = (char *)c->cid;
		wreq.exec_id = "";
		Cocoon__Agent__V1__WaitProcessResponse *wresp =
			agent_call(c, "WaitProcess", &wreq.base,
				   &cocoon__agent__v1__wait_process_response__descriptor, 0, &err);
		timing(o, "container_exited");
		if (wresp == NULL) {
			restore_terminal();
			fprintf(stderr, "cocoon: waiting for the container: %s%s\n", err.msg,
				sandbox_alive(c->sb) ? "" : " (the VM stopped)");
		} else {
			code = wresp->exit_status;
			if (code < 0 || code > 255)
				code = CLI_EXIT_RUNTIME;
			/* The OOM killer may pick a child the main process survives: then
			 * its own status stands, and the run only says what happened. */
			if (wresp->oom_killed) {
				restore_terminal();
				fprintf(stderr,
					code == 137
						? "cocoon: container killed: out of memory (memory limit %llu MiB)\n"
						: "cocoon: a process in the container was killed: out of memory (memory limit %llu MiB)\n",
					(unsigned long long)limit_mib);
			}
			protobuf_c_message_free_unpacked(&wresp->base, NULL);
		}
	}

	/* Output written just before the exit may still be in flight: drain it, but do not
	 * wait forever on a stream something in the guest keeps open. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STREAM_DRAIN_MS / 1000;
	pthread_mutex_lock(&c->lock);
	while (c->streams_open > 0 && pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0)
		;
	bool stuck = c->streams_open > 0;
	pthread_mutex_unlock(&c->lock);
	/* RemoveContainer fails the agent's parked reads, which ends the relays. */
	if (agent_call(c, "RemoveContainer", &sreq.base, NULL, 5000, &err) == NULL)
		cc_debug("RemoveContainer: %s%s", err.msg, stuck ? " (streams still open)" : "");
	(void)!write(c->stop_pipe[1], "x", 1);
	if (stuck) {
		/* Last resort: a dead connection fails every call. */
		pthread_mutex_lock(&c->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 2;
		while (c->streams_open > 0 &&
		       pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0)
			;
		stuck = c->streams_open > 0;
		pthread_mutex_unlock(&c->lock);
		if (stuck)
			c->sb->vm.ops->stop(&c->sb->vm, 1000, &err);
	}
	for (int i = 0; i < n_relays; i++)
		pthread_join(relays[i].thread, NULL);
	if (in_started)
		pthread_join(in_thread, NULL);
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
	if (parse_args(argc, argv, &o) < 0)
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
	const char *vmm_binary = strcmp(hv->name, "qemu") == 0 ? cfg.qemu : NULL;
	struct vm_config probe_cfg = { .vmm_binary = vmm_binary, .kernel = cfg.kernel };
	if (hv->probe(&probe_cfg, &err) < 0) {
		fprintf(stderr, "cocoon: %s\n", err.msg);
		goto out;
	}

	uint64_t limit_mib = (o.memory + (1u << 20) - 1) >> 20;
	unsigned vcpus = cfg.default_vcpus;
	if (o.cpus > 0) {
		vcpus = (unsigned)o.cpus;
		if ((double)vcpus < o.cpus)
			vcpus++;
	}
	char id[32];
	new_id(id, sizeof(id));
	struct sandbox_config sc = {
		.id = id,
		.state_root = cfg.state_dir,
		.hv = hv,
		.vmm_binary = vmm_binary,
		.virtiofsd = cfg.virtiofsd,
		.kernel = cfg.kernel,
		.initrd = cfg.initrd,
		.cpus = vcpus,
		.memory_mib = o.memory ? limit_mib + GUEST_OVERHEAD_MIB : cfg.default_memory_mib,
		.netns = o.netns,
		.debug = o.debug,
		.boot_timeout_ms = cfg.boot_timeout_ms,
	};
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

	struct run_ctx c = { .sb = sb,
			     .cid = id,
			     .lock = PTHREAD_MUTEX_INITIALIZER,
			     .cond = PTHREAD_COND_INITIALIZER };
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
