/* QEMU microvm backend. Choices (measured under TCG on this kind of host):
 * - microvm with acpi=off: a kernel without ACPI finds the virtio-mmio devices only on
 *   the command line, which QEMU writes only with acpi=off. pit=off panics the kernel
 *   ("IO-APIC + timer doesn't work"); rtc=off or pic=off make boot slower or hang.
 * - guest RAM from a shared memfd: vhost-user-fs (virtiofsd) maps it.
 * - virtio-mmio non-legacy: virtiofsd refuses legacy virtio.
 * - the agent channel is a virtio-serial port named "agent" on a unix socket QEMU
 *   listens on; no vsock (no /dev/vhost-vsock here).
 * - pod networking: QEMU runs in vm_config.netns and opens each vm_net tap by name
 *   (the taps live only in that namespace); the virtio-net device carries the pod
 *   interface's MAC and MTU. No vhost-net here, so QEMU moves every packet itself.
 * - graceful stop is SIGTERM: QEMU runs the same orderly exit as the QMP "quit".
 * - jailed (host/child.h): its own uid/gid, pid and
 *   mount namespaces, a root holding /usr, the kernel, the initrd and the devices it
 *   opens; no writable file and no socket path at all: the agent's listening socket,
 *   the connection to virtiofsd and the serial console's socket are inherited fds.
 *   Plus QEMU's own seccomp filter (-sandbox): no obsolete syscalls, no set*id, no
 *   fork/exec, no scheduler or affinity changes.
 * - bounded logs: the serial console goes through a socket to a thread of ours that
 *   keeps the last CONSOLE_LOG_MAX bytes in console.log (a guest printing forever fills
 *   nothing); QEMU's own messages reach vmm.log the same way. (RLIMIT_FSIZE cannot do
 *   it: it also caps the guest RAM memfd.) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/child.h"
#include "host/hypervisor.h"
#include "shared/log.h"
#include "host/pod_net.h"
#include "shared/util.h"

#define QEMU_DEFAULT_BINARY "qemu-system-x86_64"
/* random.trust_cpu: seed the guest CRNG from RDRAND at boot; otherwise the first
 * getrandom() in the guest (json-c seeds its hash with one) blocks ~1 s.
 * no_timer_check: the kernel's boot check that the IO-APIC timer ticks times it against
 * a busy loop; a TCG vCPU starved by a loaded host fails it and the guest panics ("IO-APIC
 * + timer doesn't work"), seen in pod tests at load 11. The timer is QEMU's and works. */
#define QEMU_BASE_CMDLINE                                                           \
	"console=ttyS0 reboot=t panic=-1 quiet random.trust_cpu=on no_timer_check " \
	"cocoon.channel=serial"
#define QEMU_MAX_ARGS 96
#define CONSOLE_LOG_MAX (1u << 20)
#define VIRTIOFSD_LISTEN_MS 5000
#define VMM_LOG_MAX (1u << 20)

struct qemu {
	char binary[4096];
	char agent_sock[4200];
	char log_path[4200];
	char root[4200];		 /* mount point of the jail's root */
	int agent_listen_fd, fs_fd;	 /* handed to QEMU, closed once it runs */
	struct cc_log_pump console, log; /* serial console and QEMU's stderr, bounded */
	uid_t uid;
	gid_t gid;
};

static int qemu_probe(const struct vm_config *cfg, struct cc_error *err)
{
	char path[4096];
	return cc_find_executable(cfg->vmm_binary ? cfg->vmm_binary : QEMU_DEFAULT_BINARY, path,
				  sizeof(path), err);
}

struct argv_buf {
	char *v[QEMU_MAX_ARGS];
	size_t n;
};

