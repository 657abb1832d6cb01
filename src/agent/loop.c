/* cocoon-agent's event loop: one thread, one epoll set (agent.h), the connection to
 * the host over the channel it came in on, and the timers (serial retry, drain
 * deadline). What a ready fd means for a process is process.c's. */
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
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"

/* A virtio-serial port reports POLLHUP while the host end is not connected; it is
 * reopened at this period until the host shows up. */
#define SERIAL_RETRY_NS (50ull * 1000 * 1000)

int agent_watch(struct agent *a, int op, int fd, uint32_t events, struct watch *w)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(a->epfd, op, fd, &ev);
}

int agent_init(struct agent *a, bool pid1, struct cc_error *err)
{
	memset(a, 0, sizeof(*a));
	a->start_ns = cc_clock_ns(CLOCK_BOOTTIME);
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
	if (agent_watch(a, EPOLL_CTL_ADD, a->sigfd, EPOLLIN, &a->sig_w) < 0)
		return cc_error_set(err, errno, "epoll_ctl signalfd");
	return 0;
}

static void on_signal(struct agent *a)
{
	struct signalfd_siginfo si;
	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			agent_reap(a);
		} else {
			cc_info("signal %u: stopping", si.ssi_signo);
			a->stop = true;
		}
	}
}

/* ---- the host connection ---- */

static int start_conn(struct agent *a, int fd, struct cc_error *err)
{
	a->conn = ttrpc_conn_new(fd, agent_methods, agent_n_methods, a);
	if (a->conn == NULL) {
		close(fd);
		return cc_error_set(err, ENOMEM, "ttrpc connection");
	}
	if (agent_watch(a, EPOLL_CTL_ADD, ttrpc_conn_fd(a->conn), EPOLLIN, &a->conn_w) < 0) {
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
		for (struct process *p = c->procs; p != NULL; p = p->next)
			agent_proc_drop_calls(a, p);
	cc_info("host disconnected");
	if (a->channel == CHANNEL_FD)
		a->stop = true;
	else if (a->channel == CHANNEL_SERIAL)
		a->reopen_at_ns = cc_now_ns() + SERIAL_RETRY_NS;
	else if (a->listen_fd >= 0)
		agent_watch(a, EPOLL_CTL_ADD, a->listen_fd, EPOLLIN, &a->listen_w);
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
		for (struct process *p = c->procs; p != NULL; p = p->next) {
			uint64_t d = agent_proc_drain_deadline(p);
			if (d != 0 && (next == 0 || d < next))
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
			agent_proc_answer_waiters(p, now);
}

int agent_run(struct agent *a, struct cc_error *err)
{
	if (a->ready_ns == 0)
		a->ready_ns = cc_clock_ns(CLOCK_BOOTTIME);
	if (a->conn == NULL) {
		if (a->channel == CHANNEL_SERIAL && a->serial_path[0] != '\0')
			try_open_serial(a);
		else if (a->listen_fd >= 0 &&
			 agent_watch(a, EPOLL_CTL_ADD, a->listen_fd, EPOLLIN, &a->listen_w) < 0)
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
					agent_proc_on_output(a, w->obj, w->idx);
				break;
			case WATCH_STDIN:
				if (!((struct process *)w->obj)->removed)
					agent_proc_on_stdin(a, w->obj);
				break;
			}
		}
		agent_free_removed(a);
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
	agent_free_removed(a);
	if (a->epfd >= 0)
		close(a->epfd);
	a->listen_fd = a->sigfd = a->epfd = -1;
}
