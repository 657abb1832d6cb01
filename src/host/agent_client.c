#include "host/agent_client.h"

#include <string.h>

#include "shared/agent_proto.h"
#include "shared/ttrpc.h"
#include "proto/agent.pb-c.h"

/* Each method's name on the wire and the type of its reply. */
static const struct {
	const char *name;
	const ProtobufCMessageDescriptor *reply;
} methods[AGENT_N_METHODS] = {
	[AGENT_HELLO] = { "Hello", &cocoon__agent__v1__hello_response__descriptor },
	[AGENT_CREATE_CONTAINER] = { "CreateContainer",
				     &cocoon__agent__v1__create_container_response__descriptor },
	[AGENT_START_CONTAINER] = { "StartContainer", &cocoon__agent__v1__empty__descriptor },
	[AGENT_EXEC_PROCESS] = { "ExecProcess",
				 &cocoon__agent__v1__exec_process_response__descriptor },
	[AGENT_SIGNAL_PROCESS] = { "SignalProcess", &cocoon__agent__v1__empty__descriptor },
	[AGENT_WAIT_PROCESS] = { "WaitProcess",
				 &cocoon__agent__v1__wait_process_response__descriptor },
	[AGENT_READ_STREAM] = { "ReadStream",
				&cocoon__agent__v1__read_stream_response__descriptor },
	[AGENT_WRITE_STDIN] = { "WriteStdin",
				&cocoon__agent__v1__write_stdin_response__descriptor },
	[AGENT_CLOSE_STDIN] = { "CloseStdin", &cocoon__agent__v1__empty__descriptor },
	[AGENT_RESIZE_PTY] = { "ResizePty", &cocoon__agent__v1__empty__descriptor },
	[AGENT_STATS_CONTAINER] = { "StatsContainer",
				    &cocoon__agent__v1__stats_response__descriptor },
	[AGENT_PAUSE_CONTAINER] = { "PauseContainer", &cocoon__agent__v1__empty__descriptor },
	[AGENT_RESUME_CONTAINER] = { "ResumeContainer", &cocoon__agent__v1__empty__descriptor },
	[AGENT_UPDATE_CONTAINER] = { "UpdateContainer", &cocoon__agent__v1__empty__descriptor },
	[AGENT_LIST_PROCESSES] = { "ListProcesses",
				   &cocoon__agent__v1__list_processes_response__descriptor },
	[AGENT_REMOVE_CONTAINER] = { "RemoveContainer", &cocoon__agent__v1__empty__descriptor },
	[AGENT_REMOVE_PROCESS] = { "RemoveProcess", &cocoon__agent__v1__empty__descriptor },
	[AGENT_CONFIGURE_NETWORK] = { "ConfigureNetwork", &cocoon__agent__v1__empty__descriptor },
	[AGENT_RESEED] = { "Reseed", &cocoon__agent__v1__reseed_response__descriptor },
	[AGENT_MOUNT_SHARED] = { "MountShared", &cocoon__agent__v1__empty__descriptor },
	[AGENT_CONNECT_PORT] = { "ConnectPort", &cocoon__agent__v1__empty__descriptor },
	[AGENT_SHUTDOWN] = { "Shutdown", &cocoon__agent__v1__empty__descriptor },
};

int agent_call(const struct agent_client *a, enum agent_method m, const ProtobufCMessage *req,
	       ProtobufCMessage **resp, int timeout_ms, struct cc_error *err)
{
	ProtobufCMessage *ignored = NULL;
	struct ttrpc_client *c = a->conn(a->ctx, err);
	int rc = -1;

	if (c != NULL) {
		rc = ttrpc_client_call(c, AGENT_SERVICE, methods[m].name, req, methods[m].reply,
				       resp ? resp : &ignored, timeout_ms, err);
		if (ignored)
			protobuf_c_message_free_unpacked(ignored, NULL);
	}
	if (rc < 0 && a->name_calls)
		cc_error_prefix(err, "agent %s", methods[m].name);
	return rc;
}

static void free_reply(void *p)
{
	ProtobufCMessage *m = *(ProtobufCMessage **)p;
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}
#define cleanup_reply __attribute__((cleanup(free_reply)))

int agent_create(const struct agent_client *a, const char *cid, const char *spec_json, size_t len,
		 bool with_stdin, uint32_t *pid, int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__CreateContainerRequest req =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	cleanup_reply Cocoon__Agent__V1__CreateContainerResponse *resp = NULL;

	req.container_id = (char *)cid;
	req.spec_json = (ProtobufCBinaryData){ len, (uint8_t *)spec_json };
	req.stdin = with_stdin;
	if (agent_call(a, AGENT_CREATE_CONTAINER, &req.base, (ProtobufCMessage **)&resp, timeout_ms,
		       err) < 0)
		return -1;
	if (pid)
		*pid = resp->pid;
	return 0;
}

