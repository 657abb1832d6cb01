/* kubectl port-forward for a VM pod. containerd 1.6 serves PortForward itself: it enters
 * the pod's network namespace on the host and dials localhost:PORT there. Nothing of a
 * VM pod listens in that namespace, so the shim puts one listening socket per address
 * family there (127.0.0.1 and ::1, ephemeral ports) and attaches a socket-lookup BPF
 * program to the namespace that hands every TCP connection to 127.0.0.1 or ::1, on any
 * port, to them. The port that was dialled is the accepted socket's own address. Each
 * connection is relayed to the same port on the guest's loopback through the agent
 * (ConnectPort, then ReadStream/WriteStdin like a process's stdio), so servers that
 * bind only the guest's 127.0.0.1 are reached too. The BPF link and the sockets are
 * fds of the shim: they go away with it (or with shim_portfwd_stop), leaving nothing
 * in the namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"
#include "shim/shim.h"

#define PF_CHUNK (64u << 10)

static struct {
	pthread_mutex_t lock;
	bool running;
	int listen[2]; /* 127.0.0.1, ::1 */
	int map, prog, link;
	int stop[2];
	pthread_t thread;
	char *container; /* the pod's sandbox container in the guest */
	unsigned next;
} pf = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .listen = { -1, -1 },
	 .map = -1,
	 .prog = -1,
	 .link = -1,
	 .stop = { -1, -1 } };

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define JNE(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JEQ(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define MOV_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)

/* struct bpf_sk_lookup offsets: family 8, protocol 12, local_ip4 40, local_ip6 44. The
 * addresses are in network byte order: 127.0.0.1 reads 0x0100007f, ::1's last word
 * 0x01000000 on this little-endian machine. */
static int load_program(int map, struct cc_error *err)
{
	enum { PASS = 32 };
	const struct bpf_insn insns[] = {
		/* 0 */ MOV_REG(6, 1),
		/* 1 */ LDX_W(2, 6, 12),
		/* 2 */ JNE(2, IPPROTO_TCP, PASS - 3),
		/* 3 */ LDX_W(2, 6, 8),
		/* 4 */ JEQ(2, AF_INET6, 10 - 5),
		/* 5 */ JNE(2, AF_INET, PASS - 6),
		/* 6 */ LDX_W(2, 6, 40),
		/* 7 */ JNE(2, 0x0100007f, PASS - 8),
		/* 8 */ INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),
		/* 9 */ INSN(BPF_JMP | BPF_JA, 0, 0, 19 - 10, 0),
		/* 10 */ LDX_W(2, 6, 44),
		/* 11 */ JNE(2, 0, PASS - 12),
		/* 12 */ LDX_W(2, 6, 48),
		/* 13 */ JNE(2, 0, PASS - 14),
		/* 14 */ LDX_W(2, 6, 52),
		/* 15 */ JNE(2, 0, PASS - 16),
		/* 16 */ LDX_W(2, 6, 56),
		/* 17 */ JNE(2, 0x01000000, PASS - 18),
		/* 18 */ INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 1),
		/* 19 */ INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map),
		/* 20 */ INSN(0, 0, 0, 0, 0),
		/* 21 */ MOV_REG(2, 10),
		/* 22 */ INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),
		/* 23 */ CALL(BPF_FUNC_map_lookup_elem),
		/* 24 */ JEQ(0, 0, PASS - 25),
		/* 25 */ MOV_REG(7, 0),
		/* 26 */ MOV_REG(1, 6),
		/* 27 */ MOV_REG(2, 7),
		/* 28 */ MOV_IMM(3, 0),
		/* 29 */ CALL(BPF_FUNC_sk_assign),
		/* 30 */ MOV_REG(1, 7),
		/* 31 */ CALL(BPF_FUNC_sk_release),
		/* 32 PASS */ MOV_IMM(0, SK_PASS),
		/* 33 */ INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	static char log[8192];
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SK_LOOKUP;
	attr.expected_attach_type = BPF_SK_LOOKUP;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = CC_ARRAY_SIZE(insns);
	attr.license = (uint64_t)(uintptr_t) "GPL";
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	long fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0)
		return cc_error_set(err, errno, "load the socket-lookup program: %.200s", log);
	return (int)fd;
}

