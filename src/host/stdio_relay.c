#include "host/stdio_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"

#define STDIN_CHUNK (64u << 10)

struct stdio_relay {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned refs;
	unsigned open_outputs, running;
	const struct agent_client *agent;
	char *cid, *eid;
	size_t read_max;
	int write_timeout_ms, close_timeout_ms;
	bool stdin_closed;
	int cancel[2]; /* stdin relay: readable when the process goes away */
};

/* One stream's thread: its end on the host is path (opened by the thread) or fd. */
struct end {
	struct stdio_relay *r;
	char *path;
	int fd;
	int stream; /* Cocoon__Agent__V1__Stream; -1 for stdin */
};

static void unref(struct stdio_relay *r)
{
	pthread_mutex_lock(&r->lock);
	unsigned left = --r->refs;
	pthread_mutex_unlock(&r->lock);
	if (left)
		return;
	if (r->cancel[0] >= 0) {
		close(r->cancel[0]);
		close(r->cancel[1]);
	}
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->cid);
	free(r->eid);
	free(r);
}

/* The last thing a relay thread does with r. */
static void end_done(struct end *e, bool output)
{
	struct stdio_relay *r = e->r;
	if (e->path && e->fd >= 0)
		close(e->fd);
	free(e->path);
	free(e);
	pthread_mutex_lock(&r->lock);
	if (output)
		r->open_outputs--;
	r->running--;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	unref(r);
}

static void *output_main(void *arg)
{
	struct end *e = arg;
	struct stdio_relay *r = e->r;
	struct cc_error err = { 0 };
	cleanup_free uint8_t *buf = malloc(r->read_max);

	if (e->path && (e->fd = open(e->path, O_WRONLY | O_CLOEXEC)) < 0)
		cc_warn("%s/%s: open %s: %s; output discarded", r->cid, r->eid, e->path,
			strerror(errno));
	while (buf) {
		size_t got;
		bool eof;
		if (agent_read_stream(r->agent, r->cid, r->eid, e->stream, buf, r->read_max, &got,
				      &eof, &err) < 0) {
			/* A guest that sends more than asked is misbehaving: its stream ends. */
			if (err.code == TTRPC_INTERNAL)
				cc_warn("%s/%s: %s", r->cid, r->eid, err.msg);
			else
				cc_debug("%s/%s: stream %d ends: %s", r->cid, r->eid, e->stream,
					 err.msg);
			break;
		}
		/* A reader that went away (EPIPE) only loses output; keep draining the guest. */
		if (e->fd >= 0 && got > 0 && cc_write_all(e->fd, buf, got, &err) < 0) {
			if (e->path) {
				cc_warn("%s/%s: writing %s: %s", r->cid, r->eid, e->path, err.msg);
				close(e->fd);
			}
			e->fd = -1;
		}
		if (eof || got == 0)
			break;
	}
	end_done(e, true);
	return NULL;
}

