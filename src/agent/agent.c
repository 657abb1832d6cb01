#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/agent.pb-c.h"
#include "shared/log.h"
#include "shared/util.h"

/* A virtio-serial port reports POLLHUP while the host end is not connected; it is
 * reopened at this period until the host shows up. */
#define SERIAL_RETRY_NS (50ull * 1000 * 1000)

uint64_t agent_boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int ep_ctl(struct agent *a, int op, int fd, uint32_t events, struct watch *w)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(a->epfd, op, fd, &ev);
}

int agent_init(struct agent *a, bool pid1, struct cc_error *err)
{
	memset(a, 0, sizeof(*a));
	a->start_ns = agent_boottime_ns();
	a->pid1 = pid1;
	a->listen_fd = -1;
	a->sigfd = -1;
	a->epfd = -1;
	a->sig_w = (struct watch){ .kind = WATCH_SIGNAL, .obj = a };
	a->conn_w = (struct watch){ .kind = WATCH_CONN, .obj = a };
	a->listen_w = (struct watch){ .kind = WATCH_LISTEN, .obj = a };

	/* A process closing its stdin must give us EPIPE, not kill the agent. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (!pid1) {
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		/* Outside the VM, orphans of our containers come back to us, not to init. */
		if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
			return cc_error_set(err, errno, "PR_SET_CHILD_SUBREAPER");
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return cc_error_set(err, errno, "sigprocmask");
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->epfd < 0)
		return cc_error_set(err, errno, "epoll_create1");
	a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sigfd < 0)
		return cc_error_set(err, errno, "signalfd");
	if (ep_ctl(a, EPOLL_CTL_ADD, a->sigfd, EPOLLIN, &a->sig_w) < 0)
		return cc_error_set(err, errno, "epoll_ctl signalfd");
	return 0;
}

/* ---- the process table ---- */

struct container *agent_find_container(struct agent *a, const char *id)
{
	for (struct container *c = a->containers; c != NULL; c = c->next)
		if (strcmp(c->rt.id, id) == 0)
			return c;
	return NULL;
}

struct process *agent_find_process(struct container *c, const char *exec_id)
{
	for (struct process *p = c->procs; p != NULL; p = p->next)
		if (strcmp(p->exec_id, exec_id) == 0)
			return p;
	return NULL;
}

static struct process *find_pid(struct agent *a, pid_t pid)
{
	for (struct container *c = a->containers; c != NULL; c = c->next)
		for (struct process *p = c->procs; p != NULL; p = p->next)
			if (p->pid == pid && !p->exited)
				return p;
	return NULL;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static uint64_t oom_kills(struct container *c)
{
	struct container_stats st;
	struct cc_error err;
	if (container_stats(&c->rt, &st, &err) < 0)
		return 0;
	return st.memory_oom_kills;
}

struct process *agent_add_process(struct agent *a, struct container *c, const char *exec_id,
				  pid_t pid, bool terminal, int out_fd, int err_fd, int stdin_fd)
{
	struct process *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->ct = c;
	snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
	p->pid = pid;
	p->terminal = terminal;
	p->stdin_fd = stdin_fd;
	p->stdin_w = (struct watch){ .kind = WATCH_STDIN, .obj = p };
	p->oom_kills_at_start = oom_kills(c);
	int fds[2] = { out_fd, err_fd };
	for (int i = 0; i < 2; i++) {
		stream_init(&p->out[i], fds[i]);
		p->out_w[i] = (struct watch){ .kind = WATCH_OUTPUT, .obj = p, .idx = i };
		if (fds[i] < 0)
			continue;
		set_nonblock(fds[i]);
		if (ep_ctl(a, EPOLL_CTL_ADD, fds[i], EPOLLIN, &p->out_w[i]) == 0)
			p->out_watched[i] = true;
		else
			cc_warn("%s/%s: cannot watch output: %s", c->rt.id, exec_id,
				strerror(errno));
	}
	if (stdin_fd >= 0)
		set_nonblock(stdin_fd);
	/* The init first in the list, execs after it in creation order. */
	struct process **tail = &c->procs;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = p;
	return p;
}

static void fail_all(struct pending **list, enum ttrpc_code code, const char *why)
{
	while (*list != NULL) {
		struct pending *q = *list;
		*list = q->next;
		ttrpc_call_fail(q->call, code, "%s", why);
		free(q->data);
		free(q);
	}
}

static void fail_parked(struct process *p, enum ttrpc_code code, const char *why)
{
	fail_all(&p->reads[0], code, why);
	fail_all(&p->reads[1], code, why);
	fail_all(&p->writes, code, why);
	fail_all(&p->waiters, code, why);
	p->queued = 0;
}

static void close_output(struct agent *a, struct process *p, int i)
{
	if (p->out[i].fd >= 0 && p->out_watched[i])
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, p->out[i].fd, NULL);
	p->out_watched[i] = false;
	stream_close(&p->out[i]);
}

