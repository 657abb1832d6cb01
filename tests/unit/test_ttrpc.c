/* ttrpc framing, server and client, over socketpairs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shared/ttrpc.h"
#include "shared/util.h"
#include "proto/ttrpc.pb-c.h"

#define SVC "cocoon.test.Echo"

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void set_nonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static void write_raw(int fd, uint32_t len, uint32_t id, uint8_t type, const void *p, size_t plen)
{
	uint8_t hdr[TTRPC_HEADER_LEN];
	struct ttrpc_header h = { .length = len, .stream_id = id, .type = type };
	ttrpc_header_encode(&h, hdr);
	assert_int_equal(write(fd, hdr, sizeof(hdr)), sizeof(hdr));
	if (plen > 0)
		assert_int_equal(write(fd, p, plen), (ssize_t)plen);
}

/* ---- framing ---- */

static void test_header_round_trip(void **state)
{
	(void)state;
	struct ttrpc_header h = { .length = 0x01020304,
				  .stream_id = 0xa0b0c0d1,
				  .type = 2,
				  .flags = 7 },
			    out;
	uint8_t b[TTRPC_HEADER_LEN];
	struct cc_error err;
	h.length = TTRPC_MAX_PAYLOAD;
	ttrpc_header_encode(&h, b);
	const uint8_t want[] = { 0x00, 0x40, 0x00, 0x00, 0xa0, 0xb0, 0xc0, 0xd1, 2, 7 };
	assert_memory_equal(b, want, sizeof(want));
	assert_int_equal(ttrpc_header_decode(b, &out, &err), 0);
	assert_int_equal(out.length, TTRPC_MAX_PAYLOAD);
	assert_int_equal(out.stream_id, 0xa0b0c0d1);
	assert_int_equal(out.type, 2);
	assert_int_equal(out.flags, 7);
}

static void test_header_rejects(void **state)
{
	(void)state;
	struct ttrpc_header h = { .length = TTRPC_MAX_PAYLOAD + 1, .stream_id = 1, .type = 1 }, out;
	uint8_t b[TTRPC_HEADER_LEN];
	struct cc_error err;
	ttrpc_header_encode(&h, b);
	assert_int_equal(ttrpc_header_decode(b, &out, &err), -1);
	assert_non_null(strstr(err.msg, "length"));
	h.length = 0;
	for (uint8_t t = 0; t < 5; t += 3) { /* 0 and 3 */
		h.type = t;
		ttrpc_header_encode(&h, b);
		assert_int_equal(ttrpc_header_decode(b, &out, &err), -1);
		assert_non_null(strstr(err.msg, "type"));
	}
}

static void test_partial_reads(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	set_nonblock(sv[1]);
	uint8_t frame[TTRPC_HEADER_LEN + 5];
	struct ttrpc_header h = { .length = 5, .stream_id = 3, .type = 1 };
	ttrpc_header_encode(&h, frame);
	memcpy(frame + TTRPC_HEADER_LEN, "hello", 5);

	struct ttrpc_reader r;
	struct cc_error err;
	uint8_t *payload = NULL;
	ttrpc_reader_init(&r);
	assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), 0);
	for (size_t i = 0; i < sizeof(frame); i++) {
		assert_int_equal(write(sv[0], frame + i, 1), 1);
		int want = i + 1 == sizeof(frame) ? 1 : 0;
		assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), want);
	}
	assert_int_equal(r.h.stream_id, 3);
	assert_int_equal(r.h.length, 5);
	assert_memory_equal(payload, "hello", 5);
	free(payload);

	/* Two frames in one write, the second with an empty payload. */
	uint8_t two[2 * TTRPC_HEADER_LEN];
	ttrpc_header_encode(&(struct ttrpc_header){ .length = 0, .stream_id = 7, .type = 2 }, two);
	ttrpc_header_encode(&(struct ttrpc_header){ .length = 0, .stream_id = 5, .type = 2 },
			    two + TTRPC_HEADER_LEN);
	assert_int_equal(write(sv[0], two, 15), 15);
	assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), 1);
	assert_int_equal(r.h.stream_id, 7);
	free(payload);
	assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), 0);
	assert_int_equal(write(sv[0], two + 15, 5), 5);
	assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), 1);
	assert_int_equal(r.h.stream_id, 5);
	free(payload);
	ttrpc_reader_free(&r);
	close(sv[0]);
	close(sv[1]);
}

