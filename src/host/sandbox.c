#include "host/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/agent_proto.h"
#include "host/child.h"
#include "host/config.h"
#include "host/template.h"
#include "shared/log.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "host/virtiofsd.h"
#include "proto/agent.pb-c.h"

#define CONSOLE_TAIL_LINES 20
#define CONSOLE_DEBUG_LINES 200
#define SHUTDOWN_RPC_MS 2000
#define VMM_EXIT_AFTER_SHUTDOWN_MS 3000
#define VMM_TERM_GRACE_MS 2000
/* The share root holds only mount points: a few hundred shares at most per pod. */
#define SHARED_DIR_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define SHARED_DIR_OPTS "size=64k,nr_inodes=4096,mode=0755"

int sandbox_enter_mount_ns(struct cc_error *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return cc_error_set(err, errno, "unshare mount namespace");
	/* Slave, not private: host mounts made later still show up here, ours never leak out. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return cc_error_set(err, errno, "make / rslave");
	return 0;
}

/* The last `max_lines` lines of the guest console, printable bytes only (the guest is
 * untrusted), or NULL when there is none. The caller frees it. */
static char *console_tail(struct sandbox *sb, int max_lines)
{
	char *text = NULL;
	size_t len = 0;
	struct cc_error e;
	if (sb->vm.console_log[0] == '\0' ||
	    cc_read_file(sb->vm.console_log, 16u << 20, &text, &len, &e) < 0 || len == 0) {
		free(text);
		return NULL;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	size_t start = len;
	for (int lines = 0; start > 0; start--)
		if (text[start - 1] == '\n' && ++lines == max_lines)
			break;
	size_t w = 0;
	for (size_t i = start; i < len; i++) {
		if (text[i] == '\r')
			continue;
		bool ok = (unsigned char)text[i] >= 0x20 || text[i] == '\n' || text[i] == '\t';
		text[w++] = ok && text[i] != 0x7f ? text[i] : '?';
	}
	text[w] = '\0';
	return text;
}

/* Appends the last lines of the guest console to err: why the agent never answered. */
static void add_console_tail(struct sandbox *sb, struct cc_error *err)
{
	cleanup_free char *text = console_tail(sb, CONSOLE_TAIL_LINES);
	if (text == NULL)
		return;
	size_t n = strlen(err->msg);
	const char *tail = text;
	size_t room = sizeof(err->msg) - n;
	size_t tlen = strlen(tail);
	if (tlen + 40 > room && room > 40) {
		tail += tlen - (room - 40);
		const char *nl = strchr(tail, '\n');
		tail = nl != NULL ? nl + 1 : tail; /* start at a whole line */
	}
	snprintf(err->msg + n, room, "\n--- guest console (last lines) ---\n%s", tail);
}

/* With debug logging, the guest's own log (kernel and agent, on its console) follows
 * ours, so one --debug run shows both sides. */
static void log_console(struct sandbox *sb)
{
	if (cc_log_level() < CC_LOG_DEBUG)
		return;
	cleanup_free char *text = console_tail(sb, CONSOLE_DEBUG_LINES);
	for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		cc_debug("guest: %s", line);
	}
}

/* The share root is a small tmpfs of the sandbox's own, so nothing done there lands on
 * the host's /run. The guest sees it read-only (it can neither fill it nor plant links
 * between our mkdir and mount); the host makes mount points through a second, writable
 * mount of the same tmpfs that is detached (in no namespace, so virtiofsd never sees it)
 * and lives only as sb->shared_rw_fd. <dir>/shared is made shared so that shares moved
 * in after virtiofsd started still propagate into its (slave) namespace. */
static int mount_shared_dir(struct sandbox *sb, struct cc_error *err)
{
	if (mkdir(sb->shared_dir, 0700) < 0)
		return cc_error_set(err, errno, "mkdir %s", sb->shared_dir);
	if (mount("cocoon-shared", sb->shared_dir, "tmpfs", SHARED_DIR_FLAGS, SHARED_DIR_OPTS) < 0)
		return cc_error_set(err, errno, "mount a tmpfs on %s", sb->shared_dir);
	sb->shared_rw_fd =
		(int)open_tree(AT_FDCWD, sb->shared_dir,
			       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (sb->shared_rw_fd < 0)
		return cc_error_set(err, errno, "clone the mount of %s", sb->shared_dir);
	if (mount(NULL, sb->shared_dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | SHARED_DIR_FLAGS,
		  NULL) < 0)
		return cc_error_set(err, errno, "make %s read-only", sb->shared_dir);
	if (mount(NULL, sb->shared_dir, NULL, MS_SHARED, NULL) < 0)
		return cc_error_set(err, errno, "make %s shared", sb->shared_dir);
	sb->shared_fd = open(sb->shared_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sb->shared_fd < 0)
		return cc_error_set(err, errno, "open %s", sb->shared_dir);
	return 0;
}

static struct ttrpc_client *agent_conn(void *ctx, struct cc_error *err)
{
	struct sandbox *sb = ctx;
	if (sb->agent == NULL)
		cc_error_code(err, TTRPC_UNAVAILABLE, "no connection to the agent");
	return sb->agent;
}

void sandbox_config_from_settings(struct sandbox_config *sc, const struct cc_config *cfg,
				  const struct hypervisor_ops *hv)
{
	*sc = (struct sandbox_config){
		.state_root = cfg->state_dir,
		.hv = hv,
		/* An empty qemu= leaves the backend its default. */
		.vmm_binary = strcmp(hv->name, "qemu") == 0 && cfg->qemu[0] ? cfg->qemu : NULL,
		.virtiofsd = cfg->virtiofsd,
		.kernel = cfg->kernel,
		.initrd = cfg->initrd,
		.cpus = cfg->default_vcpus,
		.memory_mib = cfg->default_memory_mib,
		.debug = cfg->log_level >= CC_LOG_DEBUG,
		.boot_timeout_ms = cfg->boot_timeout_ms,
	};
}

static int hello(struct sandbox *sb, int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__HelloRequest req = COCOON__AGENT__V1__HELLO_REQUEST__INIT;
	req.version = AGENT_PROTOCOL_VERSION;
	Cocoon__Agent__V1__HelloResponse *resp = NULL;
	if (agent_call(&sb->client, AGENT_HELLO, &req.base, (ProtobufCMessage **)&resp, timeout_ms,
		       err) < 0)
		return cc_error_prefix(err, "agent Hello");
	int rc = 0;
	if (resp->version != AGENT_PROTOCOL_VERSION)
		rc = cc_error_set(err, 0,
				  "agent speaks protocol %u, cocoon %u (rebuild the initrd)",
				  resp->version, AGENT_PROTOCOL_VERSION);
	snprintf(sb->guest_kernel, sizeof(sb->guest_kernel), "%.*s",
		 (int)strnlen(resp->kernel_release, sizeof(sb->guest_kernel) - 1),
		 resp->kernel_release);
	snprintf(sb->boot_id, sizeof(sb->boot_id), "%.*s",
		 (int)strnlen(resp->boot_id, sizeof(sb->boot_id) - 1), resp->boot_id);
	ttrpc_sanitize_text(sb->guest_kernel); /* both end up in logs */
	ttrpc_sanitize_text(sb->boot_id);
	sb->t.guest_boot_to_ready_ns = resp->boot_to_ready_ns;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return rc;
}

/* The guest's share of the pod network: what CNI gave each interface, keyed by MAC. */
static int configure_network(struct sandbox *sb, int timeout_ms, struct cc_error *err)
{
	const struct pod_net *pn = sb->net;
	Cocoon__Agent__V1__NetInterface ifs[POD_NET_MAX_IFS], *ifp[POD_NET_MAX_IFS];
	Cocoon__Agent__V1__IPAddress addrs[POD_NET_MAX_IFS][POD_NET_MAX_ADDRS];
	Cocoon__Agent__V1__IPAddress *addrp[POD_NET_MAX_IFS][POD_NET_MAX_ADDRS];
	Cocoon__Agent__V1__NetRoute routes[POD_NET_MAX_ROUTES], *routep[POD_NET_MAX_ROUTES];
	static const uint8_t zero[16];
	uint8_t tmpl_macs[POD_NET_MAX_IFS][6];
	for (unsigned i = 0; i < pn->n_ifs; i++) {
		const struct pod_if *pi = &pn->ifs[i];
		cocoon__agent__v1__net_interface__init(&ifs[i]);
		ifs[i].name = (char *)pi->name;
		ifs[i].mac = (ProtobufCBinaryData){ 6, (uint8_t *)pi->mac };
		/* Restored: the NIC still has the template's MAC; the agent sets the pod's. */
		if (sb->template_name[0] != '\0') {
			uint8_t tmac[6] = TEMPLATE_MAC(i);
			memcpy(tmpl_macs[i], tmac, 6);
			ifs[i].guest_mac = (ProtobufCBinaryData){ 6, tmpl_macs[i] };
		}
		ifs[i].mtu = pi->mtu;
		for (unsigned k = 0; k < pi->n_addrs; k++) {
			cocoon__agent__v1__ipaddress__init(&addrs[i][k]);
			addrs[i][k].addr =
				(ProtobufCBinaryData){ pi->addrs[k].family == AF_INET ? 4 : 16,
						       (uint8_t *)pi->addrs[k].addr };
			addrs[i][k].prefix_len = pi->addrs[k].prefix_len;
			addrp[i][k] = &addrs[i][k];
		}
		ifs[i].addresses = addrp[i];
		ifs[i].n_addresses = pi->n_addrs;
		ifp[i] = &ifs[i];
	}
	for (unsigned i = 0; i < pn->n_routes; i++) {
		const struct pod_route *r = &pn->routes[i];
		size_t alen = r->family == AF_INET ? 4 : 16;
		cocoon__agent__v1__net_route__init(&routes[i]);
		routes[i].dst = (ProtobufCBinaryData){ alen, r->dst_len ? (uint8_t *)r->dst
									: (uint8_t *)zero };
		routes[i].dst_len = r->dst_len;
		if (r->has_gateway)
			routes[i].gateway = (ProtobufCBinaryData){ alen, (uint8_t *)r->gateway };
		routes[i].device = (char *)pn->ifs[r->iface].name;
		routes[i].metric = r->metric;
		routep[i] = &routes[i];
	}
	Cocoon__Agent__V1__ConfigureNetworkRequest req =
		COCOON__AGENT__V1__CONFIGURE_NETWORK_REQUEST__INIT;
	req.interfaces = ifp;
	req.n_interfaces = pn->n_ifs;
	req.routes = routep;
	req.n_routes = pn->n_routes;
	if (agent_call(&sb->client, AGENT_CONFIGURE_NETWORK, &req.base, NULL, timeout_ms, err) < 0)
		return cc_error_prefix(err, "guest network");
	return 0;
}

/* What must differ between clones of one template, before anything runs in this one:
 * fresh entropy for the guest CRNG and the host's wall clock; then the share, which a
 * template never mounts. */
static int after_restore(struct sandbox *sb, int timeout_ms, struct cc_error *err)
{
	uint8_t entropy[64];
	if (getrandom(entropy, sizeof(entropy), 0) != (ssize_t)sizeof(entropy))
		return cc_error_set(err, errno, "getrandom");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	Cocoon__Agent__V1__ReseedRequest req = COCOON__AGENT__V1__RESEED_REQUEST__INIT;
	req.entropy = (ProtobufCBinaryData){ sizeof(entropy), entropy };
	req.realtime_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	Cocoon__Agent__V1__ReseedResponse *resp = NULL;
	int rc = agent_call(&sb->client, AGENT_RESEED, &req.base, (ProtobufCMessage **)&resp,
			    timeout_ms, err);
	explicit_bzero(entropy, sizeof(entropy));
	if (rc < 0)
		return cc_error_prefix(err, "agent Reseed");
	cc_debug("sandbox %s: guest CRNG reseeded, clock stepped %lld ms", sb->id,
		 (long long)(resp->clock_step_ns / 1000000));
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	Cocoon__Agent__V1__Empty empty = COCOON__AGENT__V1__EMPTY__INIT;
	if (agent_call(&sb->client, AGENT_MOUNT_SHARED, &empty.base, NULL, timeout_ms, err) < 0)
		return cc_error_prefix(err, "agent MountShared");
	return 0;
}

/* The VMM's own last words in the console log (why it refused a template). */
static void vmm_last_words(struct sandbox *sb, char *out, size_t len)
{
	cleanup_free char *text = console_tail(sb, CONSOLE_TAIL_LINES);
	const char *best = NULL;
	for (char *line = text; line != NULL && *line != '\0';) {
		char *next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "cocoon-vmm: ", 12) == 0)
			best = line + 12;
		line = next;
	}
	snprintf(out, len, "%s", best != NULL ? best : "it exited during startup");
}