static void *stdin_main(void *arg)
{
	struct end *e = arg;
	struct stdio_relay *r = e->r;
	struct cc_error err = { 0 };
	cleanup_free uint8_t *buf = malloc(STDIN_CHUNK);

	/* O_NONBLOCK: the open must not wait for a writer, or the relay could not be
	 * cancelled; poll below waits for data instead. */
	if (e->path && (e->fd = open(e->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		cc_warn("%s/%s: open stdin %s: %s", r->cid, r->eid, e->path, strerror(errno));
	while (e->fd >= 0 && buf) {
		struct pollfd pfd[2] = { { .fd = e->fd, .events = POLLIN },
					 { .fd = r->cancel[0], .events = POLLIN } };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		ssize_t n = read(e->fd, buf, STDIN_CHUNK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			/* Linux reports no hangup on a FIFO before the first writer, so this
			 * is the writer closing: the end of stdin. */
			stdio_relay_close_stdin(r);
			break;
		}
		for (ssize_t off = 0; off < n;) {
			size_t took;
			if (agent_write_stdin(r->agent, r->cid, r->eid, buf + off,
					      (size_t)(n - off), &took, r->write_timeout_ms,
					      &err) < 0) {
				cc_debug("%s/%s: stdin: %s", r->cid, r->eid, err.msg);
				goto out;
			}
			if (took == 0) /* the process closed its stdin; 0 would spin */
				goto out;
			off += (ssize_t)took;
		}
	}
out:
	end_done(e, false);
	return NULL;
}

static void spawn(struct stdio_relay *r, const char *path, int fd, int stream, void *(*fn)(void *))
{
	const char *name = stream < 0 ? "stdin" : stream == 0 ? "stdout" : "stderr";
	bool has_path = path && *path;
	if (!has_path && fd < 0)
		return;
	struct end *e = calloc(1, sizeof(*e));
	pthread_t th;
	if (!e || (has_path && !(e->path = strdup(path)))) {
		free(e);
		goto fail;
	}
	e->r = r;
	e->fd = has_path ? -1 : fd;
	e->stream = stream;
	pthread_mutex_lock(&r->lock);
	r->refs++;
	r->running++;
	if (stream >= 0)
		r->open_outputs++;
	pthread_mutex_unlock(&r->lock);
	if (pthread_create(&th, NULL, fn, e) != 0) {
		pthread_mutex_lock(&r->lock);
		r->refs--;
		r->running--;
		if (stream >= 0)
			r->open_outputs--;
		pthread_mutex_unlock(&r->lock);
		free(e->path);
		free(e);
		goto fail;
	}
	pthread_detach(th);
	return;
fail:
	cc_warn("%s/%s: cannot start the %s relay", r->cid, r->eid, name);
}

struct stdio_relay *stdio_relay_start(const struct stdio_relay_config *cfg)
{
	struct stdio_relay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->refs = 1;
	r->agent = cfg->agent;
	r->read_max = cfg->read_max;
	r->write_timeout_ms = cfg->write_timeout_ms;
	r->close_timeout_ms = cfg->close_timeout_ms;
	r->cid = strdup(cfg->cid);
	r->eid = strdup(cfg->eid);
	r->cancel[0] = r->cancel[1] = -1;
	if (pipe2(r->cancel, O_CLOEXEC) < 0 || !r->cid || !r->eid) {
		unref(r);
		return NULL;
	}
	spawn(r, cfg->stdout_path, cfg->stdout_fd, COCOON__AGENT__V1__STREAM__STDOUT, output_main);
	if (!cfg->terminal)
		spawn(r, cfg->stderr_path, cfg->stderr_fd, COCOON__AGENT__V1__STREAM__STDERR,
		      output_main);
	spawn(r, cfg->stdin_path, cfg->stdin_fd, -1, stdin_main);
	return r;
}

void stdio_relay_close_stdin(struct stdio_relay *r)
{
	struct cc_error err = { 0 };

	pthread_mutex_lock(&r->lock);
	bool already = r->stdin_closed;
	r->stdin_closed = true;
	pthread_mutex_unlock(&r->lock);
	if (already)
		return;
	if (agent_close_stdin(r->agent, r->cid, r->eid, r->close_timeout_ms, &err) < 0)
		cc_debug("%s/%s: CloseStdin: %s", r->cid, r->eid, err.msg);
}

bool stdio_relay_wait_outputs(struct stdio_relay *r, int timeout_ms)
{
	struct timespec until = cc_timespec_after(CLOCK_REALTIME, timeout_ms);

	pthread_mutex_lock(&r->lock);
	while (r->open_outputs > 0)
		if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT)
			break;
	bool done = r->open_outputs == 0;
	pthread_mutex_unlock(&r->lock);
	return done;
}

void stdio_relay_cancel_stdin(struct stdio_relay *r)
{
	if (write(r->cancel[1], "x", 1) < 0)
		cc_debug("%s/%s: cancel stdin relay: %s", r->cid, r->eid, strerror(errno));
}

void stdio_relay_join(struct stdio_relay *r)
{
	pthread_mutex_lock(&r->lock);
	while (r->running > 0)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

void stdio_relay_release(struct stdio_relay *r)
{
	if (!r)
		return;
	stdio_relay_cancel_stdin(r);
	unref(r);
}