static void test_oversized_frame(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	set_nonblock(sv[1]);
	write_raw(sv[0], 0xffffffffu, 1, 1, NULL, 0);
	struct ttrpc_reader r;
	struct cc_error err;
	uint8_t *payload = NULL;
	ttrpc_reader_init(&r);
	assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), -1);
	assert_int_equal(err.code, TTRPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(err.msg, "exceeds"));
	assert_null(r.payload);
	assert_null(payload);
	ttrpc_reader_free(&r);

	/* The writer refuses too. */
	struct ttrpc_header h = { .length = TTRPC_MAX_PAYLOAD + 1, .stream_id = 1, .type = 1 };
	assert_int_equal(ttrpc_write_frame(sv[0], &h, "", &err), -1);
	close(sv[0]);
	close(sv[1]);
}

static void test_bad_type(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	set_nonblock(sv[1]);
	write_raw(sv[0], 0, 1, 9, NULL, 0);
	struct ttrpc_reader r;
	struct cc_error err;
	uint8_t *payload = NULL;
	ttrpc_reader_init(&r);
	assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), -1);
	assert_non_null(strstr(err.msg, "type 9"));
	ttrpc_reader_free(&r);
	close(sv[0]);
	close(sv[1]);
}

static void expect_eof(const void *bytes, size_t n, const char *msg)
{
	int sv[2];
	pair(sv);
	set_nonblock(sv[1]);
	if (n > 0)
		assert_int_equal(write(sv[0], bytes, n), (ssize_t)n);
	close(sv[0]);
	struct ttrpc_reader r;
	struct cc_error err;
	uint8_t *payload = NULL;
	ttrpc_reader_init(&r);
	assert_int_equal(ttrpc_reader_read(&r, sv[1], &payload, &err), -1);
	assert_int_equal(err.err_no, 0);
	assert_string_equal(err.msg, msg);
	ttrpc_reader_free(&r);
	close(sv[1]);
}

static void test_eof(void **state)
{
	(void)state;
	uint8_t frame[TTRPC_HEADER_LEN + 2];
	ttrpc_header_encode(&(struct ttrpc_header){ .length = 4, .stream_id = 1, .type = 1 },
			    frame);
	expect_eof(NULL, 0, "connection closed");
	expect_eof(frame, 3, "ttrpc: connection closed mid-frame (3 of 10 header bytes)");
	expect_eof(frame, sizeof(frame),
		   "ttrpc: connection closed mid-frame (2 of 4 payload bytes)");
}

struct big_writer {
	int fd;
	uint8_t *buf;
	int ret;
};

static void *write_big(void *arg)
{
	struct big_writer *w = arg;
	struct ttrpc_header h = { .length = TTRPC_MAX_PAYLOAD, .stream_id = 9, .type = 2 };
	struct cc_error err;
	w->ret = ttrpc_write_frame(w->fd, &h, w->buf, &err);
	return NULL;
}

/* A maximal frame through a socket buffer far smaller than it: the writer meets
 * EAGAIN and short writes, the reader partial reads. */
static void test_large_frame(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	struct big_writer w = { .fd = sv[0], .buf = malloc(TTRPC_MAX_PAYLOAD), .ret = 1 };
	for (size_t i = 0; i < TTRPC_MAX_PAYLOAD; i++)
		w.buf[i] = (uint8_t)(i * 7);
	pthread_t t;
	pthread_create(&t, NULL, write_big, &w);
	struct ttrpc_reader r;
	struct cc_error err;
	uint8_t *payload = NULL;
	int ret;
	ttrpc_reader_init(&r);
	while ((ret = ttrpc_reader_read(&r, sv[1], &payload, &err)) == 0) {
		struct pollfd p = { .fd = sv[1], .events = POLLIN };
		poll(&p, 1, -1);
	}
	assert_int_equal(ret, 1);
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	assert_int_equal(r.h.length, TTRPC_MAX_PAYLOAD);
	assert_memory_equal(payload, w.buf, TTRPC_MAX_PAYLOAD);
	free(payload);
	free(w.buf);
	ttrpc_reader_free(&r);
	close(sv[0]);
	close(sv[1]);
}