static void close_stdin(struct agent *a, struct process *p)
{
	if (p->stdin_fd < 0)
		return;
	if (p->writes != NULL)
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, p->stdin_fd, NULL);
	fail_all(&p->writes, TTRPC_FAILED_PRECONDITION, "stdin closed");
	p->queued = 0;
	/* A port-forward connection (a socket shared with its output): half-close, so the
	 * server sees EOF and can still answer. ENOTSOCK for a pipe. */
	shutdown(p->stdin_fd, SHUT_WR);
	close(p->stdin_fd);
	p->stdin_fd = -1;
}

void agent_proc_remove(struct agent *a, struct process *p)
{
	struct container *c = p->ct;
	fail_parked(p, TTRPC_NOT_FOUND, "process removed");
	close_stdin(a, p);
	for (int i = 0; i < 2; i++) {
		close_output(a, p, i);
		stream_free(&p->out[i]);
	}
	for (struct process **pp = &c->procs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	/* Events of the current epoll batch may still point at p: free it after. */
	p->removed = true;
	p->ct = NULL;
	p->next = a->removed;
	a->removed = p;
}

static void free_removed(struct agent *a)
{
	while (a->removed != NULL) {
		struct process *p = a->removed;
		a->removed = p->next;
		free(p);
	}
}

int agent_container_remove(struct agent *a, struct container *c, struct cc_error *err)
{
	if (container_destroy(&c->rt, err) < 0)
		return -1;
	/* container_destroy freed the spec. */
	while (c->procs != NULL)
		agent_proc_remove(a, c->procs);
	for (struct container **pc = &a->containers; *pc != NULL; pc = &(*pc)->next) {
		if (*pc == c) {
			*pc = c->next;
			break;
		}
	}
	free(c);
	return 0;
}

/* ---- output, exit and the calls parked on them ---- */

static bool outputs_eof(const struct process *p)
{
	return p->out[0].eof && p->out[1].eof;
}

/* WaitProcess is answered after exit once the output reached EOF (the host then holds
 * every byte in ReadStream's reach), or once output stayed idle for AGENT_DRAIN_IDLE_NS. */
static bool wait_ready(const struct process *p, uint64_t now)
{
	if (!p->exited)
		return false;
	return p->wait_answered || outputs_eof(p) || now - p->last_output_ns >= AGENT_DRAIN_IDLE_NS;
}

static void reply_wait(struct process *p, struct ttrpc_call *call)
{
	Cocoon__Agent__V1__WaitProcessResponse r = COCOON__AGENT__V1__WAIT_PROCESS_RESPONSE__INIT;
	r.exit_status = p->exit_status;
	r.exited_at_ns = p->exited_at_ns;
	r.oom_killed = p->oom_killed;
	ttrpc_call_reply(call, &r.base);
}

static void answer_waiters(struct process *p, uint64_t now)
{
	if (p->waiters == NULL || !wait_ready(p, now))
		return;
	p->wait_answered = true;
	while (p->waiters != NULL) {
		struct pending *q = p->waiters;
		p->waiters = q->next;
		reply_wait(p, q->call);
		free(q);
	}
}

static void answer_reads(struct agent *a, struct process *p, int i)
{
	struct stream *s = &p->out[i];
	bool consumed = false;
	while (p->reads[i] != NULL && (stream_avail(s) > 0 || s->eof)) {
		struct pending *q = p->reads[i];
		p->reads[i] = q->next;
		Cocoon__Agent__V1__ReadStreamResponse r =
			COCOON__AGENT__V1__READ_STREAM_RESPONSE__INIT;
		size_t n = stream_avail(s) < q->max_len ? stream_avail(s) : q->max_len;
		r.data.data = (uint8_t *)stream_data(s);
		r.data.len = n;
		r.eof = n == 0;
		ttrpc_call_reply(q->call, &r.base);
		stream_consume(s, n);
		consumed = consumed || n > 0;
		free(q);
	}
	if (consumed) {
		p->last_output_ns = cc_now_ns();
		/* Room again: resume reading a stream that backpressure had paused. */
		if (s->fd >= 0 && !s->eof && !p->out_watched[i] && !stream_full(s) &&
		    ep_ctl(a, EPOLL_CTL_ADD, s->fd, EPOLLIN, &p->out_w[i]) == 0)
			p->out_watched[i] = true;
	}
}

static void on_output(struct agent *a, struct process *p, int i)
{
	struct stream *s = &p->out[i];
	int e;
	if (stream_fill(s, &e) > 0)
		p->last_output_ns = cc_now_ns();
	if (e != 0)
		cc_warn("%s/%s: reading output: %s", p->ct->rt.id, p->exec_id, strerror(e));
	if (s->eof)
		close_output(a, p, i);
	else if (stream_full(s) && p->out_watched[i]) {
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		p->out_watched[i] = false;
	}
	answer_reads(a, p, i);
	answer_waiters(p, cc_now_ns());
}

void agent_proc_read(struct agent *a, struct process *p, int idx, struct ttrpc_call *call,
		     uint32_t max_len)
{
	struct pending *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	q->call = call;
	q->max_len = max_len;
	struct pending **tail = &p->reads[idx];
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = q;
	answer_reads(a, p, idx);
}

void agent_wait_process(struct agent *a, struct process *p, struct ttrpc_call *call)
{
	(void)a;
	if (wait_ready(p, cc_now_ns())) {
		p->wait_answered = true;
		reply_wait(p, call);
		return;
	}
	struct pending *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	q->call = call;
	q->next = p->waiters;
	p->waiters = q;
}

static bool shares_pidns(const struct oci_spec *s)
{
	for (size_t i = 0; s != NULL && i < s->n_namespaces; i++)
		if (s->namespaces[i].type == OCI_NS_PID)
			return s->namespaces[i].path != NULL;
	return true;
}

static void process_exited(struct process *p, int status)
{
	p->exited = true;
	if (WIFEXITED(status))
		p->exit_status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		p->exit_status = 128 + WTERMSIG(status);
	p->exited_at_ns = realtime_ns();
	p->oom_killed = oom_kills(p->ct) > p->oom_kills_at_start;
	/* An init that was not PID 1 of its own namespace (shareProcessNamespace) leaves
	 * its children behind, holding its output open: end them, as runc's shim does. */
	if (p->exec_id[0] == '\0' && shares_pidns(p->ct->rt.spec) && p->ct->rt.cgroup[0] != '\0') {
		struct cc_error err;
		if (container_kill(&p->ct->rt, SIGKILL, 1, &err) < 0)
			cc_warn("%s: kill the rest of the container: %s", p->ct->rt.id, err.msg);
	}
	p->last_output_ns = cc_now_ns();
	cc_debug("%s/%s: pid %d exited with %d%s", p->ct->rt.id, p->exec_id, (int)p->pid,
		 p->exit_status, p->oom_killed ? " (oom killed)" : "");
	answer_waiters(p, p->last_output_ns);
}

static void reap(struct agent *a)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct process *p = find_pid(a, pid);
		if (p != NULL)
			process_exited(p, status);
	}
}

