/* stdio relay: containerd hands the shim FIFO paths (ctr) or CRI log pipes; the
 * container's streams live in the guest behind the agent's ReadStream/WriteStdin.
 * One thread per stream. A relay opens its FIFO itself because open() of a FIFO
 * blocks until containerd has the other end. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/agent_proto.h"
#include "shared/log.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"
#include "shim/shim.h"

#define RELAY_CHUNK (64u << 10)

struct shim_io {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned refs;
	unsigned open_outputs;
	char *id, *exec_id;
	char *stdin_path;
	bool stdin_closed;
	int cancel[2]; /* stdin relay: readable when the process goes away */
};

struct relay {
	struct shim_io *io;
	char *path;
	int stream; /* Cocoon__Agent__V1__Stream; -1 for stdin */
};

static void io_unref(struct shim_io *io)
{
	pthread_mutex_lock(&io->lock);
	unsigned left = --io->refs;
	pthread_mutex_unlock(&io->lock);
	if (left)
		return;
	close(io->cancel[0]);
	close(io->cancel[1]);
	pthread_mutex_destroy(&io->lock);
	pthread_cond_destroy(&io->cond);
	free(io->id);
	free(io->exec_id);
	free(io->stdin_path);
	free(io);
}

static void *output_relay(void *arg)
{
	struct relay *r = arg;
	struct shim_io *io = r->io;
	struct cc_error err = { 0 };
	int fd = open(r->path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		cc_warn("%s/%s: open %s: %s; output discarded", io->id, io->exec_id, r->path,
			strerror(errno));
	for (;;) {
		Cocoon__Agent__V1__ReadStreamRequest req =
			COCOON__AGENT__V1__READ_STREAM_REQUEST__INIT;
		Cocoon__Agent__V1__ReadStreamResponse *resp = NULL;

		req.container_id = io->id;
		req.exec_id = io->exec_id;
		req.stream = (Cocoon__Agent__V1__Stream)r->stream;
		req.max_len = RELAY_CHUNK;
		if (shim_agent_call("ReadStream", &req.base,
				    &cocoon__agent__v1__read_stream_response__descriptor,
				    (ProtobufCMessage **)&resp, 0, &err) < 0) {
			cc_debug("%s/%s: stream %d ends: %s", io->id, io->exec_id, r->stream,
				 err.msg);
			break;
		}
		/* A guest that sends more than asked is misbehaving: its stream ends here. */
		if (agent_check_read_reply(resp, RELAY_CHUNK, &err) < 0) {
			cc_warn("%s/%s: %s", io->id, io->exec_id, err.msg);
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			break;
		}
		bool eof = resp->eof || resp->data.len == 0;
		/* A reader that went away (EPIPE) only loses output; keep draining the guest. */
		if (fd >= 0 && resp->data.len > 0 &&
		    cc_write_all(fd, resp->data.data, resp->data.len, &err) < 0) {
			cc_warn("%s/%s: writing %s: %s", io->id, io->exec_id, r->path, err.msg);
			close(fd);
			fd = -1;
		}
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (eof)
			break;
	}
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&io->lock);
	io->open_outputs--;
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
	free(r->path);
	free(r);
	io_unref(io);
	return NULL;
}

