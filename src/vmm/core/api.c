/* Control API: one command per line on a unix socket, one answer line per command,
 * "ok ..." or "error ...". Commands: ping, info, profile, pause, resume, snapshot DIR,
 * shutdown
 * (docs/vmm.md).
 * It runs in the event loop thread; lines are bounded, anything else closes the client. */
#include "vmm/core/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/core/snapshot.h"
#include "vmm/core/vmm.h"

#define API_LINE_MAX 128
#define API_MAX_CLIENTS 8

struct api_client {
	struct api *api;
	int fd;
	struct loop_handler *h;
	char line[API_LINE_MAX];
	size_t len;
};

struct api {
	struct vmm *vmm;
	int fd;
	unsigned n_clients;
};

static void client_close(struct api_client *c)
{
	loop_del(&c->api->vmm->loop, c->h);
	close(c->fd);
	c->api->n_clients--;
	free(c);
}

static void reply(struct api_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct api_client *c, const char *fmt, ...)
{
	char buf[PROFILE_LINE_MAX + 16];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* Answers are short; a client that does not read them loses them. */
	if (send(c->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n)
		cc_debug("api: client did not take the answer");
}

/* "snapshot DIR": pauses (if running) and saves the VM into DIR; it stays paused, to be
 * resumed or shut down. */
static void cmd_snapshot(struct api_client *c, const char *dir)
{
	struct vmm *v = c->api->vmm;
	struct snap_stats st;
	struct cc_error err = { 0 };
	vmm_pause(v);
	if (snapshot_save(v, dir, &st, &err) < 0) {
		cc_warn("api: snapshot %s: %s", dir, err.msg);
		reply(c, "error snapshot %s: %s", dir, err.msg);
		return;
	}
	reply(c, "ok saved state_bytes=%llu memory_pages=%llu ms=%.1f",
	      (unsigned long long)st.state_bytes, (unsigned long long)st.memory_pages, st.ms);
}

static void command(struct api_client *c, const char *cmd)
{
	struct vmm *v = c->api->vmm;
	if (strcmp(cmd, "ping") == 0) {
		reply(c, "ok pong");
	} else if (strcmp(cmd, "info") == 0) {
		pthread_mutex_lock(&v->lock);
		bool paused = v->paused;
		pthread_mutex_unlock(&v->lock);
		reply(c, "ok state=%s pid=%d vcpus=%u memory_mib=%llu uptime_ms=%llu",
		      paused ? "paused" : "running", (int)getpid(), v->n_vcpus,
		      (unsigned long long)v->cfg->memory_mib,
		      (unsigned long long)((cc_now_ns() - v->start_ns) / 1000000));
	} else if (strcmp(cmd, "profile") == 0) {
		char line[PROFILE_LINE_MAX];
		profile_format(v, line, sizeof(line));
		reply(c, "ok %s", line);
	} else if (strcmp(cmd, "pause") == 0) {
		vmm_pause(v);
		reply(c, "ok paused");
	} else if (strcmp(cmd, "resume") == 0) {
		vmm_resume(v);
		reply(c, "ok running");
	} else if (strcmp(cmd, "shutdown") == 0) {
		reply(c, "ok shutting down");
		vmm_request_exit(v, VMM_EXIT_OK, "shut down through the API");
	} else if (strncmp(cmd, "snapshot ", 9) == 0 && cmd[9] != '\0') {
		cmd_snapshot(c, cmd + 9);
	} else {
		reply(c, "error unknown command (ping, info, profile, pause, resume, snapshot DIR, "
			 "shutdown)");
	}
}

static void on_client(void *opaque, uint32_t events)
{
	struct api_client *c = opaque;
	(void)events;
	ssize_t n = read(c->fd, c->line + c->len, sizeof(c->line) - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	char *nl;
	while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
		*nl = '\0';
		if (nl > c->line && nl[-1] == '\r')
			nl[-1] = '\0';
		command(c, c->line);
		c->len -= (size_t)(nl + 1 - c->line);
		memmove(c->line, nl + 1, c->len);
	}
	if (c->len == sizeof(c->line)) {
		reply(c, "error line longer than %d bytes", API_LINE_MAX - 1);
		client_close(c);
	}
}

static void on_accept(void *opaque, uint32_t events)
{
	struct api *a = opaque;
	struct cc_error err;
	(void)events;
	int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct api_client *c = a->n_clients < API_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
	if (c == NULL) {
		close(fd);
		return;
	}
	*c = (struct api_client){ .api = a, .fd = fd };
	c->h = loop_add(&a->vmm->loop, fd, EPOLLIN, on_client, c, &err);
	if (c->h == NULL) {
		cc_warn("api: %s", err.msg);
		close(fd);
		free(c);
		return;
	}
	a->n_clients++;
}

int api_start(struct vmm *v, const char *path, struct cc_error *err)
{
	cleanup_close int fd = cc_unix_listen(path, 4, SOCK_NONBLOCK | SOCK_CLOEXEC, err);
	if (fd < 0)
		return cc_error_prefix(err, "--api-socket");
	struct api *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return cc_error_set(err, ENOMEM, "api");
	a->vmm = v;
	a->fd = fd;
	if (loop_add(&v->loop, fd, EPOLLIN, on_accept, a, err) == NULL) {
		free(a);
		return -1;
	}
	fd = -1; /* owned by the API for the life of the process */
	return 0;
}
