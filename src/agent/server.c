/* The RPC methods of cocoon.agent.v1.Agent: validate the request, find the container or
 * process, and act through the container API (container.h) and the process table
 * (agent.c). Every id is checked; unknown ids are NOT_FOUND, duplicates ALREADY_EXISTS. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent.h"
#include "shared/log.h"
#include "shared/oci_spec.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"

/* A failure whose code the callee did not choose gets dflt. Returns -1. */
static int fail(struct cc_error *err, enum ttrpc_code dflt)
{
	if (err->code == 0)
		err->code = dflt;
	return -1;
}

/* A JSON document field of a request: non-empty and bounded before it is parsed. */
static int json_field_check(const char *name, ProtobufCBinaryData doc, struct cc_error *err)
{
	if (doc.len == 0 || doc.len > OCI_MAX_SPEC_BYTES)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "%s must be 1..%u bytes", name,
				     OCI_MAX_SPEC_BYTES);
	return 0;
}

static int reply_empty(struct ttrpc_call *call)
{
	Cocoon__Agent__V1__Empty e = COCOON__AGENT__V1__EMPTY__INIT;
	ttrpc_call_reply(call, &e.base);
	return 0;
}

/* Finds a container, or returns NULL with err set (INVALID_ARGUMENT, NOT_FOUND). */
static struct container *get_container(struct agent *a, const char *id, struct cc_error *err)
{
	if (agent_check_id("container_id", id, false, err) < 0)
		return NULL;
	struct container *c = agent_find_container(a, id);
	if (c == NULL)
		cc_error_code(err, TTRPC_NOT_FOUND, "container %s not found", id);
	return c;
}

static struct process *get_process(struct agent *a, const char *cid, const char *eid,
				   struct cc_error *err)
{
	struct container *c = get_container(a, cid, err);
	if (c == NULL)
		return NULL;
	if (agent_check_id("exec_id", eid, true, err) < 0)
		return NULL;
	struct process *p = agent_find_process(c, eid);
	if (p == NULL)
		cc_error_code(err, TTRPC_NOT_FOUND, "process %s in container %s not found", eid,
			      cid);
	return p;
}

static bool init_running(const struct container *c)
{
	return c->procs != NULL && !c->procs->exited;
}

/* ---- stdio of a new process ---- */

/* Parent's ends: out/err read ends, stdin write end; child's ends in io. */
struct stdio_pair {
	int out, err, in;
	struct spawn_stdio child;
};

static void stdio_close(struct stdio_pair *s)
{
	int fds[] = { s->out,	    s->err,	  s->in,	   s->child.in,
		      s->child.out, s->child.err, s->child.console };
	for (size_t i = 0; i < CC_ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	*s = (struct stdio_pair){ -1, -1, -1, { -1, -1, -1, -1 } };
}

static void stdio_close_child(struct stdio_pair *s)
{
	int fds[] = { s->child.in, s->child.out, s->child.err };
	for (size_t i = 0; i < CC_ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	s->child = (struct spawn_stdio){ -1, -1, -1, s->child.console };
}

/* Without a terminal: separate pipes for stdout and stderr, and stdin a pipe or (-1)
 * /dev/null. A terminal is opened by the child inside the container; see
 * stdio_take_console. */
static int stdio_open(struct stdio_pair *s, bool terminal, bool want_stdin, struct cc_error *err)
{
	*s = (struct stdio_pair){ -1, -1, -1, { -1, -1, -1, -1 } };
	if (terminal)
		return 0;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		cc_error_set(err, errno, "stdout pipe");
		goto fail;
	}
	s->out = p[0];
	s->child.out = p[1];
	if (pipe2(p, O_CLOEXEC) < 0) {
		cc_error_set(err, errno, "stderr pipe");
		goto fail;
	}
	s->err = p[0];
	s->child.err = p[1];
	if (want_stdin) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			cc_error_set(err, errno, "stdin pipe");
			goto fail;
		}
		s->child.in = p[0];
		s->in = p[1];
	}
	return 0;
fail:
	stdio_close(s);
	return -1;
}

/* The terminal's master, handed back by create/exec: output is read from it and, with
 * stdin, input written to a dup of it. */