static void on_signal(struct agent *a)
{
	struct signalfd_siginfo si;
	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			reap(a);
		} else {
			cc_info("signal %u: stopping", si.ssi_signo);
			a->stop = true;
		}
	}
}

/* ---- stdin ---- */

/* Writes queued stdin until the pipe is full. Returns 0, or -errno. */
static int write_queued(struct process *p)
{
	while (p->writes != NULL) {
		struct pending *q = p->writes;
		while (q->off < q->len) {
			ssize_t n = write(p->stdin_fd, q->data + q->off, q->len - q->off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			if (n < 0)
				return -errno;
			q->off += (size_t)n;
		}
		p->writes = q->next;
		p->queued -= q->len;
		Cocoon__Agent__V1__WriteStdinResponse r =
			COCOON__AGENT__V1__WRITE_STDIN_RESPONSE__INIT;
		r.len = (uint32_t)q->len;
		ttrpc_call_reply(q->call, &r.base);
		free(q->data);
		free(q);
	}
	return 0;
}

/* Writes what it can; a write error fails every queued call, naming the error. */
static void flush_stdin(struct process *p)
{
	int r = write_queued(p);
	if (r < 0) {
		char why[128];
		snprintf(why, sizeof(why), "write to stdin: %s", strerror(-r));
		fail_all(&p->writes, TTRPC_FAILED_PRECONDITION, why);
		p->queued = 0;
	}
}

static void pump_stdin(struct agent *a, struct process *p)
{
	bool was_watched = p->writes != NULL;
	flush_stdin(p);
	bool want = p->writes != NULL;
	if (want && !was_watched)
		ep_ctl(a, EPOLL_CTL_ADD, p->stdin_fd, EPOLLOUT, &p->stdin_w);
	else if (!want && was_watched)
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, p->stdin_fd, NULL);
	if (!want && p->stdin_close_queued)
		close_stdin(a, p);
}

