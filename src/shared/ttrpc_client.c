/* ttrpc client side: callers send frames themselves (under a write lock) and sleep on
 * a per-call condition variable; one reader thread decodes responses and hands each to
 * the call waiting on its stream id. The peer may be a hostile guest: every response is
 * bounded by the frame reader, decoded before use, and matched only to a live call.
 * A peer that stops reading must not wedge its callers: every write has a deadline
 * (the call's, capped by the client's write timeout, even for calls that wait forever
 * for their reply), and waiting for the write lock is bounded by the same deadline,
 * so a call stuck behind another's write fails with DEADLINE_EXCEEDED in time. */
#include "shared/ttrpc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/ttrpc_internal.h"
#include "shared/util.h"
#include "proto/ttrpc.pb-c.h"

struct pending {
	uint32_t stream_id;
	pthread_cond_t cv;
	Ttrpc__Response *resp; /* set by the reader thread */
	struct pending *next;
};

struct ttrpc_client {
	int fd;
	int wake_fd; /* eventfd telling the reader thread to stop */
	pthread_t reader;
	pthread_mutex_t write_lock; /* one frame on the wire at a time; taken before lock */
	int write_timeout_ms;	    /* cap on one frame's write, lock wait included */

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t idle;  /* signalled when active drops to 0 */
	struct pending *pending;
	uint32_t next_id;
	bool closed;
	unsigned active; /* threads inside ttrpc_client_call */
	Ttrpc__KeyValue **metadata;
	size_t n_metadata;
};

/* Marks the connection dead and wakes every waiting call. Caller holds c->lock. */
static void mark_closed(struct ttrpc_client *c, const char *why)
{
	if (!c->closed && why != NULL)
		cc_debug("ttrpc client: %s", why);
	c->closed = true;
	for (struct pending *p = c->pending; p != NULL; p = p->next)
		pthread_cond_signal(&p->cv);
}

static void deliver(struct ttrpc_client *c, const struct ttrpc_header *h, const uint8_t *payload)
{
	if (h->type != TTRPC_TYPE_RESPONSE) {
		pthread_mutex_lock(&c->lock);
		mark_closed(c, "protocol error: server sent a non-response frame");
		pthread_mutex_unlock(&c->lock);
		return;
	}
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h->length, payload);
	if (resp == NULL) {
		pthread_mutex_lock(&c->lock);
		mark_closed(c, "protocol error: undecodable response");
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_lock(&c->lock);
	struct pending *p = c->pending;
	while (p != NULL && p->stream_id != h->stream_id)
		p = p->next;
	if (p != NULL && p->resp == NULL) {
		p->resp = resp;
		resp = NULL;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&c->lock);
	if (resp != NULL) {
		cc_debug("ttrpc client: dropped response on unknown stream %u", h->stream_id);
		ttrpc__response__free_unpacked(resp, NULL);
	}
}

static void *reader_main(void *arg)
{
	struct ttrpc_client *c = arg;
	struct ttrpc_reader rd;
	struct cc_error err;
	ttrpc_reader_init(&rd);
	for (;;) {
		struct pollfd fds[2] = { { .fd = c->fd, .events = POLLIN },
					 { .fd = c->wake_fd, .events = POLLIN } };
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			cc_error_set(&err, errno, "poll");
			break;
		}
		if (fds[1].revents != 0) {
			cc_error_set(&err, 0, "client closed");
			break;
		}
		int r;
		uint8_t *payload = NULL;
		while ((r = ttrpc_reader_read(&rd, c->fd, &payload, &err)) == 1) {
			deliver(c, &rd.h, payload);
			free(payload);
		}
		if (r < 0)
			break;
	}
	ttrpc_reader_free(&rd);
	pthread_mutex_lock(&c->lock);
	mark_closed(c, err.msg);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct ttrpc_client *ttrpc_client_new(int fd, struct cc_error *err)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		cc_error_set(err, errno, "ttrpc client: fd %d", fd);
		close(fd);
		return NULL;
	}
	struct ttrpc_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cc_error_set(err, ENOMEM, "ttrpc client");
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->next_id = 1;
	c->write_timeout_ms = TTRPC_CLIENT_WRITE_TIMEOUT_MS;
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		cc_error_set(err, errno, "ttrpc client: eventfd");
		close(fd);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->write_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	int r = pthread_create(&c->reader, NULL, reader_main, c);
	if (r != 0) {
		cc_error_set(err, r, "ttrpc client: starting the reader thread");
		pthread_cond_destroy(&c->idle);
		pthread_mutex_destroy(&c->lock);
		pthread_mutex_destroy(&c->write_lock);
		close(c->wake_fd);
		close(fd);
		free(c);
		return NULL;
	}
	return c;
}