static int stdio_take_console(struct stdio_pair *s, bool want_stdin, struct cc_error *err)
{
	if (s->child.console < 0)
		return 0;
	s->out = s->child.console;
	s->child.console = -1;
	if (want_stdin && (s->in = fcntl(s->out, F_DUPFD_CLOEXEC, 3)) < 0)
		return cc_error_set(err, errno, "dup pty master");
	return 0;
}

/* ---- methods ---- */

static int do_hello(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__HelloRequest *r = (const Cocoon__Agent__V1__HelloRequest *)msg;
	if (r->version != AGENT_PROTOCOL_VERSION)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "agent speaks protocol version %u, host sent %u",
				     AGENT_PROTOCOL_VERSION, r->version);
	struct utsname u;
	char boot_id[64] = "";
	cleanup_free char *bid = NULL;
	if (uname(&u) < 0)
		u.release[0] = '\0';
	if (cc_read_file("/proc/sys/kernel/random/boot_id", 64, &bid, NULL, err) == 0) {
		bid[strcspn(bid, "\n")] = '\0';
		snprintf(boot_id, sizeof(boot_id), "%s", bid);
	}
	Cocoon__Agent__V1__HelloResponse resp = COCOON__AGENT__V1__HELLO_RESPONSE__INIT;
	resp.version = AGENT_PROTOCOL_VERSION;
	resp.kernel_release = u.release;
	resp.boot_id = boot_id;
	resp.agent_start_ns = a->start_ns;
	resp.boot_to_ready_ns = a->ready_ns;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