/* ---- server alone ---- */

static int must_not_run(struct ttrpc_call *call, const ProtobufCMessage *req, void *user,
			struct cc_error *err)
{
	(void)call;
	(void)req;
	(void)user;
	fail_msg("handler ran");
	return cc_error_code(err, TTRPC_INTERNAL, "handler ran");
}

static const struct ttrpc_method noop_methods[] = {
	{ SVC, "Noop", &ttrpc__key_value__descriptor, must_not_run },
};

static void expect_server_error(uint32_t id, uint8_t type, const char *msg)
{
	int sv[2];
	pair(sv);
	struct ttrpc_conn *c = ttrpc_conn_new(sv[1], noop_methods, 1, NULL);
	assert_non_null(c);
	write_raw(sv[0], 0, id, type, NULL, 0);
	struct cc_error err;
	assert_int_equal(ttrpc_conn_process(c, &err), -1);
	assert_non_null(strstr(err.msg, msg));
	ttrpc_conn_close(c);
	close(sv[0]);
}

static void test_server_protocol_errors(void **state)
{
	(void)state;
	expect_server_error(2, TTRPC_TYPE_REQUEST, "even stream id 2");
	expect_server_error(0, TTRPC_TYPE_REQUEST, "even stream id 0");
	expect_server_error(1, TTRPC_TYPE_RESPONSE, "frame type 2");
	expect_server_error(1, 77, "unknown frame type 77");
}

/* Reads one response frame from a blocking fd. */
static Ttrpc__Response *read_response(int fd, uint32_t want_id)
{
	struct ttrpc_reader r;
	struct cc_error err;
	uint8_t *payload = NULL;
	ttrpc_reader_init(&r);
	assert_int_equal(ttrpc_reader_read(&r, fd, &payload, &err), 1);
	assert_int_equal(r.h.type, TTRPC_TYPE_RESPONSE);
	assert_int_equal(r.h.stream_id, want_id);
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, r.h.length, payload);
	assert_non_null(resp);
	free(payload);
	ttrpc_reader_free(&r);
	return resp;
}

static void test_server_malformed_and_unknown(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	struct ttrpc_conn *c = ttrpc_conn_new(sv[1], noop_methods, 1, NULL);
	struct cc_error err;
	write_raw(sv[0], 3, 1, TTRPC_TYPE_REQUEST, "\xff\xff\xff", 3);
	assert_int_equal(ttrpc_conn_process(c, &err), 0);
	Ttrpc__Response *resp = read_response(sv[0], 1);
	assert_int_equal(resp->status->code, TTRPC_INVALID_ARGUMENT);
	assert_non_null(strstr(resp->status->message, "malformed request"));
	ttrpc__response__free_unpacked(resp, NULL);

	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	req.service = SVC;
	req.method = "Nope";
	uint8_t buf[128];
	size_t n = ttrpc__request__pack(&req, buf);
	write_raw(sv[0], (uint32_t)n, 3, TTRPC_TYPE_REQUEST, buf, n);
	assert_int_equal(ttrpc_conn_process(c, &err), 0);
	resp = read_response(sv[0], 3);
	assert_int_equal(resp->status->code, TTRPC_UNIMPLEMENTED);
	assert_string_equal(resp->status->message, SVC "/Nope: method not implemented");
	ttrpc__response__free_unpacked(resp, NULL);

	close(sv[0]);
	assert_int_equal(ttrpc_conn_process(c, &err), -1);
	assert_string_equal(err.msg, "connection closed");
	ttrpc_conn_close(c);
}