/* A restore that failed: its VM and virtiofsd (which serves one VM) stopped, why logged,
 * the sandbox ready to boot cold. */
static int restore_to_cold(struct sandbox *sb, const struct sandbox_config *cfg, int budget_ms,
			   const char *fs_sock, const char *fs_log, struct cc_error *err)
{
	char why[sizeof(err->msg)];
	bool exited = sb->vm.pid <= 0 || cc_child_wait(&sb->vm.pid, 0, &sb->vm.status);
	if (err->err_no == ETIMEDOUT || err->code == TTRPC_DEADLINE_EXCEEDED)
		snprintf(why, sizeof(why), "its agent did not answer within %d ms", budget_ms);
	else
		snprintf(why, sizeof(why), "%s", err->msg);
	if (sb->agent != NULL) {
		ttrpc_client_free(sb->agent);
		sb->agent = NULL;
	}
	struct cc_error ignored;
	cfg->hv->stop(&sb->vm, VMM_TERM_GRACE_MS, &ignored);
	cfg->hv->destroy(&sb->vm);
	if (exited) {
		vmm_last_words(sb, why, sizeof(why));
		cc_warn("sandbox %s: template %s refused by cocoon-vmm: %s; booting cold (a new "
			"one is made)",
			sb->id, sb->template_name, why);
	} else {
		cc_warn("sandbox %s: restore from template %s failed: %s; booting cold (a new "
			"one is made)",
			sb->id, sb->template_name, why);
	}
	sb->template_name[0] = '\0';
	sb->vm.cfg.restore = false;
	char path[4200];
	snprintf(path, sizeof(path), "%s/vm", sb->dir);
	cc_rm_rf(path, &ignored);
	snprintf(path, sizeof(path), "%s/vmm-root", sb->dir);
	rmdir(path);
	virtiofsd_stop(&sb->virtiofsd_pid);
	unlink(fs_sock);
	return virtiofsd_start(cfg->virtiofsd, sb->shared_dir, fs_sock, fs_log,
			       sb->cgroup.procs_list, cfg->boot_timeout_ms, &sb->virtiofsd_pid,
			       err);
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = cc_now_ns();
	return now >= deadline ? 1 : (int)((deadline - now) / 1000000ull) + 1;
}