static int do_create(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__CreateContainerRequest *r =
		(const Cocoon__Agent__V1__CreateContainerRequest *)msg;
	if (agent_check_id("container_id", r->container_id, false, err) < 0)
		return fail(err, TTRPC_INVALID_ARGUMENT);
	if (agent_find_container(a, r->container_id) != NULL)
		return cc_error_code(err, TTRPC_ALREADY_EXISTS, "container %s already exists",
				     r->container_id);
	if (json_field_check("spec_json", r->spec_json, err) < 0)
		return -1;
	struct oci_spec *spec = NULL;
	if (oci_spec_parse((const char *)r->spec_json.data, r->spec_json.len, &spec, err) < 0) {
		cc_error_prefix(err, "spec_json");
		return fail(err, TTRPC_INVALID_ARGUMENT);
	}
	struct container *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		oci_spec_free(spec);
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	snprintf(c->rt.id, sizeof(c->rt.id), "%s", r->container_id);
	c->rt.spec = spec;
	c->rt.start_fd = -1;
	struct stdio_pair io;
	if (stdio_open(&io, spec->process.terminal, r->stdin, err) < 0 ||
	    container_create(&c->rt, &io.child, err) < 0) {
		stdio_close(&io);
		oci_spec_free(spec);
		free(c);
		return fail(err, TTRPC_UNKNOWN);
	}
	if (stdio_take_console(&io, r->stdin, err) < 0) {
		struct cc_error ignored;
		stdio_close(&io);
		container_destroy(&c->rt, &ignored); /* frees the spec */
		free(c);
		return fail(err, TTRPC_RESOURCE_EXHAUSTED);
	}
	stdio_close_child(&io);
	c->next = a->containers;
	a->containers = c;
	if (agent_add_process(a, c, "", c->rt.init_pid, spec->process.terminal, io.out, io.err,
			      io.in) == NULL) {
		stdio_close(&io);
		if (agent_container_remove(a, c, err) < 0)
			cc_warn("container %s: %s", r->container_id, err->msg);
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	cc_info("container %s created, init pid %d", c->rt.id, (int)c->rt.init_pid);
	Cocoon__Agent__V1__CreateContainerResponse resp =
		COCOON__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
	resp.pid = (uint32_t)c->rt.init_pid;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

static int do_start(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	const Cocoon__Agent__V1__StartContainerRequest *r =
		(const Cocoon__Agent__V1__StartContainerRequest *)msg;
	struct container *c = get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	if (c->started || !init_running(c))
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "container %s was already started", c->rt.id);
	if (container_start(&c->rt, err) < 0)
		return fail(err, TTRPC_UNKNOWN);
	c->started = true;
	return reply_empty(call);
}

/* A new process's id: valid, and not one the container already has. */
static int new_exec_id_check(struct container *c, const char *exec_id, struct cc_error *err)
{
	if (agent_check_id("exec_id", exec_id, false, err) < 0)
		return -1;
	if (agent_find_process(c, exec_id) != NULL)
		return cc_error_code(err, TTRPC_ALREADY_EXISTS, "process %s already exists in %s",
				     exec_id, c->rt.id);
	return 0;
}

static int do_exec(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		   struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__ExecProcessRequest *r =
		(const Cocoon__Agent__V1__ExecProcessRequest *)msg;
	struct container *c = get_container(a, r->container_id, err);
	if (c == NULL)
		return -1;
	if (new_exec_id_check(c, r->exec_id, err) < 0)
		return -1;
	if (!c->started || !init_running(c))
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "container %s is not running",
				     c->rt.id);
	if (json_field_check("process_json", r->process_json, err) < 0)
		return -1;
	struct oci_process proc;
	memset(&proc, 0, sizeof(proc));
	if (oci_process_parse((const char *)r->process_json.data, r->process_json.len, &proc, err) <
	    0) {
		oci_process_free(&proc);
		cc_error_prefix(err, "process_json");
		return fail(err, TTRPC_INVALID_ARGUMENT);
	}
	struct stdio_pair io;
	pid_t pid = 0;
	int rc = stdio_open(&io, proc.terminal, r->stdin, err);
	if (rc == 0)
		rc = container_exec(&c->rt, &proc, &io.child, &pid, err);
	if (rc == 0)
		rc = stdio_take_console(&io, r->stdin, err);
	bool terminal = proc.terminal;
	oci_process_free(&proc);
	if (rc < 0) {
		stdio_close(&io);
		return fail(err, TTRPC_UNKNOWN);
	}
	stdio_close_child(&io);
	if (agent_add_process(a, c, r->exec_id, pid, terminal, io.out, io.err, io.in) == NULL) {
		stdio_close(&io);
		kill(pid, SIGKILL); /* reaped as an unknown pid */
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	cc_debug("container %s: exec %s pid %d", c->rt.id, r->exec_id, (int)pid);
	Cocoon__Agent__V1__ExecProcessResponse resp =
		COCOON__AGENT__V1__EXEC_PROCESS_RESPONSE__INIT;
	resp.pid = (uint32_t)pid;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

static int do_signal(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	const Cocoon__Agent__V1__SignalProcessRequest *r =
		(const Cocoon__Agent__V1__SignalProcessRequest *)msg;
	struct process *p = get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (r->signal == 0 || r->signal >= (uint32_t)SIGRTMAX + 1)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "signal %u out of range 1..%d",
				     r->signal, SIGRTMAX);
	if (r->all) {
		if (container_kill(&p->ct->rt, (int)r->signal, 1, err) < 0)
			return fail(err, TTRPC_UNKNOWN);
		return reply_empty(call);
	}
	if (p->exited)
		return cc_error_code(err, TTRPC_NOT_FOUND, "process %s/%s already exited",
				     p->ct->rt.id, p->exec_id);
	if (p->exec_id[0] == '\0') {
		if (container_kill(&p->ct->rt, (int)r->signal, 0, err) < 0)
			return fail(err, TTRPC_UNKNOWN);
	} else if (kill(p->pid, (int)r->signal) < 0) {
		/* Not reaped yet, so the pid is still ours. */
		return cc_error_code(err, TTRPC_UNKNOWN, "kill %d: %s", (int)p->pid,
				     strerror(errno));
	}
	return reply_empty(call);
}

static int do_wait(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		   struct cc_error *err)
{
	const Cocoon__Agent__V1__WaitProcessRequest *r =
		(const Cocoon__Agent__V1__WaitProcessRequest *)msg;
	struct process *p = get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	agent_wait_process(user, p, call);
	return 0;
}

static int do_read(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		   struct cc_error *err)
{
	const Cocoon__Agent__V1__ReadStreamRequest *r =
		(const Cocoon__Agent__V1__ReadStreamRequest *)msg;
	struct process *p = get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (r->stream != COCOON__AGENT__V1__STREAM__STDOUT &&
	    r->stream != COCOON__AGENT__V1__STREAM__STDERR)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "unknown stream %d",
				     (int)r->stream);
	uint32_t max = r->max_len == 0 || r->max_len > AGENT_MAX_READ ? AGENT_MAX_READ : r->max_len;
	agent_proc_read(user, p, r->stream == COCOON__AGENT__V1__STREAM__STDERR, call, max);
	return 0;
}

