/* ttrpc server side: one ttrpc_conn per accepted connection, driven by the owner's
 * event loop through ttrpc_conn_process. Calls are refcounted holders of their conn so
 * a reply may come later, from any thread, even after the conn was closed. */
#include "shared/ttrpc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/ttrpc_internal.h"
#include "proto/ttrpc.pb-c.h"

struct ttrpc_conn {
	int fd; /* -1 once closed */
	const struct ttrpc_method *methods;
	size_t n_methods;
	void *user;
	struct ttrpc_reader rd;
	pthread_mutex_t lock; /* guards fd, refs and frame writes */
	unsigned refs;	      /* the owner's + one per outstanding call */
};

struct ttrpc_call {
	struct ttrpc_conn *conn;
	uint32_t stream_id;
	Ttrpc__Request *req;   /* NULL when the request could not be decoded */
	ProtobufCMessage *msg; /* its payload, unpacked for the handler */
};

struct ttrpc_conn *ttrpc_conn_new(int fd, const struct ttrpc_method *methods, size_t n_methods,
				  void *user)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return NULL;
	struct ttrpc_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->methods = methods;
	c->n_methods = n_methods;
	c->user = user;
	c->refs = 1;
	ttrpc_reader_init(&c->rd);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

int ttrpc_conn_fd(const struct ttrpc_conn *c)
{
	return c->fd;
}

static void conn_unref_locked(struct ttrpc_conn *c)
{
	if (--c->refs > 0) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
	ttrpc_reader_free(&c->rd);
	free(c);
}

void ttrpc_conn_close(struct ttrpc_conn *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	conn_unref_locked(c);
}

/* Sends the Response and ends the call (frees it, drops its conn reference). */
static void call_finish(struct ttrpc_call *call, Ttrpc__Response *resp)
{
	struct ttrpc_conn *c = call->conn;
	struct cc_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = ttrpc_pack(&resp->base, "response", &buf, &len, &err);
	if (r < 0 && err.code != 0) {
		/* The reply does not fit in a frame: tell the client so instead. */
		Ttrpc__Status st = TTRPC__STATUS__INIT;
		Ttrpc__Response small = TTRPC__RESPONSE__INIT;
		st.code = err.code;
		st.message = err.msg;
		small.status = &st;
		r = ttrpc_pack((const ProtobufCMessage *)&small, "response", &buf, &len, &err);
	}

	pthread_mutex_lock(&c->lock);
	if (r == 0 && c->fd >= 0) {
		struct ttrpc_header h = { .length = (uint32_t)len,
					  .stream_id = call->stream_id,
					  .type = TTRPC_TYPE_RESPONSE };
		r = ttrpc_write_frame(c->fd, &h, buf, &err);
	} else if (r == 0) {
		cc_debug("ttrpc: connection closed, reply on stream %u dropped", call->stream_id);
	}
	if (r < 0)
		cc_warn("ttrpc: reply on stream %u: %s", call->stream_id, err.msg);
	conn_unref_locked(c);

	free(buf);
	if (call->msg != NULL)
		protobuf_c_message_free_unpacked(call->msg, NULL);
	if (call->req != NULL)
		ttrpc__request__free_unpacked(call->req, NULL);
	free(call);
}

void ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *msg)
{
	struct cc_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (ttrpc_pack(msg, "reply", &buf, &len, &err) < 0) {
		ttrpc_call_fail(call, err.code ? err.code : TTRPC_INTERNAL, "%s", err.msg);
		return;
	}
	Ttrpc__Status st = TTRPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	resp.status = &st;
	resp.payload.data = buf;
	resp.payload.len = len;
	call_finish(call, &resp);
	free(buf);
}

void ttrpc_call_fail(struct ttrpc_call *call, enum ttrpc_code code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	Ttrpc__Status st = TTRPC__STATUS__INIT;
	st.code = code;
	st.message = msg;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	resp.status = &st;
	call_finish(call, &resp);
}

void ttrpc_call_fail_err(struct ttrpc_call *call, const struct cc_error *err)
{
	ttrpc_call_fail(call, err->code != 0 ? (enum ttrpc_code)err->code : TTRPC_UNKNOWN, "%s",
			err->msg);
}

void ttrpc_call_finish_handler(struct ttrpc_call *call, int rc, const struct cc_error *err)
{
	if (rc < 0)
		ttrpc_call_fail_err(call, err);
}

const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key)
{
	if (call->req == NULL)
		return NULL;
	for (size_t i = 0; i < call->req->n_metadata; i++) {
		const Ttrpc__KeyValue *kv = call->req->metadata[i];
		if (kv->key != NULL && strcmp(kv->key, key) == 0)
			return kv->value;
	}
	return NULL;
}

uint64_t ttrpc_call_timeout_ns(const struct ttrpc_call *call)
{
	if (call->req == NULL || call->req->timeout_nano <= 0)
		return 0;
	return (uint64_t)call->req->timeout_nano;
}

static const struct ttrpc_method *find_method(const struct ttrpc_conn *c, const char *service,
					      const char *method)
{
	for (size_t i = 0; i < c->n_methods; i++)
		if (strcmp(c->methods[i].service, service) == 0 &&
		    strcmp(c->methods[i].method, method) == 0)
			return &c->methods[i];
	return NULL;
}

static int dispatch(struct ttrpc_conn *c, const struct ttrpc_header *h, const uint8_t *payload,
		    struct cc_error *err)
{
	if (h->type != TTRPC_TYPE_REQUEST)
		return cc_error_set(
			err, 0, "ttrpc: protocol error: frame type %u on stream %u from a client",
			h->type, h->stream_id);
	if (h->stream_id % 2 == 0)
		return cc_error_set(err, 0, "ttrpc: protocol error: request on even stream id %u",
				    h->stream_id);

	struct ttrpc_call *call = calloc(1, sizeof(*call));
	if (call == NULL)
		return cc_error_set(err, ENOMEM, "ttrpc: request on stream %u", h->stream_id);
	call->conn = c;
	call->stream_id = h->stream_id;
	call->req = ttrpc__request__unpack(NULL, h->length, payload);
	pthread_mutex_lock(&c->lock);
	c->refs++;
	pthread_mutex_unlock(&c->lock);

	if (call->req == NULL) {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT,
				"ttrpc: malformed request on stream %u", h->stream_id);
		return 0;
	}
	const char *service = call->req->service, *method = call->req->method;
	const struct ttrpc_method *m = find_method(c, service, method);
	if (m == NULL) {
		ttrpc_call_fail(call, TTRPC_UNIMPLEMENTED, "%s/%s: method not implemented", service,
				method);
		return 0;
	}
	static const uint8_t empty[1];
	const uint8_t *data = call->req->payload.data ? call->req->payload.data : empty;
	call->msg = protobuf_c_message_unpack(m->request, NULL, call->req->payload.len, data);
	if (call->msg == NULL) {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "malformed %s", m->request->name);
		return 0;
	}
	struct cc_error herr = { 0 };
	ttrpc_call_finish_handler(call, m->fn(call, call->msg, c->user, &herr), &herr);
	return 0;
}

int ttrpc_conn_process(struct ttrpc_conn *c, struct cc_error *err)
{
	for (;;) {
		uint8_t *payload = NULL;
		int r = ttrpc_reader_read(&c->rd, c->fd, &payload, err);
		if (r <= 0)
			return r;
		struct ttrpc_header h = c->rd.h;
		r = dispatch(c, &h, payload, err);
		free(payload);
		if (r < 0)
			return -1;
	}
}
