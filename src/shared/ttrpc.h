/* ttrpc: containerd's lightweight RPC, used both between containerd and the shim and
 * between the host and cocoon-agent. Frame = 10-byte header (length u32 BE, stream id
 * u32 BE, type u8, flags u8) + protobuf payload of at most TTRPC_MAX_PAYLOAD bytes.
 * Requests travel on odd stream ids chosen by the client. */
#ifndef COCOON_TTRPC_H
#define COCOON_TTRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/error.h"

#define TTRPC_HEADER_LEN 10
#define TTRPC_MAX_PAYLOAD (4u << 20)

enum ttrpc_type { TTRPC_TYPE_REQUEST = 1, TTRPC_TYPE_RESPONSE = 2 };

/* google.rpc.Code values carried in Response.status. */
enum ttrpc_code {
	TTRPC_OK = 0,
	TTRPC_CANCELLED = 1,
	TTRPC_UNKNOWN = 2,
	TTRPC_INVALID_ARGUMENT = 3,
	TTRPC_DEADLINE_EXCEEDED = 4,
	TTRPC_NOT_FOUND = 5,
	TTRPC_ALREADY_EXISTS = 6,
	TTRPC_PERMISSION_DENIED = 7,
	TTRPC_RESOURCE_EXHAUSTED = 8,
	TTRPC_FAILED_PRECONDITION = 9,
	TTRPC_ABORTED = 10,
	TTRPC_OUT_OF_RANGE = 11,
	TTRPC_UNIMPLEMENTED = 12,
	TTRPC_INTERNAL = 13,
	TTRPC_UNAVAILABLE = 14,
};

struct ttrpc_header {
	uint32_t length;
	uint32_t stream_id;
	uint8_t type;
	uint8_t flags;
};

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN]);
/* Fails (naming the field) on a length over TTRPC_MAX_PAYLOAD or an unknown type. */
int ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h,
			struct cc_error *err);

/* Incremental frame reader for non-blocking fds: survives partial reads. */
struct ttrpc_reader {
	uint8_t hdr[TTRPC_HEADER_LEN];
	size_t hdr_got;
	struct ttrpc_header h;
	uint8_t *payload;
	size_t got;
};
void ttrpc_reader_init(struct ttrpc_reader *r);
void ttrpc_reader_free(struct ttrpc_reader *r);
/* Reads what fd has. Returns 1 when a whole frame is ready (header in r->h, payload
 * ownership passed to *payload, caller frees), 0 when more bytes are needed (EAGAIN),
 * -1 on error or EOF (err says which; err->err_no == 0 and "connection closed" at EOF). */
int ttrpc_reader_read(struct ttrpc_reader *r, int fd, uint8_t **payload, struct cc_error *err);

/* Writes one whole frame (blocking; retries EAGAIN with poll). */
int ttrpc_write_frame(int fd, const struct ttrpc_header *h, const void *payload,
		      struct cc_error *err);

/* ---- server ---- */

struct ttrpc_conn;
struct ttrpc_call;

/* The server unpacks the request with the method's descriptor (a malformed one is
 * answered INVALID_ARGUMENT and reaches no handler) and hands the handler the typed
 * message. A handler either returns -1 with err filled (err->code, UNKNOWN when 0: the
 * server fails the call with it), or returns 0 having taken the call: it must then
 * finish it exactly once with ttrpc_call_reply or ttrpc_call_fail, before returning or
 * later (from any thread): that is how long-running calls such as Wait are answered.
 * `req`, the metadata strings and the call itself stay valid until the call is
 * finished; the server frees them then. */
typedef int (*ttrpc_handler_fn)(struct ttrpc_call *call, const ProtobufCMessage *req, void *user,
				struct cc_error *err);

struct ttrpc_method {
	const char *service; /* e.g. "containerd.task.v2.Task" */
	const char *method;  /* e.g. "Create" */
	const ProtobufCMessageDescriptor *request;
	ttrpc_handler_fn fn;
};