void agent_proc_write(struct agent *a, struct process *p, struct ttrpc_call *call,
		      const uint8_t *data, size_t len)
{
	if (p->queued + len > AGENT_STDIN_QUEUE_MAX) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED,
				"more than %u bytes of stdin waiting for the process",
				AGENT_STDIN_QUEUE_MAX);
		return;
	}
	struct pending *q = calloc(1, sizeof(*q));
	uint8_t *copy = malloc(len > 0 ? len : 1);
	if (q == NULL || copy == NULL) {
		free(q);
		free(copy);
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	memcpy(copy, data, len);
	q->call = call;
	q->data = copy;
	q->len = len;
	struct pending **tail = &p->writes;
	while (*tail != NULL)
		tail = &(*tail)->next;
	bool was_empty = p->writes == NULL;
	*tail = q;
	p->queued += len;
	if (!was_empty)
		return; /* already waiting for EPOLLOUT */
	flush_stdin(p);
	if (p->writes != NULL)
		ep_ctl(a, EPOLL_CTL_ADD, p->stdin_fd, EPOLLOUT, &p->stdin_w);
}

void agent_proc_close_stdin(struct agent *a, struct process *p)
{
	if (p->writes != NULL)
		p->stdin_close_queued = true; /* after the queued bytes */
	else
		close_stdin(a, p);
}

/* ---- the host connection ---- */

static int start_conn(struct agent *a, int fd, struct cc_error *err)
{
	a->conn = ttrpc_conn_new(fd, agent_methods, agent_n_methods, a);
	if (a->conn == NULL) {
		close(fd);
		return cc_error_set(err, ENOMEM, "ttrpc connection");
	}
	if (ep_ctl(a, EPOLL_CTL_ADD, ttrpc_conn_fd(a->conn), EPOLLIN, &a->conn_w) < 0) {
		int e = errno;
		ttrpc_conn_close(a->conn);
		a->conn = NULL;
		return cc_error_set(err, e, "epoll_ctl connection");
	}
	cc_info("host connected");
	return 0;
}

int agent_serve_fd(struct agent *a, int fd, struct cc_error *err)
{
	a->channel = CHANNEL_FD;
	return start_conn(a, fd, err);
}

/* Parked calls belong to the connection that made them: a host that reconnects asks
 * again, and output must stay buffered for it rather than go to a dead connection. */
static void drop_conn(struct agent *a)
{
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, ttrpc_conn_fd(a->conn), NULL);
	ttrpc_conn_close(a->conn);
	a->conn = NULL;
	for (struct container *c = a->containers; c != NULL; c = c->next)
		for (struct process *p = c->procs; p != NULL; p = p->next) {
			if (p->writes != NULL)
				epoll_ctl(a->epfd, EPOLL_CTL_DEL, p->stdin_fd, NULL);
			fail_parked(p, TTRPC_UNAVAILABLE, "host disconnected");
			if (p->stdin_close_queued)
				close_stdin(a, p);
		}
	cc_info("host disconnected");
	if (a->channel == CHANNEL_FD)
		a->stop = true;
	else if (a->channel == CHANNEL_SERIAL)
		a->reopen_at_ns = cc_now_ns() + SERIAL_RETRY_NS;
	else if (a->listen_fd >= 0)
		ep_ctl(a, EPOLL_CTL_ADD, a->listen_fd, EPOLLIN, &a->listen_w);
}

static void try_open_serial(struct agent *a)
{
	a->reopen_at_ns = 0;
	int fd = open(a->serial_path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		cc_warn("open %s: %s", a->serial_path, strerror(errno));
		a->reopen_at_ns = cc_now_ns() + SERIAL_RETRY_NS;
		return;
	}
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 0) < 0 || (pfd.revents & POLLHUP)) {
		close(fd); /* host not connected yet */
		a->reopen_at_ns = cc_now_ns() + SERIAL_RETRY_NS;
		return;
	}
	struct cc_error err;
	if (start_conn(a, fd, &err) < 0) {
		cc_warn("%s: %s", a->serial_path, err.msg);
		a->reopen_at_ns = cc_now_ns() + SERIAL_RETRY_NS;
	}
}