int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct cc_error *err)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (sb == NULL)
		return cc_error_set(err, ENOMEM, "sandbox");
	sb->client = (struct agent_client){ .conn = agent_conn, .ctx = sb };
	sb->shared_fd = sb->shared_rw_fd = -1;
	sb->t.start = cc_now_ns();
	uint64_t deadline = sb->t.start + (uint64_t)cfg->boot_timeout_ms * 1000000ull;
	struct cc_error ignored;
	/* Declared before the first goto: a cleanup attribute runs even for a variable whose
	 * declaration a goto jumped over. */
	cleanup_free char *cmdline = NULL;
	cleanup_close int tstate = -1;
	cleanup_close int tmem = -1;

	if (strlen(cfg->id) >= sizeof(sb->id) || strchr(cfg->id, '/') != NULL ||
	    cfg->id[0] == '.' || cfg->id[0] == '\0') {
		free(sb);
		return cc_error_set(err, 0, "invalid sandbox id '%s'", cfg->id);
	}
	snprintf(sb->id, sizeof(sb->id), "%s", cfg->id);
	if ((size_t)snprintf(sb->dir, sizeof(sb->dir), "%s/%s", cfg->state_root, cfg->id) >=
	    sizeof(sb->dir) - 64) {
		free(sb);
		return cc_error_set(err, ENAMETOOLONG, "state dir %s", cfg->state_root);
	}
	/* The sandbox's unix sockets (agent.sock, vsock.sock, fs.sock, api.sock) live in its
	 * directory; say so before anything starts rather than fail in a child. */
	size_t sock_max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	if (strlen(sb->dir) + strlen("/agent.sock") > sock_max) {
		cc_error_set(
			err, ENAMETOOLONG,
			"state dir %s is too long for sandbox %s: its sockets would need %zu "
			"bytes, a unix socket path has at most %zu; choose a shorter state_dir",
			cfg->state_root, cfg->id, strlen(sb->dir) + strlen("/agent.sock"),
			sock_max);
		free(sb);
		return -1;
	}
	if ((size_t)snprintf(sb->shared_dir, sizeof(sb->shared_dir), "%s/shared", sb->dir) >=
	    sizeof(sb->shared_dir)) {
		free(sb);
		return cc_error_set(err, ENAMETOOLONG, "state dir %s", cfg->state_root);
	}
	if (cc_mkdir_p(cfg->state_root, 0711, err) < 0) {
		free(sb);
		return cc_error_prefix(err, "state dir");
	}
	if (mkdir(sb->dir, 0700) < 0) {
		int e = errno;
		free(sb);
		return cc_error_set(err, e, "state dir %s/%s", cfg->state_root, cfg->id);
	}
	/* Names the directory as this sandbox's: `shim delete` checks it before it kills or
	 * removes anything a bundle points at. */
	char marker[4200];
	snprintf(marker, sizeof(marker), "%s/%s", sb->dir, SANDBOX_ID_FILE);
	if (cc_write_file(marker, sb->id, strlen(sb->id), 0600, err) < 0)
		goto fail;

	char fs_sock[4200], fs_log[4200];
	snprintf(fs_sock, sizeof(fs_sock), "%s/fs.sock", sb->dir);
	snprintf(fs_log, sizeof(fs_log), "%s/virtiofsd.log", sb->dir);
	struct host_cgroup_limits lim = { .memory_mib = cfg->memory_mib,
					  .cpu_quota_us = cfg->cpu_quota_us,
					  .cpu_period_us = cfg->cpu_period_us };
	/* virtiofsd's start counts against boot_timeout_ms like the rest of the boot: with
	 * ten sandboxes starting at once in the nested-KVM lab, a fixed 5 s failed eight. */
	if (host_cgroup_create(sb->dir, &lim, &sb->cgroup, err) < 0 ||
	    (cfg->join_cgroup && host_cgroup_join_self(&sb->cgroup, err) < 0) ||
	    mount_shared_dir(sb, err) < 0 ||
	    virtiofsd_start(cfg->virtiofsd, sb->shared_dir, fs_sock, fs_log, sb->cgroup.procs_list,
			    remaining_ms(deadline), &sb->virtiofsd_pid, err) < 0)
		goto fail;
	sb->t.virtiofsd_ready = cc_now_ns();

	if (cfg->netns != NULL) {
		if (pod_net_setup(cfg->netns, &sb->net, err) < 0)
			goto fail;
		for (unsigned i = 0; i < sb->net->n_ifs; i++) {
			const struct pod_if *pi = &sb->net->ifs[i];
			snprintf(sb->nets[i].tap, sizeof(sb->nets[i].tap), "%s", pi->tap);
			memcpy(sb->nets[i].mac, pi->mac, 6);
			sb->nets[i].mtu = pi->mtu;
		}
		if (sb->net->n_ifs == 0)
			cc_info("sandbox %s: %s has no interface besides lo, the guest has loopback only",
				sb->id, cfg->netns);
		cc_debug("sandbox %s: %u interfaces from %s", sb->id, sb->net->n_ifs, cfg->netns);
	} else {
		cc_info("sandbox %s: no network namespace, the guest has loopback only", sb->id);
	}

	cmdline = cc_strdup_printf("%s%s%s%s", cfg->debug ? "loglevel=7 cocoon.debug=1" : "",
				   cfg->debug && cfg->extra_cmdline ? " " : "",
				   cfg->extra_cmdline ? cfg->extra_cmdline : "",
				   !cfg->make_template		      ? ""
				   : cfg->debug || cfg->extra_cmdline ? " " TEMPLATE_CMDLINE
								      : TEMPLATE_CMDLINE);
	sb->vm.ops = cfg->hv;
	sb->vm.cfg = (struct vm_config){
		.id = sb->id,
		.dir = sb->dir,
		.vmm_binary = cfg->vmm_binary,
		.kernel = cfg->kernel,
		.initrd = cfg->initrd,
		.cmdline = cmdline && *cmdline ? cmdline : NULL,
		.cpus = cfg->cpus,
		.memory_mib = cfg->memory_mib,
		.fs_socket = fs_sock,
		.fs_tag = SANDBOX_FS_TAG,
		.netns = cfg->netns,
		.nets = sb->nets,
		.n_nets = sb->net != NULL ? sb->net->n_ifs : 0,
		.accel_kvm = hypervisor_hw_virt(),
		.cgroup_procs = sb->cgroup.procs_list,
	};
	if ((size_t)snprintf(sb->vm.console_log, sizeof(sb->vm.console_log), "%s/console.log",
			     sb->dir) >= sizeof(sb->vm.console_log)) {
		cc_error_set(err, ENAMETOOLONG, "state dir %s", sb->dir);
		goto fail;
	}
	unsigned n_nics = sb->vm.cfg.n_nets;
	/* The maker starts once this sandbox's agent answered: it never competes with the
	 * cold boot it is meant to spare the next sandboxes. */
	bool want_maker = false;
	struct template_key tk;
	if (cfg->use_template && cfg->hv->snapshot != NULL) {
		struct cc_error te;
		int r = template_key(cfg, n_nics, &tk, &te) < 0
				? -2
				: template_open(cfg->state_root, &tk, &tstate, &tmem, &te);
		if (r == 0) {
			sb->vm.cfg.restore = true;
			sb->vm.cfg.restore_state_fd = tstate;
			sb->vm.cfg.restore_memory_fd = tmem;
			snprintf(sb->template_name, sizeof(sb->template_name), "%s", tk.name);
		} else if (r == -2) {
			cc_warn("sandbox %s: no template: %s; booting cold", sb->id, te.msg);
		} else {
			if (r < 0) {
				cc_warn("sandbox %s: template %s refused: %s; booting cold (a new "
					"one is made)",
					sb->id, tk.name, te.msg);
				template_discard(cfg->state_root, &tk);
			} else {
				cc_info("sandbox %s: no template %s yet: booting cold, one is made "
					"beside it",
					sb->id, tk.name);
			}
			want_maker = true;
		}
	}
	if (cfg->hv->probe(&sb->vm.cfg, err) < 0)
		goto fail;
	/* A restore has a fifth of the boot's time (on a KVM host it takes milliseconds);
	 * past it, or failing, the sandbox boots cold with the whole boot_timeout_ms. */
	uint64_t vm_deadline =
		sb->vm.cfg.restore ? cc_now_ns() + (uint64_t)cfg->boot_timeout_ms * 1000000ull / 5
				   : deadline;