static void *stdin_relay(void *arg)
{
	struct relay *r = arg;
	struct shim_io *io = r->io;
	struct cc_error err = { 0 };
	cleanup_free uint8_t *buf = malloc(RELAY_CHUNK);
	/* O_NONBLOCK: the open must not wait for a writer, or the relay could not be
	 * cancelled; poll below waits for data instead. */
	int fd = open(r->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || !buf) {
		cc_warn("%s/%s: open stdin %s: %s", io->id, io->exec_id, r->path, strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
					 { .fd = io->cancel[0], .events = POLLIN } };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		ssize_t n = read(fd, buf, RELAY_CHUNK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == 0) {
			/* Linux reports no hangup before the first writer, so this is the
			 * writer closing: the end of stdin. */
			shim_io_close_stdin(io);
			break;
		}
		if (n < 0)
			break;
		for (ssize_t off = 0; off < n;) {
			Cocoon__Agent__V1__WriteStdinRequest req =
				COCOON__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
			Cocoon__Agent__V1__WriteStdinResponse *resp = NULL;
			req.container_id = io->id;
			req.exec_id = io->exec_id;
			req.data.data = buf + off;
			req.data.len = (size_t)(n - off);
			if (shim_agent_call("WriteStdin", &req.base,
					    &cocoon__agent__v1__write_stdin_response__descriptor,
					    (ProtobufCMessage **)&resp, SHIM_AGENT_TIMEOUT_MS,
					    &err) < 0) {
				cc_debug("%s/%s: stdin: %s", io->id, io->exec_id, err.msg);
				goto out;
			}
			/* The agent accepts at most what it was sent; 0 would spin. */
			size_t took = resp->len;
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			if (took == 0 || took > (size_t)(n - off))
				goto out;
			off += (ssize_t)took;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(r->path);
	free(r);
	io_unref(io);
	return NULL;
}

static int spawn(struct shim_io *io, const char *path, int stream, void *(*fn)(void *))
{
	struct relay *r = calloc(1, sizeof(*r));
	pthread_t th;

	if (!r || !(r->path = strdup(path))) {
		free(r);
		return -1;
	}
	r->io = io;
	r->stream = stream;
	pthread_mutex_lock(&io->lock);
	io->refs++;
	if (stream >= 0)
		io->open_outputs++;
	pthread_mutex_unlock(&io->lock);
	if (pthread_create(&th, NULL, fn, r) != 0) {
		pthread_mutex_lock(&io->lock);
		io->refs--;
		if (stream >= 0)
			io->open_outputs--;
		pthread_mutex_unlock(&io->lock);
		free(r->path);
		free(r);
		return -1;
	}
	pthread_detach(th);
	return 0;
}

struct shim_io *shim_io_start(const char *id, const char *exec_id, const char *stdin_path,
			      const char *stdout_path, const char *stderr_path, bool terminal)
{
	struct shim_io *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	pthread_cond_init(&io->cond, NULL);
	io->refs = 1;
	io->id = strdup(id);
	io->exec_id = strdup(exec_id);
	io->stdin_path = strdup(stdin_path ? stdin_path : "");
	if (pipe2(io->cancel, O_CLOEXEC) < 0 || !io->id || !io->exec_id || !io->stdin_path) {
		io->cancel[0] = io->cancel[1] = -1;
		io_unref(io);
		return NULL;
	}
	if (stdout_path && *stdout_path &&
	    spawn(io, stdout_path, COCOON__AGENT__V1__STREAM__STDOUT, output_relay) < 0)
		cc_warn("%s/%s: cannot start the stdout relay", id, exec_id);
	/* With a terminal the guest's pty carries both streams on stdout. */
	if (!terminal && stderr_path && *stderr_path &&
	    spawn(io, stderr_path, COCOON__AGENT__V1__STREAM__STDERR, output_relay) < 0)
		cc_warn("%s/%s: cannot start the stderr relay", id, exec_id);
	if (*io->stdin_path && spawn(io, io->stdin_path, -1, stdin_relay) < 0)
		cc_warn("%s/%s: cannot start the stdin relay", id, exec_id);
	return io;
}

void shim_io_close_stdin(struct shim_io *io)
{
	struct cc_error err = { 0 };
	Cocoon__Agent__V1__CloseStdinRequest req = COCOON__AGENT__V1__CLOSE_STDIN_REQUEST__INIT;

	pthread_mutex_lock(&io->lock);
	bool already = io->stdin_closed;
	io->stdin_closed = true;
	pthread_mutex_unlock(&io->lock);
	if (already)
		return;
	req.container_id = io->id;
	req.exec_id = io->exec_id;
	if (shim_agent_call("CloseStdin", &req.base, NULL, NULL, SHIM_AGENT_TIMEOUT_MS, &err) < 0)
		cc_debug("%s/%s: CloseStdin: %s", io->id, io->exec_id, err.msg);
}

void shim_io_wait_outputs(struct shim_io *io, int timeout_ms)
{
	struct timespec until = cc_timespec_after(CLOCK_REALTIME, timeout_ms);

	pthread_mutex_lock(&io->lock);
	while (io->open_outputs > 0)
		if (pthread_cond_timedwait(&io->cond, &io->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&io->lock);
}

void shim_io_release(struct shim_io *io)
{
	if (!io)
		return;
	if (write(io->cancel[1], "x", 1) < 0)
		cc_debug("%s/%s: cancel stdin relay: %s", io->id, io->exec_id, strerror(errno));
	io_unref(io);
}