void ttrpc_client_free(struct ttrpc_client *c)
{
	if (c == NULL)
		return;
	uint64_t one = 1;
	if (write(c->wake_fd, &one, sizeof(one)) < 0)
		cc_warn("ttrpc client: waking the reader thread: %s", strerror(errno));
	pthread_join(c->reader, NULL);
	/* Unblocks callers stuck writing to a peer that stopped reading. */
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->lock);
	mark_closed(c, NULL);
	while (c->active > 0)
		pthread_cond_wait(&c->idle, &c->lock);
	pthread_mutex_unlock(&c->lock);

	close(c->wake_fd);
	close(c->fd);
	for (size_t i = 0; i < c->n_metadata; i++) {
		free(c->metadata[i]->key);
		free(c->metadata[i]->value);
		free(c->metadata[i]);
	}
	free(c->metadata);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->write_lock);
	free(c);
}

int ttrpc_client_set_metadata(struct ttrpc_client *c, const char *key, const char *value)
{
	int ret = -1;
	char *v = strdup(value);
	if (v == NULL)
		return -1;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_metadata; i++) {
		if (strcmp(c->metadata[i]->key, key) == 0) {
			free(c->metadata[i]->value);
			c->metadata[i]->value = cc_steal_ptr(&v);
			ret = 0;
		}
	}
	Ttrpc__KeyValue **vec = NULL, *kv = NULL;
	if (ret < 0 && (kv = malloc(sizeof(*kv))) != NULL) {
		ttrpc__key_value__init(kv);
		kv->key = strdup(key);
		vec = realloc(c->metadata, (c->n_metadata + 1) * sizeof(*vec));
		if (vec != NULL)
			c->metadata = vec;
	}
	if (kv != NULL && kv->key != NULL && vec != NULL) {
		kv->value = cc_steal_ptr(&v);
		c->metadata[c->n_metadata++] = cc_steal_ptr(&kv);
		ret = 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (kv != NULL)
		free(kv->key);
	free(kv);
	free(v);
	return ret;
}

void ttrpc_client_set_write_timeout(struct ttrpc_client *c, int timeout_ms)
{
	pthread_mutex_lock(&c->lock);
	c->write_timeout_ms = timeout_ms > 0 ? timeout_ms : TTRPC_CLIENT_WRITE_TIMEOUT_MS;
	pthread_mutex_unlock(&c->lock);
}

int ttrpc_client_closed(struct ttrpc_client *c)
{
	pthread_mutex_lock(&c->lock);
	int r = c->closed;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Packs a Request carrying req and the client's metadata. */
static int pack_request(struct ttrpc_client *c, const char *service, const char *method,
			const ProtobufCMessage *req, int timeout_ms, uint8_t **out, size_t *len,
			struct cc_error *err)
{
	uint8_t *body = NULL;
	size_t body_len = 0;
	if (ttrpc_pack(req, "request", &body, &body_len, err) < 0)
		return -1;
	Ttrpc__Request r = TTRPC__REQUEST__INIT;
	r.service = (char *)service;
	r.method = (char *)method;
	r.payload.data = body;
	r.payload.len = body_len;
	r.timeout_nano = timeout_ms > 0 ? (int64_t)timeout_ms * 1000000 : 0;
	pthread_mutex_lock(&c->lock);
	r.metadata = c->metadata;
	r.n_metadata = c->n_metadata;
	int ret = ttrpc_pack((const ProtobufCMessage *)&r, "request", out, len, err);
	pthread_mutex_unlock(&c->lock);
	free(body);
	return ret;
}

static void unlink_pending(struct ttrpc_client *c, struct pending *p)
{
	struct pending **pp = &c->pending;
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
}

static struct timespec mono_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000),
				  .tv_nsec = (long)(ns % 1000000000) };
}