start_vm:
	if (cfg->hv->start(&sb->vm, err) < 0)
		goto fail;
	sb->t.vmm_spawned = cc_now_ns();

	int fd = cfg->hv->agent_connect(&sb->vm, remaining_ms(vm_deadline), err);
	if (fd < 0 && sb->vm.cfg.restore)
		goto restore_failed;
	if (fd < 0) {
		/* The same words whichever backend waited (cocoon-vmm waits in connect, QEMU in
		 * hello): what the user can change is boot_timeout_ms, not a socket. */
		if (err->err_no == ETIMEDOUT)
			cc_error_set(err, 0, "the guest agent did not answer within %d ms",
				     cfg->boot_timeout_ms);
		goto fail_console;
	}
	sb->agent = ttrpc_client_new(fd, err);
	if (sb->agent == NULL)
		goto fail;
	sb->t.agent_connected = cc_now_ns();
	cc_debug("sandbox %s: agent connected", sb->id);
	if (hello(sb, remaining_ms(vm_deadline), err) < 0) {
		if (sb->vm.cfg.restore)
			goto restore_failed;
		if (err->code == TTRPC_DEADLINE_EXCEEDED)
			cc_error_set(err, 0, "the guest agent did not answer within %d ms",
				     cfg->boot_timeout_ms);
		else if (err->code == TTRPC_UNAVAILABLE)
			cc_error_set(err, 0, "the VM stopped before its agent answered");
		goto fail_console;
	}
	if (sb->vm.cfg.restore && after_restore(sb, remaining_ms(vm_deadline), err) < 0)
		goto restore_failed;
	cc_debug("sandbox %s: agent said hello%s", sb->id,
		 sb->template_name[0] != '\0' ? ", reseeded, share mounted" : "");
	if (!cfg->make_template && sb->net != NULL && sb->net->n_ifs > 0 &&
	    configure_network(sb, remaining_ms(vm_deadline), err) < 0)
		goto restore_failed;
	if (want_maker)
		template_spawn_maker(cfg, n_nics);
	if (sb->template_name[0] != '\0')
		cc_info("sandbox %s: restored from template %s in %.0f ms", sb->id,
			sb->template_name, (double)(cc_now_ns() - sb->t.start) / 1e6);
	sb->t.agent_ready = cc_now_ns();
	cc_debug("sandbox %s: agent ready (guest %s, boot to ready %llu ms)", sb->id,
		 sb->guest_kernel, (unsigned long long)(sb->t.guest_boot_to_ready_ns / 1000000ull));
	/* Closes the agent's connection if the client is freed after a failure below. */
	*out = sb;
	return 0;