static void on_listen(struct agent *a)
{
	int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			cc_warn("accept: %s", strerror(errno));
		return;
	}
	struct cc_error err;
	if (start_conn(a, fd, &err) < 0) {
		cc_warn("%s", err.msg);
		return;
	}
	/* One host at a time: the next is accepted after this one leaves. */
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, a->listen_fd, NULL);
}

/* ---- the loop ---- */

/* Milliseconds until the next timer (serial retry, drain deadline), -1 for none. */
static int next_timeout_ms(struct agent *a, uint64_t now)
{
	uint64_t next = a->reopen_at_ns;
	for (struct container *c = a->containers; c != NULL; c = c->next)
		for (struct process *p = c->procs; p != NULL; p = p->next)
			if (p->exited && p->waiters != NULL && !outputs_eof(p)) {
				uint64_t d = p->last_output_ns + AGENT_DRAIN_IDLE_NS;
				if (next == 0 || d < next)
					next = d;
			}
	if (next == 0)
		return -1;
	if (next <= now)
		return 0;
	return (int)((next - now + 999999) / 1000000);
}

static void run_timers(struct agent *a, uint64_t now)
{
	if (a->reopen_at_ns != 0 && a->reopen_at_ns <= now && a->conn == NULL)
		try_open_serial(a);
	for (struct container *c = a->containers; c != NULL; c = c->next)
		for (struct process *p = c->procs; p != NULL; p = p->next)
			answer_waiters(p, now);
}

int agent_run(struct agent *a, struct cc_error *err)
{
	if (a->ready_ns == 0)
		a->ready_ns = agent_boottime_ns();
	if (a->conn == NULL) {
		if (a->channel == CHANNEL_SERIAL && a->serial_path[0] != '\0')
			try_open_serial(a);
		else if (a->listen_fd >= 0 &&
			 ep_ctl(a, EPOLL_CTL_ADD, a->listen_fd, EPOLLIN, &a->listen_w) < 0)
			return cc_error_set(err, errno, "epoll_ctl listener");
	}
	while (!a->stop) {
		struct epoll_event evs[32];
		int n = epoll_wait(a->epfd, evs, CC_ARRAY_SIZE(evs),
				   next_timeout_ms(a, cc_now_ns()));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cc_error_set(err, errno, "epoll_wait");
		}
		for (int i = 0; i < n && !a->stop; i++) {
			struct watch *w = evs[i].data.ptr;
			switch (w->kind) {
			case WATCH_SIGNAL: on_signal(a); break;
			case WATCH_CONN:
				if (a->conn == NULL)
					break;
				struct cc_error cerr;
				if (ttrpc_conn_process(a->conn, &cerr) < 0) {
					if (cerr.err_no != 0 ||
					    strcmp(cerr.msg, "connection closed") != 0)
						cc_warn("host connection: %s", cerr.msg);
					drop_conn(a);
				}
				break;
			case WATCH_LISTEN:
				if (a->conn == NULL)
					on_listen(a);
				break;
			case WATCH_OUTPUT:
				if (!((struct process *)w->obj)->removed)
					on_output(a, w->obj, w->idx);
				break;
			case WATCH_STDIN:
				if (!((struct process *)w->obj)->removed)
					pump_stdin(a, w->obj);
				break;
			}
		}
		free_removed(a);
		run_timers(a, cc_now_ns());
	}
	return 0;
}

void agent_cleanup(struct agent *a)
{
	if (a->conn != NULL)
		drop_conn(a);
	while (a->containers != NULL) {
		struct cc_error err;
		struct container *c = a->containers;
		if (agent_container_remove(a, c, &err) < 0) {
			cc_warn("removing container %s: %s", c->rt.id, err.msg);
			/* Forget it anyway: we are going away. */
			while (c->procs != NULL)
				agent_proc_remove(a, c->procs);
			a->containers = c->next;
			oci_spec_free(c->rt.spec);
			free(c);
		}
	}
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	if (a->sigfd >= 0)
		close(a->sigfd);
	free_removed(a);
	if (a->epfd >= 0)
		close(a->epfd);
	a->listen_fd = a->sigfd = a->epfd = -1;
}
