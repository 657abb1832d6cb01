/* What the agent's RPC handlers (server.c, server_container.c, server_process.c) share:
 * the lookups and replies every handler uses, the stdio of a new process, and the
 * handlers themselves for the method table in server.c. */
#ifndef COCOON_AGENT_SERVER_H
#define COCOON_AGENT_SERVER_H

#include <stdbool.h>

#include "agent/agent.h"
#include "proto/agent.pb-c.h"
#include "shared/oci_spec.h"

/* A JSON document field of a request: non-empty and bounded before it is parsed. */
int rpc_json_field_check(const char *name, ProtobufCBinaryData doc, struct cc_error *err);
int rpc_reply_empty(struct ttrpc_call *call);
/* Find a container or process, or return NULL with err set (INVALID_ARGUMENT,
 * NOT_FOUND). */
struct container *rpc_get_container(struct agent *a, const char *id, struct cc_error *err);
struct process *rpc_get_process(struct agent *a, const char *cid, const char *eid,
				struct cc_error *err);
bool rpc_init_running(const struct container *c);

/* ---- stdio of a new process (server_process.c) ---- */

/* Parent's ends: out/err read ends, stdin write end; child's ends in io. */
struct stdio_pair {
	int out, err, in;
	struct spawn_stdio child;
};

void rpc_stdio_close(struct stdio_pair *s);
/* Closes the child's ends once the child holds them. */
void rpc_stdio_close_child(struct stdio_pair *s);
/* Without a terminal: separate pipes for stdout and stderr, and stdin a pipe or (-1)
 * /dev/null. A terminal is opened by the child inside the container. */
int rpc_stdio_open(struct stdio_pair *s, bool terminal, bool want_stdin, struct cc_error *err);
/* The terminal's master, handed back by create/exec, becomes the process's output. */
int rpc_stdio_take_console(struct stdio_pair *s, bool want_stdin, struct cc_error *err);

/* ---- the handlers (struct ttrpc_method's signature) ---- */

#define RPC_HANDLER(name)                                                                \
	int rpc_##name(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, \
		       struct cc_error *err)
/* server.c: the VM as a whole */
RPC_HANDLER(hello);
RPC_HANDLER(configure_network);
RPC_HANDLER(reseed);
RPC_HANDLER(mount_shared);
RPC_HANDLER(shutdown);
/* server_container.c */
RPC_HANDLER(create);
RPC_HANDLER(start);
RPC_HANDLER(stats);
RPC_HANDLER(pause);
RPC_HANDLER(resume);
RPC_HANDLER(update);
RPC_HANDLER(list);
RPC_HANDLER(remove_container);
/* server_process.c */
RPC_HANDLER(exec);
RPC_HANDLER(signal);
RPC_HANDLER(wait);
RPC_HANDLER(read);
RPC_HANDLER(write_stdin);
RPC_HANDLER(close_stdin);
RPC_HANDLER(resize);
RPC_HANDLER(remove_process);
RPC_HANDLER(connect_port);
#undef RPC_HANDLER

#endif