/* A listener on the loopback of the current (pod) network namespace. */
static int listen_loopback(bool ipv6, struct cc_error *err)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int one = 1;
	int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cc_error_set(err, errno, "socket");
	if (ipv6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((ipv6 ? bind(fd, (struct sockaddr *)&in6, sizeof(in6))
		  : bind(fd, (struct sockaddr *)&in4, sizeof(in4))) < 0 ||
	    listen(fd, 128) < 0) {
		cc_error_set(err, errno, "listen on %s in the pod netns",
			     ipv6 ? "::1" : "127.0.0.1");
		close(fd);
		return -1;
	}
	return fd;
}

struct conn {
	int fd;
	char exec_id[32];
};

static void *to_client(void *arg)
{
	struct conn *c = arg;
	struct cc_error err = { 0 };
	cleanup_free uint8_t *buf = malloc(PF_CHUNK);

	while (buf) {
		size_t got;
		bool eof;
		if (agent_read_stream(shim_agent(), pf.container, c->exec_id,
				      COCOON__AGENT__V1__STREAM__STDOUT, buf, PF_CHUNK, &got, &eof,
				      &err) < 0)
			break;
		if ((got && cc_write_all(c->fd, buf, got, &err) < 0) || eof || got == 0)
			break;
	}
	shutdown(c->fd, SHUT_WR);
	return NULL;
}

/* One forwarded connection: the guest side first, then both directions. */
static void *relay(void *arg)
{
	struct conn *c = arg;
	struct cc_error err = { 0 };
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	cleanup_free uint8_t *buf = malloc(PF_CHUNK);
	pthread_t out;

	if (!buf || getsockname(c->fd, (struct sockaddr *)&local, &len) < 0)
		goto done;
	Cocoon__Agent__V1__ConnectPortRequest creq = COCOON__AGENT__V1__CONNECT_PORT_REQUEST__INIT;
	creq.container_id = pf.container;
	creq.exec_id = c->exec_id;
	creq.ipv6 = local.ss_family == AF_INET6;
	creq.port = ntohs(creq.ipv6 ? ((struct sockaddr_in6 *)&local)->sin6_port
				    : ((struct sockaddr_in *)&local)->sin_port);
	if (agent_call(shim_agent(), AGENT_CONNECT_PORT, &creq.base, NULL, SHIM_AGENT_TIMEOUT_MS,
		       &err) < 0) {
		/* The client sees the connection closed, as runc's dial failing closes it. */
		cc_info("port-forward to port %u: %s", creq.port, err.msg);
		goto done;
	}
	cc_debug("port-forward %s to guest port %u", c->exec_id, creq.port);
	bool out_started = pthread_create(&out, NULL, to_client, c) == 0;
	for (;;) {
		ssize_t n = read(c->fd, buf, PF_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t took = 0;
		for (ssize_t off = 0; off < n; off += (ssize_t)took)
			if (agent_write_stdin(shim_agent(), pf.container, c->exec_id, buf + off,
					      (size_t)(n - off), &took, 0, &err) < 0 ||
			    took == 0)
				goto closed;
	}
closed:
	agent_close_stdin(shim_agent(), pf.container, c->exec_id, SHIM_AGENT_TIMEOUT_MS, &err);
	if (out_started)
		pthread_join(out, NULL);
	agent_remove_process(shim_agent(), pf.container, c->exec_id, SHIM_AGENT_TIMEOUT_MS, &err);
done:
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd pfd[3] = { { .fd = pf.stop[0], .events = POLLIN },
					 { .fd = pf.listen[0], .events = POLLIN },
					 { .fd = pf.listen[1], .events = POLLIN } };
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		for (int i = 1; i < 3; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			struct conn *c = fd >= 0 ? calloc(1, sizeof(*c)) : NULL;
			pthread_t t;
			if (!c) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			c->fd = fd;
			pthread_mutex_lock(&pf.lock);
			snprintf(c->exec_id, sizeof(c->exec_id), "port-forward-%u", pf.next++);
			pthread_mutex_unlock(&pf.lock);
			if (pthread_create(&t, NULL, relay, c) != 0) {
				close(fd);
				free(c);
				continue;
			}
			pthread_detach(t);
		}
	}
	return NULL;
}

