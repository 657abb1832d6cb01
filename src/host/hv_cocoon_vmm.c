/* cocoon-vmm backend: our own KVM VMM (src/vmm, docs/vmm.md). Choices:
 * - only with hardware virtualization: on a PVM host /dev/kvm exists but a Linux guest
 *   does not boot under it (see ARCHITECTURE.md), so probe says so instead of hanging;
 * - the agent channel is virtio-vsock through the VMM's hybrid unix socket
 *   (<dir>/vm/vsock; short names, since <dir>/vm/NAME must fit a unix socket path
 *   wherever <dir>/agent.sock does, which sandbox_start checks): connect, "CONNECT 1024\n", wait
 * for "OK ...\n". The agent listens on AGENT_VSOCK_PORT; before it does, the guest answers with a
 * reset and the VMM closes our socket, so we retry until the deadline;
 * - reboot=k: Linux resets through the i8042, which the VMM reports as a clean exit
 *   (a triple-fault reboot would look like a crash);
 * - graceful stop is "shutdown" on the control API (<dir>/vm/api), then SIGTERM/KILL;
 * - jailed (host/child.h): its own uid/gid, pid and mount
 *   namespaces, a root holding /usr, the guest images, /dev/kvm, /dev/net/tun, its own
 *   directory <dir>/vm (its sockets) and virtiofsd's socket; its seccomp filter then
 *   limits what it does with them.
 * - its stdout and stderr (UART and its own messages) reach console.log through a
 *   thread of ours that keeps the last CONSOLE_LOG_MAX bytes; it rate-limits its own
 *   messages;
 * - at debug level the VMM's boot profile (exits, phase times) is logged once the agent
 *   answers: it says where a slow boot spent its time. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shared/agent_proto.h"
#include "host/child.h"
#include "host/config.h"
#include "host/hypervisor.h"
#include "shared/log.h"
#include "host/pod_net.h"
#include "shared/util.h"

#define VMM_BINARY "cocoon-vmm"
#define VMM_BASE_CMDLINE \
	"console=ttyS0 reboot=k panic=-1 quiet random.trust_cpu=on cocoon.channel=vsock"
#define VMM_GUEST_CID 3 /* one VM per VMM process: the CID only has to be >= 3 */
#define VMM_MAX_ARGS 48
#define CONSOLE_LOG_MAX (1u << 20)

struct cvmm {
	char binary[PATH_MAX];
	char own_dir[PATH_MAX]; /* <dir>/vm: owned by the jail's uid, its sockets */
	char root[PATH_MAX];	/* mount point of the jail's root */
	char vsock_sock[PATH_MAX];
	char api_sock[PATH_MAX];
	struct cc_log_pump console; /* UART and the VMM's messages, bounded */
};

/* The VMM installed next to this program (PREFIX/bin), else $PATH. */
int hv_cocoon_vmm_binary(const struct vm_config *cfg, char *out, size_t len, struct cc_error *err)
{
	if (cfg->vmm_binary != NULL)
		return cc_find_executable(cfg->vmm_binary, out, len, err);
	char prefix[PATH_MAX], path[PATH_MAX + 32];
	if (cc_install_prefix(prefix, sizeof(prefix), err) == 0) {
		snprintf(path, sizeof(path), "%s/bin/" VMM_BINARY, prefix);
		if (access(path, X_OK) == 0 && strlen(path) < len) {
			strcpy(out, path);
			return 0;
		}
	}
	return cc_find_executable(VMM_BINARY, out, len, err);
}

static int cvmm_probe(const struct vm_config *cfg, struct cc_error *err)
{
	char path[PATH_MAX];
	if (hv_cocoon_vmm_binary(cfg, path, sizeof(path), err) < 0)
		return -1;
	if (!hypervisor_hw_virt())
		return cc_error_set(err, 0,
				    "cocoon-vmm needs hardware virtualization (vmx/svm in "
				    "/proc/cpuinfo and /dev/kvm); use --hypervisor qemu here");
	return 0;
}

static int sock_path(char *out, size_t len, const char *dir, const char *name, struct cc_error *err)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	/* The agent is reached host-to-guest: no room kept for vsock's guest-initiated
	 * "_<port>" sockets, which cocoon-vmm refuses when they do not fit. */
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= max)
		return cc_error_set(err, ENAMETOOLONG, "socket path %s/%s", dir, name);
	return 0;
}