restore_failed:
	if (!sb->vm.cfg.restore)
		goto fail_console;
	/* The template was refused (corrupt, foreign, KVM would not take its state) or its
	 * VM did not come up in time: say why, drop it, boot this sandbox cold. */
	if (restore_to_cold(sb, cfg, cfg->boot_timeout_ms / 5, fs_sock, fs_log, err) < 0)
		goto fail;
	template_discard(cfg->state_root, &tk);
	want_maker = true;
	deadline = vm_deadline = cc_now_ns() + (uint64_t)cfg->boot_timeout_ms * 1000000ull;
	goto start_vm;

fail_console:
	/* Stop the VMM first so its console file is complete. */
	if (sb->vm.pid > 0)
		cfg->hv->stop(&sb->vm, VMM_TERM_GRACE_MS, &ignored);
	add_console_tail(sb, err);
fail:
	sandbox_destroy(sb, &ignored);
	return -1;
}

static int check_share_name(const char *name, struct cc_error *err)
{
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL ||
	    strlen(name) > NAME_MAX)
		return cc_error_set(err, 0, "invalid share name '%s'", name);
	return 0;
}

/* The share is built where nobody else can see it: a detached copy of host_path (with
 * what is mounted below it), made read-only there when asked, recursively, and only
 * then moved onto its mount point. A read-only flag set after the mount had propagated
 * would not reach virtiofsd's copy, which would go on writing through. */
