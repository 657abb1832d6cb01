/* What the Task API handlers (service.c, service_task.c, service_exec.c,
 * service_control.c) share: the lookups and replies every handler uses, and the
 * handlers themselves for the method table in service.c. */
#ifndef COCOON_SHIM_SERVICE_H
#define COCOON_SHIM_SERVICE_H

#include "shim/shim.h"

/* Bound on a JSON document containerd hands us (an exec's process, Update's resources). */
#define MAX_PROCESS_JSON (1u << 20)

extern const Google__Protobuf__Empty shim_empty;

/* How long a call that stops or removes something (Kill, Delete) waits for the guest. */
int shim_stop_wait_ms(void);
/* Looks the process up; NULL with err set (NOT_FOUND) when it is missing. Lock held. */
struct shim_proc *shim_find_proc(const char *id, const char *exec_id, struct cc_error *err);
/* shim_find_proc under the lock, for handlers that only pass the id on to the agent. */
int shim_proc_known(const char *id, const char *exec_id, struct cc_error *err);
/* A per-container agent query: the container's id in a ContainerRequest; an agent error
 * fails the containerd call. */
int shim_container_call(const char *id, enum agent_method method, ProtobufCMessage **resp,
			struct cc_error *err);

#define TASK_HANDLER(name)                                                                \
	int task_##name(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, \
			struct cc_error *err)
/* service.c */
TASK_HANDLER(wait);
TASK_HANDLER(state);
TASK_HANDLER(connect);
TASK_HANDLER(shutdown);
/* service_task.c */
TASK_HANDLER(create);
TASK_HANDLER(start);
TASK_HANDLER(kill);
TASK_HANDLER(delete);
/* service_exec.c */
TASK_HANDLER(exec);
TASK_HANDLER(resize_pty);
TASK_HANDLER(close_io);
/* service_control.c */
TASK_HANDLER(pids);
TASK_HANDLER(pause);
TASK_HANDLER(resume);
TASK_HANDLER(checkpoint);
TASK_HANDLER(update);
TASK_HANDLER(stats);
#undef TASK_HANDLER

#endif
