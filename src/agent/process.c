/* The agent's process table: containers and their processes, each process's output
 * buffered until the host reads it, its stdin queued until the process takes it, its
 * exit, and the calls parked on them (ReadStream, WaitProcess, WriteStdin). The loop
 * (loop.c) calls in here when an fd is ready or a child exits. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/agent.pb-c.h"
#include "shared/log.h"
#include "shared/util.h"

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
		if (agent_watch(a, EPOLL_CTL_ADD, fds[i], EPOLLIN, &p->out_w[i]) == 0)
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

void agent_free_removed(struct agent *a)
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

void agent_proc_answer_waiters(struct process *p, uint64_t now)
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
		    agent_watch(a, EPOLL_CTL_ADD, s->fd, EPOLLIN, &p->out_w[i]) == 0)
			p->out_watched[i] = true;
	}
}

void agent_proc_on_output(struct agent *a, struct process *p, int i)
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
	agent_proc_answer_waiters(p, cc_now_ns());
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
	p->exited_at_ns = cc_clock_ns(CLOCK_REALTIME);
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
	agent_proc_answer_waiters(p, p->last_output_ns);
}

void agent_reap(struct agent *a)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct process *p = find_pid(a, pid);
		if (p != NULL)
			process_exited(p, status);
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

void agent_proc_on_stdin(struct agent *a, struct process *p)
{
	bool was_watched = p->writes != NULL;
	flush_stdin(p);
	bool want = p->writes != NULL;
	if (want && !was_watched)
		agent_watch(a, EPOLL_CTL_ADD, p->stdin_fd, EPOLLOUT, &p->stdin_w);
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
		agent_watch(a, EPOLL_CTL_ADD, p->stdin_fd, EPOLLOUT, &p->stdin_w);
}

void agent_proc_close_stdin(struct agent *a, struct process *p)
{
	if (p->writes != NULL)
		p->stdin_close_queued = true; /* after the queued bytes */
	else
		close_stdin(a, p);
}

/* The host connection is gone: its parked calls fail, output stays buffered. */
void agent_proc_drop_calls(struct agent *a, struct process *p)
{
	if (p->writes != NULL)
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, p->stdin_fd, NULL);
	fail_parked(p, TTRPC_UNAVAILABLE, "host disconnected");
	if (p->stdin_close_queued)
		close_stdin(a, p);
}

uint64_t agent_proc_drain_deadline(const struct process *p)
{
	if (p->exited && p->waiters != NULL && !outputs_eof(p))
		return p->last_output_ns + AGENT_DRAIN_IDLE_NS;
	return 0;
}