/* ---- client <-> server ---- */

/* Calls parked by handlers, finished later by the test. */
static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t parked_cv = PTHREAD_COND_INITIALIZER;
static struct ttrpc_call *parked[8];
static size_t n_parked;

static struct ttrpc_call *take_parked(void)
{
	pthread_mutex_lock(&parked_lock);
	while (n_parked == 0)
		pthread_cond_wait(&parked_cv, &parked_lock);
	struct ttrpc_call *c = parked[--n_parked];
	pthread_mutex_unlock(&parked_lock);
	return c;
}

static void reply_kv(struct ttrpc_call *call, const char *key, const char *value)
{
	Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
	kv.key = (char *)key;
	kv.value = (char *)value;
	ttrpc_call_reply(call, (const ProtobufCMessage *)&kv);
}

/* Echo answers KeyValue{key, value = metadata[key] or "-"} with the timeout appended. */
static int echo(struct ttrpc_call *call, const ProtobufCMessage *req, void *user,
		struct cc_error *err)
{
	(void)user;
	(void)err;
	const Ttrpc__KeyValue *in = (const Ttrpc__KeyValue *)req;
	const char *md = ttrpc_call_metadata(call, in->key);
	char value[256];
	snprintf(value, sizeof(value), "%s:%llu", md ? md : "-",
		 (unsigned long long)ttrpc_call_timeout_ns(call));
	reply_kv(call, in->key, value);
	return 0;
}

static int park(struct ttrpc_call *call, const ProtobufCMessage *req, void *user,
		struct cc_error *err)
{
	(void)req;
	(void)user;
	(void)err;
	pthread_mutex_lock(&parked_lock);
	parked[n_parked++] = call;
	pthread_cond_broadcast(&parked_cv);
	pthread_mutex_unlock(&parked_lock);
	return 0;
}

/* Fails through the error object: the server answers with its code and message. */
static int refuse(struct ttrpc_call *call, const ProtobufCMessage *req, void *user,
		  struct cc_error *err)
{
	(void)call;
	(void)user;
	return cc_error_code(err, TTRPC_NOT_FOUND, "container %zu not found",
			     protobuf_c_message_get_packed_size(req));
}

/* A reply that fits in Response.payload but not, with its envelope, in a frame. */
static int huge(struct ttrpc_call *call, const ProtobufCMessage *req, void *user,
		struct cc_error *err)
{
	(void)req;
	(void)user;
	(void)err;
	size_t n = TTRPC_MAX_PAYLOAD - 8;
	char *v = malloc(n + 1);
	memset(v, 'x', n);
	v[n] = '\0';
	reply_kv(call, "", v);
	free(v);
	return 0;
}

static const struct ttrpc_method methods[] = {
	{ SVC, "Huge", &ttrpc__key_value__descriptor, huge },
	{ SVC, "Echo", &ttrpc__key_value__descriptor, echo },
	{ SVC, "Park", &ttrpc__key_value__descriptor, park },
	{ SVC, "Refuse", &ttrpc__key_value__descriptor, refuse },
};

struct server {
	struct ttrpc_conn *conn;
	int stop_fd;
	pthread_t thr;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = ttrpc_conn_fd(s->conn), .events = POLLIN },
				       { .fd = s->stop_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		struct cc_error err;
		if (ttrpc_conn_process(s->conn, &err) < 0)
			break;
	}
	ttrpc_conn_close(s->conn);
	return NULL;
}

struct fixture {
	struct server srv;
	struct ttrpc_client *cli;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];
	struct cc_error err;
	pair(sv);
	f->srv.conn = ttrpc_conn_new(sv[1], methods, sizeof(methods) / sizeof(methods[0]), NULL);
	f->srv.stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_create(&f->srv.thr, NULL, server_main, &f->srv);
	f->cli = ttrpc_client_new(sv[0], &err);
	assert_non_null(f->cli);
	n_parked = 0;
	*state = f;
	return 0;
}

