/* The shim daemon: a private mount namespace (so the pod's mounts vanish with the shim
 * even on SIGKILL), then one poll loop over the listening socket, containerd's
 * connections (several after a containerd restart) and a wake-up eventfd (Shutdown,
 * SIGTERM). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/log.h"
#include "host/sandbox.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "shim/shim.h"

#define MAX_CONNS 16

struct shim shim = { .lock = PTHREAD_MUTEX_INITIALIZER,
		     .wake_fd = -1,
		     .async_done = PTHREAD_COND_INITIALIZER };

void shim_request_exit(void)
{
	uint64_t one = 1;

	shim.shutdown = true;
	if (write(shim.wake_fd, &one, sizeof(one)) < 0)
		cc_warn("waking the main loop: %s", strerror(errno));
}

static void on_signal(int sig)
{
	uint64_t one = 1;
	(void)sig;
	shim.shutdown = true;
	if (write(shim.wake_fd, &one, sizeof(one)) < 0) {
		/* nothing to do in a signal handler */
	}
}

/* containerd reads our log through the FIFO "log" in the bundle. Non-blocking so a
 * stalled reader only costs log lines. */
static void open_log(bool debug)
{
	int fd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		cc_log_init("containerd-shim-cocoon-v2", debug ? CC_LOG_DEBUG : CC_LOG_INFO, fd);
}

int shim_serve(const struct shim_args *args, int listen_fd)
{
	struct cc_error err = { 0 };
	struct ttrpc_conn *conns[MAX_CONNS] = { 0 };
	struct sockaddr_un sa;
	socklen_t salen = sizeof(sa);
	struct sigaction sa_term = { .sa_handler = on_signal };

	shim.args = args;
	open_log(args->debug);
	if (fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sa, &salen) < 0) {
		cc_err("fd %d is not our socket: %s", listen_fd, strerror(errno));
		return -1;
	}
	/* Before any thread: the namespace is per process only if nobody shares it yet. */
	if (sandbox_enter_mount_ns(&err) < 0) {
		cc_err("%s", err.msg);
		return -1;
	}
	shim.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (shim.wake_fd < 0) {
		cc_err("eventfd: %s", strerror(errno));
		return -1;
	}
	/* A handler, not a blocked mask + signalfd: the VMM we spawn inherits masks. */
	sigaction(SIGTERM, &sa_term, NULL);
	sigaction(SIGINT, &sa_term, NULL);
	if (shim_events_init(getenv("TTRPC_ADDRESS"), args->ns, &err) < 0)
		cc_warn("%s", err.msg);
	cc_info("serving %s for %s/%s", sa.sun_path, args->ns, args->id);

	while (!shim.shutdown) {
		struct pollfd pfds[2 + MAX_CONNS];
		int idx[2 + MAX_CONNS];
		nfds_t n = 0;

		pfds[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		pfds[n++] = (struct pollfd){ .fd = shim.wake_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i]) {
				idx[n] = i;
				pfds[n++] = (struct pollfd){ .fd = ttrpc_conn_fd(conns[i]),
							     .events = POLLIN };
			}
		if (poll(pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			cc_err("poll: %s", strerror(errno));
			break;
		}
		if (pfds[1].revents) {
			uint64_t v;
			if (read(shim.wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				cc_warn("eventfd: %s", strerror(errno));
		}
		if (pfds[0].revents & POLLIN) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
			int slot = -1;
			for (int i = 0; fd >= 0 && i < MAX_CONNS && slot < 0; i++)
				if (!conns[i])
					slot = i;
			if (fd >= 0 && slot < 0) {
				cc_warn("too many connections, refusing one");
				close(fd);
			} else if (fd >= 0) {
				conns[slot] = ttrpc_conn_new(fd, shim_task_methods,
							     shim_n_task_methods, NULL);
				if (!conns[slot])
					close(fd);
			}
		}
		for (nfds_t i = 2; i < n; i++) {
			if (!pfds[i].revents)
				continue;
			struct ttrpc_conn *c = conns[idx[i]];
			if (ttrpc_conn_process(c, &err) < 0) {
				cc_debug("containerd connection closed: %s", err.msg);
				ttrpc_conn_close(c);
				conns[idx[i]] = NULL;
			}
		}
	}

	/* The pod is over: VM down, events out, socket gone. */
	close(listen_fd);
	unlink(sa.sun_path);
	shim_async_drain(2000);
	shim_vm_destroy();
	shim_events_flush(3000);
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			ttrpc_conn_close(conns[i]);
	cc_info("exit");
	return 0;
}