static int cvmm_start(struct vm *vm, struct cc_error *err)
{
	const struct vm_config *c = &vm->cfg;
	struct cvmm *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return cc_error_set(err, ENOMEM, "cocoon-vmm");
	vm->priv = m;
	m->console = (struct cc_log_pump){ .wr = -1, .rd = -1, .file = -1 };
	snprintf(m->own_dir, sizeof(m->own_dir), "%s/vm", c->dir);
	snprintf(m->root, sizeof(m->root), "%s/vmm-root", c->dir);
	if (hv_cocoon_vmm_binary(c, m->binary, sizeof(m->binary), err) < 0 ||
	    sock_path(m->vsock_sock, sizeof(m->vsock_sock), m->own_dir, "vsock", err) < 0 ||
	    sock_path(m->api_sock, sizeof(m->api_sock), m->own_dir, "api", err) < 0)
		return -1;
	uid_t uid;
	gid_t gid;
	cc_jail_ids(&uid, &gid);
	if (mkdir(m->own_dir, 0700) < 0 || chown(m->own_dir, uid, gid) < 0 ||
	    mkdir(m->root, 0700) < 0)
		return cc_error_set(err, errno, "jail directories in %s", c->dir);
	/* The default log before the pump opens it (as the QEMU backend does). */
	if (vm->console_log[0] == '\0')
		snprintf(vm->console_log, sizeof(vm->console_log), "%s/console.log", c->dir);
	if (cc_log_pump_start(&m->console, vm->console_log, CONSOLE_LOG_MAX, err) < 0)
		return -1;
	/* virtiofsd made its socket as root: the VMM connects to it as uid. */
	if (c->fs_socket != NULL && chown(c->fs_socket, uid, gid) < 0)
		return cc_error_set(err, errno, "chown %s", c->fs_socket);

	char *argv[VMM_MAX_ARGS];
	size_t n = 0;
	int rc = -1;
	argv[n++] = strdup(m->binary);
	if (c->restore) {
		/* The jailed VMM cannot open the root-only template: it inherits our fds. */
		argv[n++] = strdup("--restore-fd");
		argv[n++] = cc_strdup_printf("%d,%d%s", c->restore_state_fd, c->restore_memory_fd,
					     c->restore_map ? ",map" : "");
	} else {
		argv[n++] = strdup("--kernel");
		argv[n++] = strdup(c->kernel);
		if (c->initrd != NULL) {
			argv[n++] = strdup("--initrd");
			argv[n++] = strdup(c->initrd);
		}
		argv[n++] = strdup("--cmdline");
		argv[n++] = cc_strdup_printf("%s %s%s%s", VMM_BASE_CMDLINE, HV_GUEST_BOOT_CUTS,
					     c->cmdline ? " " : "", c->cmdline ? c->cmdline : "");
		argv[n++] = strdup("--cpus");
		argv[n++] = cc_strdup_printf("%u", c->cpus);
		argv[n++] = strdup("--memory");
		argv[n++] = cc_strdup_printf("%llu", (unsigned long long)c->memory_mib);
	}
	if (cc_log_level() >= CC_LOG_DEBUG) { /* its phase times reach console.log */
		argv[n++] = strdup("--log-level");
		argv[n++] = strdup("debug");
	}
	argv[n++] = strdup("--vsock");
	argv[n++] = cc_strdup_printf("cid=%u,socket=%s", VMM_GUEST_CID, m->vsock_sock);
	argv[n++] = strdup("--api-socket");
	argv[n++] = strdup(m->api_sock);
	if (c->fs_socket != NULL) {
		argv[n++] = strdup("--fs");
		argv[n++] = cc_strdup_printf("tag=%s,socket=%s", c->fs_tag, c->fs_socket);
	}
	for (unsigned i = 0; i < c->n_nets && n + 3 < VMM_MAX_ARGS; i++) {
		const uint8_t *a = c->nets[i].mac;
		argv[n++] = strdup("--net");
		argv[n++] = cc_strdup_printf("tap=%s,mac=%02x:%02x:%02x:%02x:%02x:%02x",
					     c->nets[i].tap, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
	argv[n] = NULL;
	for (size_t i = 0; i < n; i++)
		if (argv[i] == NULL) {
			cc_error_set(err, ENOMEM, "cocoon-vmm arguments");
			goto out;
		}
	const char *ro[] = { "/usr",	"/lib",	   "/lib64",  "/bin", "/etc/ld.so.cache",
			     m->binary, c->kernel, c->initrd, NULL };
	const char *rw[] = {
		m->own_dir, "/dev/kvm", "/dev/null", "/dev/net/tun", c->fs_socket, NULL
	};
	const char *taps[POD_NET_MAX_IFS + 1] = { NULL };
	for (unsigned i = 0; i < c->n_nets && i < POD_NET_MAX_IFS; i++)
		taps[i] = c->nets[i].tap;
	int fds[2] = { c->restore_state_fd, c->restore_memory_fd };
	struct cc_jail jail = { .uid = uid,
				.fds = c->restore ? fds : NULL,
				.n_fds = c->restore ? 2 : 0,
				.gid = gid,
				.root = m->root,
				.ro = ro,
				.rw = rw,
				.taps = taps,
				.log_fd = m->console.wr,
				.cgroups = c->cgroup_procs };
	/* Serial console and the VMM's own messages share the log. */
	rc = cc_child_spawn_jail(argv, NULL, c->netns, &jail, &vm->pid, err);
	cc_log_pump_detach(&m->console);
out:
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	return rc;
}

/* One hybrid-vsock handshake; the fd on "OK", -1 when the guest is not listening yet. */
static int try_connect(const char *path, int timeout_ms)
{
	struct cc_error err;
	cleanup_close int fd = cc_unix_connect(path, &err);
	if (fd < 0)
		return -1;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %d\n", AGENT_VSOCK_PORT);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	/* Byte by byte: whatever follows the OK line belongs to the agent protocol. */
	size_t len = 0;
	while (len < sizeof(line) - 1) {
		if (read(fd, line + len, 1) != 1)
			return -1;
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	if (strncmp(line, "OK ", 3) != 0)
		return -1;
	tv = (struct timeval){ 0, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return cc_steal_fd(&fd);
}

#define PROFILE_ANSWER_MAX 2048 /* the VMM's PROFILE_LINE_MAX */

/* The API's answer to one command, for the log. */
static void api_ask(const char *sock, const char *cmd, char *out, size_t len, int timeout_ms)
{
	struct cc_error ignored;
	out[0] = '\0';
	cleanup_close int fd = cc_unix_connect(sock, &ignored);
	if (fd < 0)
		return;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t n = strlen(cmd), got = 0;
	if (send(fd, cmd, n, MSG_NOSIGNAL) != (ssize_t)n)
		return;
	while (got < len - 1) {
		ssize_t r = read(fd, out + got, len - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(out, '\n', got) != NULL)
			break;
	}
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* The value of KEY in a profile line ("key=value ..."), or "-". */
static void profile_value(const char *line, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	for (const char *p = line; (p = strstr(p, key)) != NULL; p += klen)
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			snprintf(out, len, "%.*s", (int)strcspn(p + klen + 1, " "), p + klen + 1);
			return;
		}
	snprintf(out, len, "-");
}

/* Why no agent answered, as far as the VMM can tell: whether the guest printed, and
 * whether its vCPUs still run (KVM's exit counters over a second) or sit halted. */
static void vmm_state(const struct cvmm *m, char *out, size_t len)
{
	static const char *const keys[] = { "first_output_ms", "vmm_exits", "kvm.exits",
					    "kvm.halt_exits" };
	char line[2][PROFILE_ANSWER_MAX], v[2][CC_ARRAY_SIZE(keys)][32];
	api_ask(m->api_sock, "profile\n", line[0], sizeof(line[0]), 1000);
	struct timespec ts = { 1, 0 };
	nanosleep(&ts, NULL);
	api_ask(m->api_sock, "profile\n", line[1], sizeof(line[1]), 1000);
	if (strncmp(line[1], "ok ", 3) != 0) {
		snprintf(out, len, "its API did not answer");
		return;
	}
	for (int s = 0; s < 2; s++)
		for (size_t k = 0; k < CC_ARRAY_SIZE(keys); k++)
			profile_value(line[s], keys[k], v[s][k], sizeof(v[s][k]));
	int n = snprintf(out, len,
			 "the guest's first output at %s ms; exits to the VMM %s; over 1 s KVM "
			 "exits %s -> %s, halts %s -> %s; moved in that second:",
			 v[1][0], v[1][1], v[0][2], v[1][2], v[0][3], v[1][3]);
	/* Every other counter that moved tells what kind of loop a busy guest is in (page
	 * faults, emulated instructions, interrupt injections, port or MMIO exits). */
	char *save = NULL;
	for (char *tok = strtok_r(line[1] + 3, " ", &save); tok != NULL && n > 0 && (size_t)n < len;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL || strstr(tok, "_ms=") != NULL) /* times, not counters */
			continue;
		*eq = '\0';
		char before[32];
		profile_value(line[0], tok, before, sizeof(before));
		unsigned long long a = strtoull(before, NULL, 10), b = strtoull(eq + 1, NULL, 10);
		if (strcmp(tok, "kvm.exits") != 0 && strcmp(tok, "kvm.halt_exits") != 0 && b > a)
			n += snprintf(out + n, len - (size_t)n, " %s +%llu", tok, b - a);
	}
}

static int cvmm_agent_connect(struct vm *vm, int timeout_ms, struct cc_error *err)
{
	struct cvmm *m = vm->priv;
	uint64_t deadline = cc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint64_t now = cc_now_ns();
		int left_ms = now < deadline ? (int)((deadline - now) / 1000000) : 0;
		int fd = try_connect(m->vsock_sock, left_ms > 0 ? left_ms : 1);
		if (fd >= 0) {
			if (cc_log_level() >= CC_LOG_DEBUG) {
				char line[PROFILE_ANSWER_MAX];
				api_ask(m->api_sock, "profile\n", line, sizeof(line), 1000);
				cc_debug("cocoon-vmm boot profile: %s", line);
			}
			return fd;
		}
		if (cc_child_wait(&vm->pid, 0, &vm->status))
			return cc_error_set(err, 0, "cocoon-vmm exited during startup (see %s)",
					    vm->console_log);
		if (cc_now_ns() >= deadline) {
			char state[512];
			vmm_state(m, state, sizeof(state));
			return cc_error_set(err, ETIMEDOUT,
					    "no agent on vsock port %d through %s; cocoon-vmm: %s",
					    AGENT_VSOCK_PORT, m->vsock_sock, state);
		}
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
}

static int cvmm_stop(struct vm *vm, int timeout_ms, struct cc_error *err)
{
	struct cvmm *m = vm->priv;
	(void)err;
	if (vm->pid > 0 && m != NULL) {
		struct cc_error ignored;
		cleanup_close int fd = cc_unix_connect(m->api_sock, &ignored);
		if (fd >= 0 && send(fd, "shutdown\n", 9, MSG_NOSIGNAL) == 9 &&
		    cc_child_wait(&vm->pid, timeout_ms, &vm->status)) {
			cc_log_pump_stop(&m->console);
			return 0;
		}
	}
	cc_child_stop(&vm->pid, timeout_ms);
	if (m != NULL)
		cc_log_pump_stop(&m->console);
	return 0;
}

static void cvmm_destroy(struct vm *vm)
{
	struct cvmm *m = vm->priv;
	if (m != NULL)
		cc_log_pump_stop(&m->console);
	free(vm->priv);
	vm->priv = NULL;
}

/* The API's "snapshot DIR" into the VMM's own directory (the only one it may write);
 * the caller moves the files out. */
static int cvmm_snapshot(struct vm *vm, char *dir, size_t dir_len, int timeout_ms,
			 struct cc_error *err)
{
	struct cvmm *m = vm->priv;
	if ((size_t)snprintf(dir, dir_len, "%s", m->own_dir) >= dir_len)
		return cc_error_set(err, ENAMETOOLONG, "%s", m->own_dir);
	char cmd[PATH_MAX + 16], line[512];
	snprintf(cmd, sizeof(cmd), "snapshot %s\n", m->own_dir);
	api_ask(m->api_sock, cmd, line, sizeof(line), timeout_ms);
	if (strncmp(line, "ok saved", 8) != 0)
		return cc_error_set(err, 0, "cocoon-vmm snapshot: %s",
				    line[0] ? line : "no answer on the API");
	cc_debug("cocoon-vmm %s", line);
	return 0;
}

const struct hypervisor_ops hypervisor_cocoon_vmm = {
	.name = "cocoon-vmm",
	.probe = cvmm_probe,
	.start = cvmm_start,
	.agent_connect = cvmm_agent_connect,
	.stop = cvmm_stop,
	.destroy = cvmm_destroy,
	.snapshot = cvmm_snapshot,
};
