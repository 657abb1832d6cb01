/* The processes' methods: exec, signal, wait, the stdio streams, terminal size,
 * removal, and ConnectPort (a loopback connection in the guest, kept as a process
 * whose stdin and output are the socket). */
#include "agent/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"

/* ---- stdio of a new process ---- */

void rpc_stdio_close(struct stdio_pair *s)
{
	int fds[] = { s->out,	    s->err,	  s->in,	   s->child.in,
		      s->child.out, s->child.err, s->child.console };
	for (size_t i = 0; i < CC_ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	*s = (struct stdio_pair){ -1, -1, -1, { -1, -1, -1, -1 } };
}

void rpc_stdio_close_child(struct stdio_pair *s)
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
int rpc_stdio_open(struct stdio_pair *s, bool terminal, bool want_stdin, struct cc_error *err)
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
	rpc_stdio_close(s);
	return -1;
}

/* The terminal's master, handed back by create/exec: output is read from it and, with
 * stdin, input written to a dup of it. */
int rpc_stdio_take_console(struct stdio_pair *s, bool want_stdin, struct cc_error *err)
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

int rpc_exec(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__ExecProcessRequest *r =
		(const Cocoon__Agent__V1__ExecProcessRequest *)msg;
	struct container *c = rpc_get_container(a, r->container_id, err);
	if (c == NULL)
		return -1;
	if (new_exec_id_check(c, r->exec_id, err) < 0)
		return -1;
	if (!c->started || !rpc_init_running(c))
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "container %s is not running",
				     c->rt.id);
	if (rpc_json_field_check("process_json", r->process_json, err) < 0)
		return -1;
	struct oci_process proc;
	memset(&proc, 0, sizeof(proc));
	if (oci_process_parse((const char *)r->process_json.data, r->process_json.len, &proc, err) <
	    0) {
		oci_process_free(&proc);
		cc_error_prefix(err, "process_json");
		return cc_error_fail(err, TTRPC_INVALID_ARGUMENT);
	}
	struct stdio_pair io;
	pid_t pid = 0;
	int rc = rpc_stdio_open(&io, proc.terminal, r->stdin, err);
	if (rc == 0)
		rc = container_exec(&c->rt, &proc, &io.child, &pid, err);
	if (rc == 0)
		rc = rpc_stdio_take_console(&io, r->stdin, err);
	bool terminal = proc.terminal;
	oci_process_free(&proc);
	if (rc < 0) {
		rpc_stdio_close(&io);
		return cc_error_fail(err, TTRPC_UNKNOWN);
	}
	rpc_stdio_close_child(&io);
	if (agent_add_process(a, c, r->exec_id, pid, terminal, io.out, io.err, io.in) == NULL) {
		rpc_stdio_close(&io);
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

int rpc_signal(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	const Cocoon__Agent__V1__SignalProcessRequest *r =
		(const Cocoon__Agent__V1__SignalProcessRequest *)msg;
	struct process *p = rpc_get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (r->signal == 0 || r->signal >= (uint32_t)SIGRTMAX + 1)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "signal %u out of range 1..%d",
				     r->signal, SIGRTMAX);
	if (r->all) {
		if (container_kill(&p->ct->rt, (int)r->signal, 1, err) < 0)
			return cc_error_fail(err, TTRPC_UNKNOWN);
		return rpc_reply_empty(call);
	}
	if (p->exited)
		return cc_error_code(err, TTRPC_NOT_FOUND, "process %s/%s already exited",
				     p->ct->rt.id, p->exec_id);
	if (p->exec_id[0] == '\0') {
		if (container_kill(&p->ct->rt, (int)r->signal, 0, err) < 0)
			return cc_error_fail(err, TTRPC_UNKNOWN);
	} else if (kill(p->pid, (int)r->signal) < 0) {
		/* Not reaped yet, so the pid is still ours. */
		return cc_error_code(err, TTRPC_UNKNOWN, "kill %d: %s", (int)p->pid,
				     strerror(errno));
	}
	return rpc_reply_empty(call);
}

int rpc_wait(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, struct cc_error *err)
{
	const Cocoon__Agent__V1__WaitProcessRequest *r =
		(const Cocoon__Agent__V1__WaitProcessRequest *)msg;
	struct process *p = rpc_get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	agent_wait_process(user, p, call);
	return 0;
}

int rpc_read(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, struct cc_error *err)
{
	const Cocoon__Agent__V1__ReadStreamRequest *r =
		(const Cocoon__Agent__V1__ReadStreamRequest *)msg;
	struct process *p = rpc_get_process(user, r->container_id, r->exec_id, err);
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

int rpc_write_stdin(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	const Cocoon__Agent__V1__WriteStdinRequest *r =
		(const Cocoon__Agent__V1__WriteStdinRequest *)msg;
	struct process *p = rpc_get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (p->stdin_fd < 0 || p->stdin_close_queued)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "process %s/%s has no open stdin", p->ct->rt.id, p->exec_id);
	agent_proc_write(user, p, call, r->data.data, r->data.len);
	return 0;
}

int rpc_close_stdin(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	const Cocoon__Agent__V1__CloseStdinRequest *r =
		(const Cocoon__Agent__V1__CloseStdinRequest *)msg;
	struct process *p = rpc_get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	agent_proc_close_stdin(user, p);
	return rpc_reply_empty(call);
}

int rpc_resize(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	const Cocoon__Agent__V1__ResizePtyRequest *r =
		(const Cocoon__Agent__V1__ResizePtyRequest *)msg;
	struct process *p = rpc_get_process(user, r->container_id, r->exec_id, err);
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
	return rpc_reply_empty(call);
}

int rpc_remove_process(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		       struct cc_error *err)
{
	const Cocoon__Agent__V1__ProcessRequest *r = (const Cocoon__Agent__V1__ProcessRequest *)msg;
	if (r->exec_id[0] == '\0')
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "exec_id is empty (the init goes with RemoveContainer)");
	struct process *p = rpc_get_process(user, r->container_id, r->exec_id, err);
	if (p == NULL)
		return -1;
	if (!p->exited)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "process %s/%s is running",
				     p->ct->rt.id, p->exec_id);
	agent_proc_remove(user, p);
	return rpc_reply_empty(call);
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

int rpc_connect_port(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__ConnectPortRequest *r =
		(const Cocoon__Agent__V1__ConnectPortRequest *)msg;
	struct container *c = rpc_get_container(a, r->container_id, err);
	if (c == NULL)
		return -1;
	if (new_exec_id_check(c, r->exec_id, err) < 0)
		return -1;
	if (r->port == 0 || r->port > 65535)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "port %u out of range 1..65535",
				     r->port);
	int fd = connect_loopback(r->port, r->ipv6, err);
	if (fd < 0)
		return cc_error_fail(err, TTRPC_UNAVAILABLE);
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
	return rpc_reply_empty(call);
}