static int do_write_stdin(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			  struct cc_error *err)
{
	const Cocoon__Agent__V1__WriteStdinRequest *r =
		(const Cocoon__Agent__V1__WriteStdinRequest *)msg;
	struct process *p = get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (p->stdin_fd < 0 || p->stdin_close_queued)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "process %s/%s has no open stdin", p->ct->rt.id, p->exec_id);
	agent_proc_write(user, p, call, r->data.data, r->data.len);
	return 0;
}

static int do_close_stdin(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			  struct cc_error *err)
{
	const Cocoon__Agent__V1__CloseStdinRequest *r =
		(const Cocoon__Agent__V1__CloseStdinRequest *)msg;
	struct process *p = get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	agent_proc_close_stdin(user, p);
	return reply_empty(call);
}

static int do_resize(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	const Cocoon__Agent__V1__ResizePtyRequest *r =
		(const Cocoon__Agent__V1__ResizePtyRequest *)msg;
	struct process *p = get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (!p->terminal)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "process %s/%s has no terminal", p->ct->rt.id, p->exec_id);
	if (r->width == 0 || r->height == 0 || r->width > 0xffff || r->height > 0xffff)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "terminal size %ux%u out of range", r->width, r->height);
	struct winsize ws = { .ws_row = (unsigned short)r->height,
			      .ws_col = (unsigned short)r->width };
	/* After the terminal closed there is nothing left to resize. */
	if (p->out[0].fd >= 0 && ioctl(p->out[0].fd, TIOCSWINSZ, &ws) < 0)
		return cc_error_code(err, TTRPC_UNKNOWN, "TIOCSWINSZ: %s", strerror(errno));
	return reply_empty(call);
}

static int do_stats(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	struct container_stats st;
	if (container_stats(&c->rt, &st, err) < 0)
		return fail(err, TTRPC_UNKNOWN);
	Cocoon__Agent__V1__StatsResponse resp = COCOON__AGENT__V1__STATS_RESPONSE__INIT;
	resp.cpu_usage_ns = st.cpu_usage_ns;
	resp.cpu_user_ns = st.cpu_user_ns;
	resp.cpu_system_ns = st.cpu_system_ns;
	resp.cpu_throttled_periods = st.cpu_throttled_periods;
	resp.cpu_throttled_ns = st.cpu_throttled_ns;
	resp.memory_usage = st.memory_usage;
	resp.memory_limit = st.memory_limit;
	resp.memory_working_set = st.memory_working_set;
	resp.memory_oom_kills = st.memory_oom_kills;
	resp.pids_current = st.pids_current;
	resp.pids_limit = st.pids_limit;
	resp.io_read_bytes = st.io_read_bytes;
	resp.io_write_bytes = st.io_write_bytes;
	resp.memory_rss = st.memory_rss;
	resp.memory_cache = st.memory_cache;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

static int freeze(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, int frozen,
		  struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	if (container_freeze(&c->rt, frozen, err) < 0)
		return fail(err, TTRPC_UNKNOWN);
	return reply_empty(call);
}

static int do_pause(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	return freeze(call, msg, user, 1, err);
}

static int do_resume(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	return freeze(call, msg, user, 0, err);
}

static int do_update(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	const Cocoon__Agent__V1__UpdateContainerRequest *r =
		(const Cocoon__Agent__V1__UpdateContainerRequest *)msg;
	struct container *c = get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	if (json_field_check("resources_json", r->resources_json, err) < 0)
		return -1;
	struct oci_resources res;
	memset(&res, 0, sizeof(res));
	int rc;
	if (oci_resources_parse((const char *)r->resources_json.data, r->resources_json.len, &res,
				err) < 0) {
		cc_error_prefix(err, "resources_json");
		rc = fail(err, TTRPC_INVALID_ARGUMENT);
	} else if (container_update(&c->rt, &res, err) < 0) {
		rc = fail(err, TTRPC_UNKNOWN);
	} else {
		rc = reply_empty(call);
	}
	free(res.cpuset_cpus);
	free(res.cpuset_mems);
	return rc;
}

static int do_list(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		   struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;
	if (container_pids(&c->rt, &pids, &n, err) < 0)
		return fail(err, TTRPC_UNKNOWN);
	cleanup_free uint32_t *out = calloc(n > 0 ? n : 1, sizeof(*out));
	if (out == NULL)
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++)
		out[i] = (uint32_t)pids[i];
	Cocoon__Agent__V1__ListProcessesResponse resp =
		COCOON__AGENT__V1__LIST_PROCESSES_RESPONSE__INIT;
	resp.pids = out;
	resp.n_pids = n;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

static int do_remove_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			       struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	/* A created but never started container may go; a running one is killed first. */
	if (c->started && init_running(c))
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "container %s is running; signal it and wait first", c->rt.id);
	if (agent_container_remove(user, c, err) < 0)
		return fail(err, TTRPC_UNKNOWN);
	cc_info("container %s removed", r->container_id);
	return reply_empty(call);
}

