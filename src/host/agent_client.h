/* The host's typed client of cocoon-agent (proto/agent.proto): one function per RPC the
 * host makes, each filling its request and checking what the guest answers. `cocoon run`
 * and the shim reach the agent only through these.
 *
 * The guest is hostile: replies are bounded before use (agent_read_stream never hands
 * over more than it asked for) and their strings are the caller's to sanitize. */
#ifndef COCOON_AGENT_CLIENT_H
#define COCOON_AGENT_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/error.h"

struct ttrpc_client;

/* The RPCs of cocoon.agent.v1.Agent the host calls. */
enum agent_method {
	AGENT_HELLO,
	AGENT_CREATE_CONTAINER,
	AGENT_START_CONTAINER,
	AGENT_EXEC_PROCESS,
	AGENT_SIGNAL_PROCESS,
	AGENT_WAIT_PROCESS,
	AGENT_READ_STREAM,
	AGENT_WRITE_STDIN,
	AGENT_CLOSE_STDIN,
	AGENT_RESIZE_PTY,
	AGENT_STATS_CONTAINER,
	AGENT_PAUSE_CONTAINER,
	AGENT_RESUME_CONTAINER,
	AGENT_UPDATE_CONTAINER,
	AGENT_LIST_PROCESSES,
	AGENT_REMOVE_CONTAINER,
	AGENT_REMOVE_PROCESS,
	AGENT_CONFIGURE_NETWORK,
	AGENT_RESEED,
	AGENT_MOUNT_SHARED,
	AGENT_CONNECT_PORT,
	AGENT_SHUTDOWN,
	AGENT_N_METHODS
};

/* How a caller reaches the agent. conn returns the connection, or NULL with err set when
 * there is none to use (the shim's pod VM is gone). With name_calls, errors start with
 * "agent <Method>: ". */
struct agent_client {
	struct ttrpc_client *(*conn)(void *ctx, struct cc_error *err);
	void *ctx;
	bool name_calls;
};

/* One call: req sent, the reply unpacked into *resp (the method's reply type; free with
 * protobuf_c_message_free_unpacked) or dropped when resp is NULL. timeout_ms <= 0 waits
 * forever. Errors carry a ttrpc code. */
int agent_call(const struct agent_client *a, enum agent_method m, const ProtobufCMessage *req,
	       ProtobufCMessage **resp, int timeout_ms, struct cc_error *err);

/* CreateContainer / ExecProcess: the guest pid of the new process in *pid (may be NULL). */
int agent_create(const struct agent_client *a, const char *cid, const char *spec_json, size_t len,
		 bool with_stdin, uint32_t *pid, int timeout_ms, struct cc_error *err);
int agent_exec(const struct agent_client *a, const char *cid, const char *eid,
	       const char *process_json, size_t len, bool with_stdin, uint32_t *pid, int timeout_ms,
	       struct cc_error *err);
int agent_start(const struct agent_client *a, const char *cid, int timeout_ms,
		struct cc_error *err);
/* all: every process of the container. */
int agent_signal(const struct agent_client *a, const char *cid, const char *eid, uint32_t sig,
		 bool all, int timeout_ms, struct cc_error *err);

/* WaitProcess: waits for the exit, however long it takes. */
struct agent_exit {
	int32_t status; /* 0..255, 128+N for signal N; anything else is not a status */
	bool oom_killed;
};
int agent_wait(const struct agent_client *a, const char *cid, const char *eid,
	       struct agent_exit *out, struct cc_error *err);

/* ReadStream: up to max bytes of stream (Cocoon__Agent__V1__Stream) into buf, waiting
 * for them; *eof once the stream ended. A reply bigger than asked fails (INTERNAL). */
int agent_read_stream(const struct agent_client *a, const char *cid, const char *eid, int stream,
		      void *buf, size_t max, size_t *got, bool *eof, struct cc_error *err);
/* WriteStdin: *took is what the process accepted (1..len); 0 means its stdin is closed,
 * and so does a reply claiming more than was sent. */
int agent_write_stdin(const struct agent_client *a, const char *cid, const char *eid,
		      const void *data, size_t len, size_t *took, int timeout_ms,
		      struct cc_error *err);
int agent_close_stdin(const struct agent_client *a, const char *cid, const char *eid,
		      int timeout_ms, struct cc_error *err);
int agent_resize(const struct agent_client *a, const char *cid, const char *eid, uint32_t width,
		 uint32_t height, int timeout_ms, struct cc_error *err);
/* RemoveContainer also fails the agent's parked reads of that container's streams. */
int agent_remove_container(const struct agent_client *a, const char *cid, int timeout_ms,
			   struct cc_error *err);
int agent_remove_process(const struct agent_client *a, const char *cid, const char *eid,
			 int timeout_ms, struct cc_error *err);
/* A per-container query or action taking a ContainerRequest (Stats, Pause, Resume,
 * ListProcesses); resp as for agent_call. */
int agent_container_call(const struct agent_client *a, enum agent_method m, const char *cid,
			 ProtobufCMessage **resp, int timeout_ms, struct cc_error *err);

#endif