static int add(struct argv_buf *a, char *s)
{
	if (s == NULL || a->n + 1 >= QEMU_MAX_ARGS) {
		free(s);
		return -1;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

/* a b c d joined, with QEMU's option escaping (a comma is written twice). */
static char *opt_escape(const char *a, const char *b, const char *c, const char *d)
{
	cleanup_free char *s = cc_strdup_printf("%s%s%s%s", a, b, c, d);
	if (s == NULL)
		return NULL;
	char *out = malloc(2 * strlen(s) + 1), *w = out;
	for (const char *r = s; out != NULL && *r != '\0'; r++) {
		*w++ = *r;
		if (*r == ',')
			*w++ = ',';
	}
	if (out != NULL)
		*w = '\0';
	return out;
}

static int build_argv(struct vm *vm, struct qemu *q, struct argv_buf *a)
{
	const struct vm_config *c = &vm->cfg;
	int r = 0;
	r |= add(a, strdup(q->binary));
	/* The state dir in the command line: `delete` after a shim crash finds the
	 * sandbox's processes by it (QEMU opens nothing there by path any more). */
	r |= add(a, strdup("-name"));
	r |= add(a, opt_escape("cocoon-", c->id, ":", c->dir));
	r |= add(a, strdup("-M"));
	r |= add(a, strdup("microvm,acpi=off"));
	r |= add(a, strdup("-accel"));
	r |= add(a, strdup(c->accel_kvm ? "kvm" : "tcg,thread=multi"));
	r |= add(a, strdup("-cpu"));
	r |= add(a, strdup(c->accel_kvm ? "host" : "max"));
	r |= add(a, strdup("-smp"));
	r |= add(a, cc_strdup_printf("%u", c->cpus));
	r |= add(a, strdup("-m"));
	r |= add(a, cc_strdup_printf("%llu", (unsigned long long)c->memory_mib));
	r |= add(a, strdup("-object"));
	r |= add(a, cc_strdup_printf("memory-backend-memfd,id=mem,size=%lluM,share=on",
				     (unsigned long long)c->memory_mib));
	r |= add(a, strdup("-numa"));
	r |= add(a, strdup("node,memdev=mem"));
	r |= add(a, strdup("-nodefaults"));
	r |= add(a, strdup("-no-user-config"));
	r |= add(a, strdup("-display"));
	r |= add(a, strdup("none"));
	r |= add(a, strdup("-no-reboot"));
	r |= add(a, strdup("-global"));
	r |= add(a, strdup("virtio-mmio.force-legacy=false"));
	r |= add(a, strdup("-chardev"));
	r |= add(a, cc_strdup_printf("socket,id=console,fd=%d", q->console.wr));
	r |= add(a, strdup("-serial"));
	r |= add(a, strdup("chardev:console"));
	r |= add(a, strdup("-kernel"));
	r |= add(a, strdup(c->kernel));
	if (c->initrd != NULL) {
		r |= add(a, strdup("-initrd"));
		r |= add(a, strdup(c->initrd));
	}
	r |= add(a, strdup("-append"));
	r |= add(a, cc_strdup_printf("%s %s%s%s", QEMU_BASE_CMDLINE, HV_GUEST_BOOT_CUTS,
				     c->cmdline ? " " : "", c->cmdline ? c->cmdline : ""));
	r |= add(a, strdup("-sandbox"));
	r |= add(a,
		 strdup("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
	if (c->fs_socket != NULL) {
		r |= add(a, strdup("-chardev"));
		r |= add(a, cc_strdup_printf("socket,id=fs,fd=%d", q->fs_fd));
		r |= add(a, strdup("-device"));
		r |= add(a, cc_strdup_printf("vhost-user-fs-device,chardev=fs,tag=%s", c->fs_tag));
	}
	r |= add(a, strdup("-device"));
	r |= add(a, strdup("virtio-serial-device"));
	r |= add(a, strdup("-chardev"));
	r |= add(a,
		 cc_strdup_printf("socket,id=agent,fd=%d,server=on,wait=off", q->agent_listen_fd));
	r |= add(a, strdup("-device"));
	r |= add(a, strdup("virtserialport,chardev=agent,name=agent"));
	for (unsigned i = 0; i < c->n_nets; i++) {
		const struct vm_net *n = &c->nets[i];
		r |= add(a, strdup("-netdev"));
		r |= add(a, cc_strdup_printf("tap,id=net%u,ifname=%s,script=no,downscript=no", i,
					     n->tap));
		r |= add(a, strdup("-device"));
		char mtu[32] = "";
		if (n->mtu != 0) /* tells the guest driver the MTU (VIRTIO_NET_F_MTU) */
			snprintf(mtu, sizeof(mtu), ",host_mtu=%u", n->mtu);
		r |= add(
			a,
			cc_strdup_printf(
				"virtio-net-device,netdev=net%u,mac=%02x:%02x:%02x:%02x:%02x:%02x%s",
				i, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
				mtu));
	}
	return r;
}

static void free_argv(struct argv_buf *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* The agent's socket, bound and listening before QEMU starts: QEMU inherits it and
 * never needs to create anything by path. */
static int listen_agent(struct qemu *q, struct cc_error *err)
{
	q->agent_listen_fd = cc_unix_listen(q->agent_sock, 1, SOCK_CLOEXEC, err);
	return q->agent_listen_fd < 0 ? cc_error_prefix(err, "agent socket") : 0;
}

/* virtiofsd's socket file appears at bind(), a moment before it listens; it serves one
 * connection only, so no probe: the real connection is retried for a while. */
static int connect_virtiofsd(const char *path, int *fd, struct cc_error *err)
{
	uint64_t deadline = cc_now_ns() + (uint64_t)VIRTIOFSD_LISTEN_MS * 1000000ull;
	while ((*fd = cc_unix_connect(path, err)) < 0) {
		if (err->err_no != ECONNREFUSED || cc_now_ns() >= deadline)
			return -1;
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int qemu_start(struct vm *vm, struct cc_error *err)
{
	const struct vm_config *c = &vm->cfg;
	struct qemu *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return cc_error_set(err, ENOMEM, "qemu");
	q->agent_listen_fd = q->fs_fd = -1;
	q->console = q->log = (struct cc_log_pump){ .wr = -1, .rd = -1, .file = -1 };
	vm->priv = q;
	if (cc_find_executable(c->vmm_binary ? c->vmm_binary : QEMU_DEFAULT_BINARY, q->binary,
			       sizeof(q->binary), err) < 0)
		return -1;
	snprintf(q->agent_sock, sizeof(q->agent_sock), "%s/agent.sock", c->dir);
	snprintf(q->log_path, sizeof(q->log_path), "%s/vmm.log", c->dir);
	snprintf(q->root, sizeof(q->root), "%s/vmm-root", c->dir);
	if (vm->console_log[0] == '\0')
		snprintf(vm->console_log, sizeof(vm->console_log), "%s/console.log", c->dir);
	cc_jail_ids(&q->uid, &q->gid);
	if (listen_agent(q, err) < 0 ||
	    cc_log_pump_start(&q->console, vm->console_log, CONSOLE_LOG_MAX, err) < 0 ||
	    cc_log_pump_start(&q->log, q->log_path, VMM_LOG_MAX, err) < 0)
		return -1;
	if (mkdir(q->root, 0700) < 0)
		return cc_error_set(err, errno, "mkdir %s", q->root);
	if (c->fs_socket != NULL && connect_virtiofsd(c->fs_socket, &q->fs_fd, err) < 0)
		return cc_error_prefix(err, "virtiofsd");

	struct argv_buf a = { .n = 0 };
	if (build_argv(vm, q, &a) < 0) {
		free_argv(&a);
		return cc_error_set(err, ENOMEM, "qemu arguments");
	}
	if (cc_log_level() >= CC_LOG_DEBUG) {
		char line[4096];
		size_t off = 0;
		for (size_t i = 0; i < a.n && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
						i ? " " : "", a.v[i]);
		cc_debug("qemu: %s", line);
	}
	/* What QEMU may see: its binary and libraries (/usr, merged or not), the guest
	 * images, the console file, and the devices it opens. */
	const char *ro[] = { "/usr",	"/lib",	   "/lib64",  "/bin", "/etc/ld.so.cache",
			     q->binary, c->kernel, c->initrd, NULL };
	const char *rw[] = { "/dev/null", c->n_nets > 0 ? "/dev/net/tun" : NULL, NULL, NULL };
	if (c->accel_kvm)
		rw[c->n_nets > 0 ? 2 : 1] = "/dev/kvm";
	const char *taps[POD_NET_MAX_IFS + 1] = { NULL };
	for (unsigned i = 0; i < c->n_nets && i < POD_NET_MAX_IFS; i++)
		taps[i] = c->nets[i].tap;
	int fds[3] = { q->agent_listen_fd, q->console.wr, q->fs_fd };
	struct cc_jail jail = { .uid = q->uid,
				.gid = q->gid,
				.root = q->root,
				.ro = ro,
				.rw = rw,
				.taps = taps,
				.fds = fds,
				.n_fds = q->fs_fd >= 0 ? 3 : 2,
				.log_fd = q->log.wr,
				.cgroups = c->cgroup_procs };
	int rc = cc_child_spawn_jail(a.v, NULL, c->netns, &jail, &vm->pid, err);
	free_argv(&a);
	/* QEMU holds them now; without our copy, a connection to a dead QEMU is refused. */
	close(q->agent_listen_fd);
	q->agent_listen_fd = -1;
	if (q->fs_fd >= 0)
		close(q->fs_fd);
	q->fs_fd = -1;
	cc_log_pump_detach(&q->console);
	cc_log_pump_detach(&q->log);
	return rc;
}

/* The VMM's own complaints (bad flag, missing file) as a short message. */
static void vmm_log_tail(const struct qemu *q, char *out, size_t len)
{
	cleanup_free char *text = NULL;
	struct cc_error e;
	out[0] = '\0';
	if (cc_read_file(q->log_path, 1 << 20, &text, NULL, &e) < 0)
		return;
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	const char *last = strrchr(text, '\n');
	snprintf(out, len, "%s", last ? last + 1 : text);
}

static int qemu_agent_connect(struct vm *vm, int timeout_ms, struct cc_error *err)
{
	struct qemu *q = vm->priv;
	uint64_t deadline = cc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		int fd = cc_unix_connect(q->agent_sock, err);
		if (fd >= 0)
			return fd;
		/* Not there yet, or not listening yet: QEMU is still starting. */
		if (err->err_no != ENOENT && err->err_no != ECONNREFUSED)
			return -1;
		if (cc_child_wait(&vm->pid, 0, &vm->status)) {
			char tail[512];
			vmm_log_tail(q, tail, sizeof(tail));
			return cc_error_set(err, 0, "qemu exited during startup%s%s",
					    tail[0] ? ": " : "", tail);
		}
		if (cc_now_ns() >= deadline)
			return cc_error_set(err, ETIMEDOUT, "connect %s", q->agent_sock);
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
}

static int qemu_stop(struct vm *vm, int timeout_ms, struct cc_error *err)
{
	(void)err;
	struct qemu *q = vm->priv;
	cc_child_stop(&vm->pid, timeout_ms);
	if (q != NULL) {
		cc_log_pump_stop(&q->console);
		cc_log_pump_stop(&q->log);
	}
	return 0;
}

static void qemu_destroy(struct vm *vm)
{
	struct qemu *q = vm->priv;
	if (q != NULL) {
		if (q->agent_listen_fd >= 0)
			close(q->agent_listen_fd);
		if (q->fs_fd >= 0)
			close(q->fs_fd);
		cc_log_pump_stop(&q->console);
		cc_log_pump_stop(&q->log);
	}
	free(vm->priv);
	vm->priv = NULL;
}

const struct hypervisor_ops hypervisor_qemu = {
	.name = "qemu",
	.probe = qemu_probe,
	.start = qemu_start,
	.agent_connect = qemu_agent_connect,
	.stop = qemu_stop,
	.destroy = qemu_destroy,
};