static int do_remove_process(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			     struct cc_error *err)
{
	const Cocoon__Agent__V1__ProcessRequest *r = (const Cocoon__Agent__V1__ProcessRequest *)msg;
	if (r->exec_id[0] == '\0')
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "exec_id is empty (the init goes with RemoveContainer)");
	struct process *p = get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (!p->exited)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "process %s/%s is running",
				     p->ct->rt.id, p->exec_id);
	agent_proc_remove(user, p);
	return reply_empty(call);
}

/* Connects to the guest's loopback: immediate on loopback unless the server's backlog
 * is full, which the bounded wait covers without stalling the agent for long. */
static int connect_loopback(uint32_t port, bool ipv6, struct cc_error *err)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
				    .sin6_port = htons((uint16_t)port),
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cc_error_set(err, errno, "socket");
	int r = ipv6 ? connect(fd, (struct sockaddr *)&in6, sizeof(in6))
		     : connect(fd, (struct sockaddr *)&in4, sizeof(in4));
	if (r < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int so = ETIMEDOUT;
		socklen_t len = sizeof(so);
		if (poll(&pfd, 1, 1000) == 1)
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
		errno = so;
		r = so == 0 ? 0 : -1;
	}
	if (r < 0) {
		cc_error_set(err, errno, "connect to %s:%u in the pod",
			     ipv6 ? "[::1]" : "127.0.0.1", port);
		close(fd);
		return -1;
	}
	return fd;
}

static int do_connect_port(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			   struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__ConnectPortRequest *r =
		(const Cocoon__Agent__V1__ConnectPortRequest *)msg;
	struct container *c = get_container(a, r->container_id, err);
	if (c == NULL)
		return -1;
	if (new_exec_id_check(c, r->exec_id, err) < 0)
		return -1;
	if (r->port == 0 || r->port > 65535)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "port %u out of range 1..65535",
				     r->port);
	int fd = connect_loopback(r->port, r->ipv6, err);
	if (fd < 0)
		return fail(err, TTRPC_UNAVAILABLE);
	int in = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	struct process *p =
		in < 0 ? NULL : agent_add_process(a, c, r->exec_id, 0, false, fd, -1, in);
	if (p == NULL) {
		close(fd);
		if (in >= 0)
			close(in);
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	/* No pid: nothing to wait for or signal; RemoveProcess closes the connection. */
	p->exited = true;
	return reply_empty(call);
}

static int do_configure_network(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
				struct cc_error *err)
{
	(void)user;
	const Cocoon__Agent__V1__ConfigureNetworkRequest *r =
		(const Cocoon__Agent__V1__ConfigureNetworkRequest *)msg;
	if (guest_net_configure(r, err) < 0) {
		cc_warn("network: %s", err->msg);
		return fail(err, TTRPC_UNKNOWN);
	}
	return reply_empty(call);
}