static void close_all(void)
{
	int *fds[] = { &pf.link,      &pf.prog,	   &pf.map,    &pf.listen[0],
		       &pf.listen[1], &pf.stop[0], &pf.stop[1] };
	for (size_t i = 0; i < CC_ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	free(pf.container);
	pf.container = NULL;
}

/* The sockets must be created inside the pod netns: a short-lived thread enters it
 * (setns changes only the calling thread's namespace). */
struct in_netns {
	int netns;
	struct cc_error err;
	int rc;
};

static void *make_listeners(void *arg)
{
	struct in_netns *a = arg;
	a->rc = -1;
	if (setns(a->netns, CLONE_NEWNET) < 0) {
		cc_error_set(&a->err, errno, "enter the pod netns");
		return NULL;
	}
	if ((pf.listen[0] = listen_loopback(false, &a->err)) < 0 ||
	    (pf.listen[1] = listen_loopback(true, &a->err)) < 0)
		return NULL;
	a->rc = 0;
	return NULL;
}

int shim_portfwd_start(const char *netns_path, const char *container, struct cc_error *err)
{
	struct in_netns a = { .rc = -1 };
	union bpf_attr attr;
	pthread_t t;

	a.netns = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (a.netns < 0)
		return cc_error_set(err, errno, "open %s", netns_path);
	if (pthread_create(&t, NULL, make_listeners, &a) != 0) {
		close(a.netns);
		return cc_error_set(err, EAGAIN, "thread");
	}
	pthread_join(t, NULL);
	if (a.rc < 0) {
		*err = a.err;
		goto fail;
	}
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_SOCKMAP;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = 2;
	if ((pf.map = (int)sys_bpf(BPF_MAP_CREATE, &attr)) < 0) {
		cc_error_set(err, errno, "create the socket map");
		goto fail;
	}
	for (uint32_t k = 0; k < 2; k++) {
		uint64_t v = (uint64_t)pf.listen[k];
		memset(&attr, 0, sizeof(attr));
		attr.map_fd = (uint32_t)pf.map;
		attr.key = (uint64_t)(uintptr_t)&k;
		attr.value = (uint64_t)(uintptr_t)&v;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
			cc_error_set(err, errno, "add the listener to the socket map");
			goto fail;
		}
	}
	if ((pf.prog = load_program(pf.map, err)) < 0)
		goto fail;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = (uint32_t)pf.prog;
	attr.link_create.target_fd = (uint32_t)a.netns;
	attr.link_create.attach_type = BPF_SK_LOOKUP;
	if ((pf.link = (int)sys_bpf(BPF_LINK_CREATE, &attr)) < 0) {
		cc_error_set(err, errno, "attach the socket-lookup program to %s", netns_path);
		goto fail;
	}
	if (pipe2(pf.stop, O_CLOEXEC) < 0 || !(pf.container = strdup(container)) ||
	    pthread_create(&pf.thread, NULL, accept_loop, NULL) != 0) {
		cc_error_set(err, errno ? errno : ENOMEM, "port-forward thread");
		goto fail;
	}
	pf.running = true;
	close(a.netns);
	return 0;
fail:
	close(a.netns);
	close_all();
	return cc_error_prefix(err, "port-forward");
}

void shim_portfwd_stop(void)
{
	if (!pf.running)
		return;
	pf.running = false;
	if (write(pf.stop[1], "x", 1) == 1)
		pthread_join(pf.thread, NULL);
	/* Relays still running keep their own connection fds; the listeners and the BPF
	 * link go now, so the namespace no longer steers connections to this shim. */
	close(pf.link);
	close(pf.prog);
	close(pf.map);
	close(pf.listen[0]);
	close(pf.listen[1]);
	pf.link = pf.prog = pf.map = pf.listen[0] = pf.listen[1] = -1;
}