static void stop_server(struct fixture *f)
{
	if (f->srv.stop_fd < 0)
		return;
	uint64_t one = 1;
	assert_int_equal(write(f->srv.stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(f->srv.thr, NULL);
	close(f->srv.stop_fd);
	f->srv.stop_fd = -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ttrpc_client_free(f->cli);
	stop_server(f);
	free(f);
	return 0;
}

static int call_kv(struct ttrpc_client *cli, const char *method, const char *key, int timeout_ms,
		   Ttrpc__KeyValue **out, struct cc_error *err)
{
	Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
	kv.key = (char *)key;
	*out = NULL;
	return ttrpc_client_call(cli, SVC, method, (const ProtobufCMessage *)&kv,
				 &ttrpc__key_value__descriptor, (ProtobufCMessage **)out,
				 timeout_ms, err);
}

static void test_call_echo(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Ttrpc__KeyValue *out;
	assert_int_equal(ttrpc_client_set_metadata(f->cli, "containerd-namespace-ttrpc", "x"), 0);
	assert_int_equal(ttrpc_client_set_metadata(f->cli, "containerd-namespace-ttrpc", "k8s.io"),
			 0);
	assert_int_equal(call_kv(f->cli, "Echo", "containerd-namespace-ttrpc", 0, &out, &err), 0);
	assert_string_equal(out->key, "containerd-namespace-ttrpc");
	assert_string_equal(out->value, "k8s.io:0");
	protobuf_c_message_free_unpacked(&out->base, NULL);

	assert_int_equal(call_kv(f->cli, "Echo", "other", 1500, &out, &err), 0);
	assert_string_equal(out->value, "-:1500000000");
	protobuf_c_message_free_unpacked(&out->base, NULL);
	assert_false(ttrpc_client_closed(f->cli));
}

static void test_call_errors(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Ttrpc__KeyValue *out;
	assert_int_equal(call_kv(f->cli, "Missing", "k", 0, &out, &err), -1);
	assert_int_equal(err.code, TTRPC_UNIMPLEMENTED);
	assert_string_equal(err.msg, SVC "/Missing: method not implemented");
	assert_null(out);

	assert_int_equal(call_kv(f->cli, "Refuse", "k", 0, &out, &err), -1);
	assert_int_equal(err.code, TTRPC_NOT_FOUND);
	assert_string_equal(err.msg, "container 3 not found");

	assert_int_equal(call_kv(f->cli, "Huge", "k", 0, &out, &err), -1);
	assert_int_equal(err.code, TTRPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(err.msg, "exceeds the maximum"));
	assert_false(ttrpc_client_closed(f->cli));
}

static void *reply_later(void *arg)
{
	(void)arg;
	struct ttrpc_call *call = take_parked();
	sleep_ms(20);
	reply_kv(call, "late", "from another thread");
	return NULL;
}

static void test_deferred_reply(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Ttrpc__KeyValue *out;
	pthread_t t;
	pthread_create(&t, NULL, reply_later, NULL);
	assert_int_equal(call_kv(f->cli, "Park", "k", 5000, &out, &err), 0);
	assert_string_equal(out->value, "from another thread");
	protobuf_c_message_free_unpacked(&out->base, NULL);
	pthread_join(t, NULL);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Ttrpc__KeyValue *out;
	assert_int_equal(call_kv(f->cli, "Park", "k", 50, &out, &err), -1);
	assert_int_equal(err.code, TTRPC_DEADLINE_EXCEEDED);
	/* The late reply is dropped; the connection keeps working. */
	reply_kv(take_parked(), "late", "dropped");
	assert_int_equal(call_kv(f->cli, "Echo", "k", 5000, &out, &err), 0);
	assert_string_equal(out->key, "k");
	protobuf_c_message_free_unpacked(&out->base, NULL);
}

static void *close_server_later(void *arg)
{
	struct fixture *f = arg;
	struct ttrpc_call *call = take_parked();
	stop_server(f);
	/* Finishing a call of a closed conn is dropped and frees the conn. */
	reply_kv(call, "after", "close");
	return NULL;
}

static void test_server_close_fails_calls(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Ttrpc__KeyValue *out;
	pthread_t t;
	pthread_create(&t, NULL, close_server_later, f);
	assert_int_equal(call_kv(f->cli, "Park", "k", 0, &out, &err), -1);
	assert_int_equal(err.code, TTRPC_UNAVAILABLE);
	assert_string_equal(err.msg, "connection closed");
	pthread_join(t, NULL);
	assert_true(ttrpc_client_closed(f->cli));
	assert_int_equal(call_kv(f->cli, "Echo", "k", 0, &out, &err), -1);
	assert_int_equal(err.code, TTRPC_UNAVAILABLE);
}

static void *park_call(void *arg)
{
	struct fixture *f = arg;
	struct cc_error err;
	Ttrpc__KeyValue *out;
	int r = call_kv(f->cli, "Park", "k", 0, &out, &err);
	return (void *)(intptr_t)(r == -1 && err.code == TTRPC_UNAVAILABLE);
}

static void test_client_free_fails_calls(void **state)
{
	struct fixture *f = *state;
	pthread_t t;
	void *ok;
	pthread_create(&t, NULL, park_call, f);
	struct ttrpc_call *call = take_parked();
	ttrpc_client_free(f->cli);
	f->cli = NULL;
	pthread_join(t, &ok);
	assert_true(ok != NULL);
	reply_kv(call, "after", "free");
}

#define N_THREADS 4
#define N_CALLS 200

static void *hammer(void *arg)
{
	struct fixture *f = arg;
	char key[32];
	intptr_t bad = 0;
	for (int i = 0; i < N_CALLS; i++) {
		struct cc_error err;
		Ttrpc__KeyValue *out;
		snprintf(key, sizeof(key), "%p-%d", (void *)&key, i);
		if (call_kv(f->cli, "Echo", key, 10000, &out, &err) < 0) {
			bad++;
			continue;
		}
		bad += strcmp(out->key, key) != 0;
		protobuf_c_message_free_unpacked(&out->base, NULL);
	}
	return (void *)bad;
}

static void test_concurrent_calls(void **state)
{
	struct fixture *f = *state;
	pthread_t t[N_THREADS];
	for (int i = 0; i < N_THREADS; i++)
		pthread_create(&t[i], NULL, hammer, f);
	for (int i = 0; i < N_THREADS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
}

/* A hostile server: garbage responses, unknown streams, oversize frames. */
static void test_client_validates_responses(void **state)
{
	(void)state;
	int sv[2];
	struct cc_error err;
	pair(sv);
	struct ttrpc_client *cli = ttrpc_client_new(sv[0], &err);
	assert_non_null(cli);
	/* A response for a stream nobody asked about is ignored. */
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	uint8_t buf[64];
	size_t n = ttrpc__response__pack(&resp, buf);
	write_raw(sv[1], (uint32_t)n, 99, TTRPC_TYPE_RESPONSE, buf, n);
	write_raw(sv[1], (uint32_t)n, 100, TTRPC_TYPE_RESPONSE, buf, n);
	sleep_ms(20);
	assert_false(ttrpc_client_closed(cli));
	/* An oversized frame kills the connection. */
	write_raw(sv[1], TTRPC_MAX_PAYLOAD + 1, 1, TTRPC_TYPE_RESPONSE, NULL, 0);
	Ttrpc__KeyValue *out;
	assert_int_equal(call_kv(cli, "Echo", "k", 2000, &out, &err), -1);
	assert_int_equal(err.code, TTRPC_UNAVAILABLE);
	assert_true(ttrpc_client_closed(cli));
	ttrpc_client_free(cli);
	close(sv[1]);
}

/* A hostile agent that stops reading: nothing drains its end of the socket. */
struct stuck_call {
	struct ttrpc_client *cli;
	size_t key_len;
	int timeout_ms;
	int ret, code;
	uint64_t took_ms;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *stuck_call_main(void *arg)
{
	struct stuck_call *s = arg;
	char *key = malloc(s->key_len + 1);
	memset(key, 'k', s->key_len);
	key[s->key_len] = '\0';
	struct cc_error err = { 0 };
	Ttrpc__KeyValue *out;
	uint64_t t0 = mono_ms();
	s->ret = call_kv(s->cli, "Echo", key, s->timeout_ms, &out, &err);
	s->took_ms = mono_ms() - t0;
	s->code = err.code;
	free(key);
	return NULL;
}

/* Joins t within ms; false if it is still blocked. */
static bool joined_within(pthread_t t, int ms)
{
	struct timespec ts = cc_timespec_after(CLOCK_REALTIME, ms);
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

/* A client whose peer (sv[1]) never reads, with small socket buffers. */
static struct ttrpc_client *deaf_peer(int sv[2], int write_timeout_ms, bool fill)
{
	int small = 4096;
	struct cc_error err;
	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (fill) {
		char junk[4096] = { 0 };
		set_nonblock(sv[0]);
		while (write(sv[0], junk, sizeof(junk)) > 0)
			;
		while (write(sv[0], junk, 1) > 0)
			;
	}
	struct ttrpc_client *cli = ttrpc_client_new(sv[0], &err);
	assert_non_null(cli);
	ttrpc_client_set_write_timeout(cli, write_timeout_ms);
	return cli;
}

static void test_peer_stops_reading(void **state)
{
	(void)state;
	int sv[2];
	struct ttrpc_client *cli = deaf_peer(sv, 1500, false);

	/* A call that waits forever for its reply still gives up writing its request. */
	struct stuck_call big = { .cli = cli, .key_len = 1u << 20, .timeout_ms = 0 };
	pthread_t tb;
	pthread_create(&tb, NULL, stuck_call_main, &big);
	sleep_ms(100);

	/* A short call queued behind the stuck writer fails at its own deadline. */
	struct stuck_call small_call = { .cli = cli, .key_len = 8, .timeout_ms = 200 };
	pthread_t ts;
	pthread_create(&ts, NULL, stuck_call_main, &small_call);
	assert_true(joined_within(ts, 1000));
	assert_int_equal(small_call.ret, -1);
	assert_int_equal(small_call.code, TTRPC_DEADLINE_EXCEEDED);
	assert_true(small_call.took_ms < 1000);

	assert_true(joined_within(tb, 5000));
	assert_int_equal(big.ret, -1);
	assert_int_equal(big.code, TTRPC_DEADLINE_EXCEEDED);
	assert_true(big.took_ms >= 1400 && big.took_ms < 5000);
	/* Half a frame went out: the stream is unusable, later calls fail at once. */
	assert_true(ttrpc_client_closed(cli));
	ttrpc_client_free(cli);
	close(sv[1]);
}

/* A peer whose buffer is already full: a request that could not start fails alone and
 * leaves the connection usable. */
static void test_peer_full_buffer(void **state)
{
	(void)state;
	int sv[2];
	struct ttrpc_client *cli = deaf_peer(sv, 300, true);
	struct stuck_call c = { .cli = cli, .key_len = 8, .timeout_ms = 0 };
	pthread_t t;
	pthread_create(&t, NULL, stuck_call_main, &c);
	assert_true(joined_within(t, 3000));
	assert_int_equal(c.ret, -1);
	assert_int_equal(c.code, TTRPC_DEADLINE_EXCEEDED);
	assert_false(ttrpc_client_closed(cli));
	ttrpc_client_free(cli);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_header_rejects),
		cmocka_unit_test(test_partial_reads),
		cmocka_unit_test(test_oversized_frame),
		cmocka_unit_test(test_bad_type),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_large_frame),
		cmocka_unit_test(test_server_protocol_errors),
		cmocka_unit_test(test_server_malformed_and_unknown),
		cmocka_unit_test_setup_teardown(test_call_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_close_fails_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_free_fails_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_calls, setup, teardown),
		cmocka_unit_test(test_client_validates_responses),
		cmocka_unit_test(test_peer_stops_reading),
		cmocka_unit_test(test_peer_full_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