static int do_reseed(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__ReseedRequest *r = (const Cocoon__Agent__V1__ReseedRequest *)msg;
	int64_t step;
	/* Only the guest's init sets the clock: an agent serving tests on a host never does. */
	int rc = guest_reseed(r->entropy.data, r->entropy.len, r->realtime_ns, a->pid1, &step, err);
	if (r->entropy.data != NULL)
		explicit_bzero(r->entropy.data, r->entropy.len);
	if (rc < 0) {
		cc_warn("reseed: %s", err->msg);
		return fail(err, TTRPC_UNKNOWN);
	}
	cc_info("CRNG reseeded with %zu host bytes, clock stepped %lld ns", r->entropy.len,
		(long long)step);
	Cocoon__Agent__V1__ReseedResponse resp = COCOON__AGENT__V1__RESEED_RESPONSE__INIT;
	resp.clock_step_ns = step;
	resp.clock_set = a->pid1 && r->realtime_ns != 0;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

static int do_mount_shared(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			   struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__Empty *r = (const Cocoon__Agent__V1__Empty *)msg;
	(void)r;
	if (!a->pid1)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "only the guest's init mounts the shared directory");
	if (guest_mount_shared(err) < 0) {
		cc_warn("%s", err->msg);
		return fail(err, TTRPC_UNKNOWN);
	}
	return reply_empty(call);
}

static int do_shutdown(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		       struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__Empty *r = (const Cocoon__Agent__V1__Empty *)msg;
	(void)r;
	cc_info("shutdown requested");
	(void)err;
	/* Answered first: the VM ends right after the loop returns. */
	reply_empty(call);
	a->stop = true;
	a->power_off = a->pid1;
	return 0;
}

const struct ttrpc_method agent_methods[] = {
	{ AGENT_SERVICE, "Hello", &cocoon__agent__v1__hello_request__descriptor, do_hello },
	{ AGENT_SERVICE, "CreateContainer",
	  &cocoon__agent__v1__create_container_request__descriptor, do_create },
	{ AGENT_SERVICE, "StartContainer", &cocoon__agent__v1__start_container_request__descriptor,
	  do_start },
	{ AGENT_SERVICE, "ExecProcess", &cocoon__agent__v1__exec_process_request__descriptor,
	  do_exec },
	{ AGENT_SERVICE, "SignalProcess", &cocoon__agent__v1__signal_process_request__descriptor,
	  do_signal },
	{ AGENT_SERVICE, "WaitProcess", &cocoon__agent__v1__wait_process_request__descriptor,
	  do_wait },
	{ AGENT_SERVICE, "ReadStream", &cocoon__agent__v1__read_stream_request__descriptor,
	  do_read },
	{ AGENT_SERVICE, "WriteStdin", &cocoon__agent__v1__write_stdin_request__descriptor,
	  do_write_stdin },
	{ AGENT_SERVICE, "CloseStdin", &cocoon__agent__v1__close_stdin_request__descriptor,
	  do_close_stdin },
	{ AGENT_SERVICE, "ResizePty", &cocoon__agent__v1__resize_pty_request__descriptor,
	  do_resize },
	{ AGENT_SERVICE, "StatsContainer", &cocoon__agent__v1__container_request__descriptor,
	  do_stats },
	{ AGENT_SERVICE, "PauseContainer", &cocoon__agent__v1__container_request__descriptor,
	  do_pause },
	{ AGENT_SERVICE, "ResumeContainer", &cocoon__agent__v1__container_request__descriptor,
	  do_resume },
	{ AGENT_SERVICE, "UpdateContainer",
	  &cocoon__agent__v1__update_container_request__descriptor, do_update },
	{ AGENT_SERVICE, "ListProcesses", &cocoon__agent__v1__container_request__descriptor,
	  do_list },
	{ AGENT_SERVICE, "RemoveContainer", &cocoon__agent__v1__container_request__descriptor,
	  do_remove_container },
	{ AGENT_SERVICE, "RemoveProcess", &cocoon__agent__v1__process_request__descriptor,
	  do_remove_process },
	{ AGENT_SERVICE, "ConfigureNetwork",
	  &cocoon__agent__v1__configure_network_request__descriptor, do_configure_network },
	{ AGENT_SERVICE, "Reseed", &cocoon__agent__v1__reseed_request__descriptor, do_reseed },
	{ AGENT_SERVICE, "MountShared", &cocoon__agent__v1__empty__descriptor, do_mount_shared },
	{ AGENT_SERVICE, "ConnectPort", &cocoon__agent__v1__connect_port_request__descriptor,
	  do_connect_port },
	{ AGENT_SERVICE, "Shutdown", &cocoon__agent__v1__empty__descriptor, do_shutdown },
};
const size_t agent_n_methods = CC_ARRAY_SIZE(agent_methods);