int sandbox_share(struct sandbox *sb, const char *host_path, const char *name, bool readonly,
		  char *guest_path, size_t guest_path_len, struct cc_error *err)
{
	if (check_share_name(name, err) < 0)
		return -1;
	if ((size_t)snprintf(guest_path, guest_path_len, "%s/%s", SANDBOX_GUEST_SHARED, name) >=
	    guest_path_len)
		return cc_error_set(err, ENAMETOOLONG, "%s", name);
	/* MS_REC's equivalent: the container sees what is mounted below its rootfs too. */
	cleanup_close int tree = (int)open_tree(AT_FDCWD, host_path,
						OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return cc_error_set(err, errno, "%s", host_path);
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	if (readonly && mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		return cc_error_set(err, errno, "make %s read-only", host_path);
	struct stat st;
	if (fstat(tree, &st) < 0)
		return cc_error_set(err, errno, "%s", host_path);
	/* Through the writable mount of the share root: the guest's view of it is read-only. */
	bool dir = S_ISDIR(st.st_mode);
	if ((dir ? mkdirat(sb->shared_rw_fd, name, 0755)
		 : mknodat(sb->shared_rw_fd, name, S_IFREG | 0644, 0)) < 0)
		return cc_error_set(err, errno, "create the mount point %s/%s", sb->shared_dir,
				    name);
	cleanup_close int point = openat(sb->shared_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (point < 0 || move_mount(tree, "", point, "",
				    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		int e = errno;
		unlinkat(sb->shared_rw_fd, name, dir ? AT_REMOVEDIR : 0);
		return cc_error_set(err, e, "mount %s on %s/%s", host_path, sb->shared_dir, name);
	}
	return 0;
}

int sandbox_unshare(struct sandbox *sb, const char *name, struct cc_error *err)
{
	if (check_share_name(name, err) < 0)
		return -1;
	char target[4400];
	snprintf(target, sizeof(target), "%s/%s", sb->shared_dir, name);
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return cc_error_set(err, errno, "unmount %s", target);
	if (unlinkat(sb->shared_rw_fd, name, AT_REMOVEDIR) < 0 &&
	    (errno != ENOTDIR || unlinkat(sb->shared_rw_fd, name, 0) < 0))
		return cc_error_set(err, errno, "remove %s", target);
	return 0;
}

bool sandbox_alive(struct sandbox *sb)
{
	return sb->vm.pid > 0 && !cc_child_wait(&sb->vm.pid, 0, &sb->vm.status);
}

int sandbox_destroy(struct sandbox *sb, struct cc_error *err)
{
	if (sb == NULL)
		return 0;
	int rc = 0;
	if (sb->agent != NULL) {
		if (sb->vm.pid > 0 && !ttrpc_client_closed(sb->agent)) {
			/* A clean power-off flushes the guest; the VMM then exits by itself. */
			Cocoon__Agent__V1__Empty req = COCOON__AGENT__V1__EMPTY__INIT;
			struct cc_error e;
			if (agent_call(&sb->client, AGENT_SHUTDOWN, &req.base, NULL,
				       SHUTDOWN_RPC_MS, &e) == 0 ||
			    e.code == TTRPC_UNAVAILABLE)
				cc_child_wait(&sb->vm.pid, VMM_EXIT_AFTER_SHUTDOWN_MS,
					      &sb->vm.status);
			else
				cc_debug("sandbox %s: Shutdown: %s", sb->id, e.msg);
		}
		ttrpc_client_free(sb->agent);
		sb->agent = NULL;
	}
	if (sb->vm.ops != NULL) {
		if (sb->vm.pid > 0 && sb->vm.ops->stop(&sb->vm, VMM_TERM_GRACE_MS, err) < 0)
			rc = -1;
		sb->vm.ops->destroy(&sb->vm);
	}
	virtiofsd_stop(&sb->virtiofsd_pid);
	host_cgroup_destroy(&sb->cgroup);
	log_console(sb);
	struct cc_error e;
	if (pod_net_teardown(sb->net, rc == 0 ? err : &e) < 0)
		rc = -1;
	sb->net = NULL;
	if (sb->shared_fd >= 0)
		close(sb->shared_fd);
	if (sb->shared_rw_fd >= 0)
		close(sb->shared_rw_fd);
	if (sb->shared_dir[0] != '\0' &&
	    umount2(sb->shared_dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
	    errno != ENOENT && rc == 0)
		rc = cc_error_set(err, errno, "unmount %s", sb->shared_dir);
	if (cc_rm_rf(sb->dir, rc == 0 ? err : &e) < 0)
		rc = -1;
	free(sb);
	return rc;
}