/* Sends the frame and waits for its response (or close, or the deadline). */
static int round_trip(struct ttrpc_client *c, const uint8_t *buf, size_t len, uint64_t deadline_ns,
		      Ttrpc__Response **resp, struct cc_error *err)
{
	struct pending p = { .resp = NULL };
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p.cv, &ca);
	pthread_condattr_destroy(&ca);

	pthread_mutex_lock(&c->lock);
	int write_ms = c->write_timeout_ms;
	pthread_mutex_unlock(&c->lock);
	uint64_t write_deadline = cc_now_ns() + (uint64_t)write_ms * 1000000ull;
	if (deadline_ns != 0 && deadline_ns < write_deadline)
		write_deadline = deadline_ns;
	struct timespec wts = mono_ts(write_deadline);

	/* Ids are taken under the write lock so they reach the wire in increasing order.
	 * The wait for it is bounded: the holder may be stuck on a peer that stopped reading. */
	int lr = pthread_mutex_clocklock(&c->write_lock, CLOCK_MONOTONIC, &wts);
	if (lr != 0) {
		pthread_cond_destroy(&p.cv);
		return cc_error_code(err, TTRPC_DEADLINE_EXCEEDED,
				     "deadline exceeded: the peer is not reading (another call "
				     "is still writing after %d ms)",
				     write_ms);
	}
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&c->write_lock);
		pthread_cond_destroy(&p.cv);
		return cc_error_code(err, TTRPC_UNAVAILABLE, "connection closed");
	}
	p.stream_id = c->next_id;
	c->next_id += 2; /* wraps from 0xffffffff to 1: ids stay odd */
	p.next = c->pending;
	/* Lives on this stack frame: unlinked below before returning. */
	// cppcheck-suppress autoVariables
	c->pending = &p;
	pthread_mutex_unlock(&c->lock);

	struct ttrpc_header h = { .length = (uint32_t)len,
				  .stream_id = p.stream_id,
				  .type = TTRPC_TYPE_REQUEST };
	size_t sent = 0;
	int r = ttrpc_write_frame_until(c->fd, &h, buf, write_deadline, &sent, err);
	pthread_mutex_unlock(&c->write_lock);

	pthread_mutex_lock(&c->lock);
	if (r < 0 && sent > 0) {
		/* A frame cut short leaves the stream unusable for everyone. */
		mark_closed(c, err->msg);
	} else if (r < 0) {
		/* Nothing went out: the stream is intact, only this call fails. */
		if (err->code == TTRPC_DEADLINE_EXCEEDED)
			cc_error_code(err, TTRPC_DEADLINE_EXCEEDED,
				      "deadline exceeded: the peer is not reading (nothing "
				      "written in %d ms)",
				      write_ms);
	} else {
		struct timespec ts = mono_ts(deadline_ns);
		while (p.resp == NULL && !c->closed && r == 0) {
			if (deadline_ns == 0)
				pthread_cond_wait(&p.cv, &c->lock);
			else if (pthread_cond_timedwait(&p.cv, &c->lock, &ts) == ETIMEDOUT)
				r = -1;
		}
		if (p.resp != NULL)
			r = 0;
		else if (r < 0)
			cc_error_code(err, TTRPC_DEADLINE_EXCEEDED, "deadline exceeded");
		else
			r = cc_error_code(err, TTRPC_UNAVAILABLE, "connection closed");
	}
	unlink_pending(c, &p);
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&p.cv);
	if (r < 0 && err->code == 0)
		err->code = TTRPC_UNAVAILABLE;
	*resp = p.resp;
	return r;
}

void ttrpc_sanitize_text(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) /* U+0080..U+009F */
			p[0] = p[1] = '?';
	}
}

int ttrpc_client_result(const Ttrpc__Response *r, const char *service, const char *method,
			const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			struct cc_error *err)
{
	if (r->status != NULL && r->status->code != TTRPC_OK) {
		/* OK would read as success to callers that test the code. */
		cc_error_code(err, r->status->code, "%s", r->status->message);
		ttrpc_sanitize_text(err->msg);
		return -1;
	}
	if (resp == NULL)
		return 0;
	*resp = protobuf_c_message_unpack(resp_desc, NULL, r->payload.len, r->payload.data);
	if (*resp == NULL)
		return cc_error_code(err, TTRPC_INTERNAL,
				     "ttrpc: %s/%s: cannot decode the %s reply", service, method,
				     resp_desc->name);
	return 0;
}

int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      ProtobufCMessage **resp, int timeout_ms, struct cc_error *err)
{
	uint64_t deadline_ns = timeout_ms > 0 ? cc_now_ns() + (uint64_t)timeout_ms * 1000000 : 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	Ttrpc__Response *r = NULL;
	int ret;

	pthread_mutex_lock(&c->lock);
	c->active++;
	pthread_mutex_unlock(&c->lock);

	ret = pack_request(c, service, method, req, timeout_ms, &buf, &len, err);
	if (ret == 0)
		ret = round_trip(c, buf, len, deadline_ns, &r, err);
	free(buf);
	if (ret == 0)
		ret = ttrpc_client_result(r, service, method, resp_desc, resp, err);
	if (r != NULL)
		ttrpc__response__free_unpacked(r, NULL);

	pthread_mutex_lock(&c->lock);
	if (--c->active == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
	return ret;
}