int agent_exec(const struct agent_client *a, const char *cid, const char *eid,
	       const char *process_json, size_t len, bool with_stdin, uint32_t *pid, int timeout_ms,
	       struct cc_error *err)
{
	Cocoon__Agent__V1__ExecProcessRequest req = COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	cleanup_reply Cocoon__Agent__V1__ExecProcessResponse *resp = NULL;

	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	req.process_json = (ProtobufCBinaryData){ len, (uint8_t *)process_json };
	req.stdin = with_stdin;
	if (agent_call(a, AGENT_EXEC_PROCESS, &req.base, (ProtobufCMessage **)&resp, timeout_ms,
		       err) < 0)
		return -1;
	if (pid)
		*pid = resp->pid;
	return 0;
}

int agent_start(const struct agent_client *a, const char *cid, int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__StartContainerRequest req =
		COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	req.container_id = (char *)cid;
	return agent_call(a, AGENT_START_CONTAINER, &req.base, NULL, timeout_ms, err);
}

int agent_signal(const struct agent_client *a, const char *cid, const char *eid, uint32_t sig,
		 bool all, int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__SignalProcessRequest req =
		COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	req.signal = sig;
	req.all = all;
	return agent_call(a, AGENT_SIGNAL_PROCESS, &req.base, NULL, timeout_ms, err);
}

int agent_wait(const struct agent_client *a, const char *cid, const char *eid,
	       struct agent_exit *out, struct cc_error *err)
{
	Cocoon__Agent__V1__WaitProcessRequest req = COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
	cleanup_reply Cocoon__Agent__V1__WaitProcessResponse *resp = NULL;

	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	if (agent_call(a, AGENT_WAIT_PROCESS, &req.base, (ProtobufCMessage **)&resp, 0, err) < 0)
		return -1;
	out->status = resp->exit_status;
	out->oom_killed = resp->oom_killed;
	return 0;
}

int agent_read_stream(const struct agent_client *a, const char *cid, const char *eid, int stream,
		      void *buf, size_t max, size_t *got, bool *eof, struct cc_error *err)
{
	Cocoon__Agent__V1__ReadStreamRequest req = COCOON__AGENT__V1__READ_STREAM_REQUEST__INIT;
	cleanup_reply Cocoon__Agent__V1__ReadStreamResponse *resp = NULL;

	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	req.stream = (Cocoon__Agent__V1__Stream)stream;
	req.max_len = (uint32_t)max;
	if (agent_call(a, AGENT_READ_STREAM, &req.base, (ProtobufCMessage **)&resp, 0, err) < 0)
		return -1;
	/* The agent caps replies at max_len; a bigger one is a misbehaving guest. */
	if (agent_check_read_reply(resp, req.max_len, err) < 0)
		return -1;
	if (resp->data.len > 0)
		memcpy(buf, resp->data.data, resp->data.len);
	*got = resp->data.len;
	*eof = resp->eof;
	return 0;
}

int agent_write_stdin(const struct agent_client *a, const char *cid, const char *eid,
		      const void *data, size_t len, size_t *took, int timeout_ms,
		      struct cc_error *err)
{
	Cocoon__Agent__V1__WriteStdinRequest req = COCOON__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
	cleanup_reply Cocoon__Agent__V1__WriteStdinResponse *resp = NULL;

	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	req.data = (ProtobufCBinaryData){ len, (uint8_t *)data };
	if (agent_call(a, AGENT_WRITE_STDIN, &req.base, (ProtobufCMessage **)&resp, timeout_ms,
		       err) < 0)
		return -1;
	/* The agent accepts at most what it was sent; a claim of more means nothing. */
	*took = resp->len <= len ? resp->len : 0;
	return 0;
}

int agent_close_stdin(const struct agent_client *a, const char *cid, const char *eid,
		      int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__CloseStdinRequest req = COCOON__AGENT__V1__CLOSE_STDIN_REQUEST__INIT;
	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	return agent_call(a, AGENT_CLOSE_STDIN, &req.base, NULL, timeout_ms, err);
}

int agent_resize(const struct agent_client *a, const char *cid, const char *eid, uint32_t width,
		 uint32_t height, int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__ResizePtyRequest req = COCOON__AGENT__V1__RESIZE_PTY_REQUEST__INIT;
	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	req.width = width;
	req.height = height;
	return agent_call(a, AGENT_RESIZE_PTY, &req.base, NULL, timeout_ms, err);
}

int agent_container_call(const struct agent_client *a, enum agent_method m, const char *cid,
			 ProtobufCMessage **resp, int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__ContainerRequest req = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	req.container_id = (char *)cid;
	return agent_call(a, m, &req.base, resp, timeout_ms, err);
}

int agent_remove_container(const struct agent_client *a, const char *cid, int timeout_ms,
			   struct cc_error *err)
{
	return agent_container_call(a, AGENT_REMOVE_CONTAINER, cid, NULL, timeout_ms, err);
}

int agent_remove_process(const struct agent_client *a, const char *cid, const char *eid,
			 int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__ProcessRequest req = COCOON__AGENT__V1__PROCESS_REQUEST__INIT;
	req.container_id = (char *)cid;
	req.exec_id = (char *)eid;
	return agent_call(a, AGENT_REMOVE_PROCESS, &req.base, NULL, timeout_ms, err);
}