/* Wraps a connected fd (made non-blocking; the conn owns and closes it). Returns NULL
 * (fd not taken) if it cannot. ttrpc_conn_process and ttrpc_conn_close belong to one
 * thread (the event loop); calls may be finished from any thread. */
struct ttrpc_conn *ttrpc_conn_new(int fd, const struct ttrpc_method *methods, size_t n_methods,
				  void *user);
int ttrpc_conn_fd(const struct ttrpc_conn *c);
/* Call when fd is readable: reads and dispatches every complete request.
 * Returns -1 on EOF or a protocol error (then ttrpc_conn_close it). Unknown methods
 * are answered with UNIMPLEMENTED. */
int ttrpc_conn_process(struct ttrpc_conn *c, struct cc_error *err);
/* Closes the fd; outstanding calls stay valid and their replies are dropped.
 * The memory is released when the last outstanding call finishes. */
void ttrpc_conn_close(struct ttrpc_conn *c);

/* Metadata value sent with the request (e.g. "containerd-namespace-ttrpc"), or NULL. */
const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key);
uint64_t ttrpc_call_timeout_ns(const struct ttrpc_call *call);
void ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *resp);
void ttrpc_call_fail(struct ttrpc_call *call, enum ttrpc_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Fails the call with err's code (UNKNOWN when it has none) and message. */
void ttrpc_call_fail_err(struct ttrpc_call *call, const struct cc_error *err);
/* What the server does with a handler's result; for handlers run elsewhere (a thread of
 * their own). */
void ttrpc_call_finish_handler(struct ttrpc_call *call, int rc, const struct cc_error *err);

/* ---- client ---- */

struct ttrpc_client;

/* Takes ownership of a connected fd and starts a reader thread. Thread-safe: many
 * threads may have calls outstanding at once (each on its own stream id). */
struct ttrpc_client *ttrpc_client_new(int fd, struct cc_error *err);
/* Fails every outstanding call, waits until those callers have returned, joins the
 * reader thread, closes the fd, frees. No new call may start once this is called. */
void ttrpc_client_free(struct ttrpc_client *c);
/* How long one request frame may take to write, waiting for the write lock included,
 * whatever the call's own timeout (<= 0 restores the default). */
#define TTRPC_CLIENT_WRITE_TIMEOUT_MS 10000
void ttrpc_client_set_write_timeout(struct ttrpc_client *c, int timeout_ms);
/* Adds metadata sent with every request (e.g. the containerd namespace). */
int ttrpc_client_set_metadata(struct ttrpc_client *c, const char *key, const char *value);

/* Sends req and waits up to timeout_ms (<= 0: wait forever) for the response, which
 * is unpacked with resp_desc into *resp (free with protobuf_c_message_free_unpacked;
 * pass resp = NULL to ignore the reply). timeout_ms also goes to the server as
 * Request.timeout_nano. Errors always set err->code: a non-OK status gives the server's
 * code and message (control characters replaced: the server may be a hostile guest
 * writing to a terminal or a log); a timeout gives DEADLINE_EXCEEDED (a late reply is
 * dropped), and so does a peer that does not read the request within the write timeout;
 * a lost connection gives UNAVAILABLE "connection closed". */
int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      ProtobufCMessage **resp, int timeout_ms, struct cc_error *err);
/* What ttrpc_client_call makes of a decoded Response: its status as an error, or its
 * payload unpacked with resp_desc (resp may be NULL). Separate so the fuzzer runs it. */
struct Ttrpc__Response;
int ttrpc_client_result(const struct Ttrpc__Response *r, const char *service, const char *method,
			const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			struct cc_error *err);
/* Replaces control characters (C0, DEL, C1 as UTF-8) in s with '?', in place. */
void ttrpc_sanitize_text(char *s);
/* True once the connection is gone (EOF or error); calls then fail with UNAVAILABLE. */
int ttrpc_client_closed(struct ttrpc_client *c);

#endif
