/* Constants of the host <-> cocoon-agent protocol (proto/agent.proto) shared by both
 * ends, and the id check both apply to container and exec ids. */
#ifndef COCOON_AGENT_PROTO_H
#define COCOON_AGENT_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"

/* Bump when a message or method changes meaning; Hello refuses a mismatch. */
#define AGENT_PROTOCOL_VERSION 1
#define AGENT_SERVICE "cocoon.agent.v1.Agent"

#define AGENT_VSOCK_PORT 1024
#define AGENT_SERIAL_PORT_NAME "agent" /* virtserialport name=agent */

/* The sandbox's shared directory: virtio-fs tag, and where the agent mounts it. */
#define SANDBOX_FS_TAG "cocoon"
#define SANDBOX_GUEST_SHARED "/run/cocoon/shared"
/* Memory-backed emptyDir volumes live in the guest: a tmpfs per volume at
 * SANDBOX_GUEST_MEMORY/<volume name>, mounted by the agent on first use and shared by the
 * pod's containers; its size comes in the bind mount's option SANDBOX_TMPFS_SIZE_OPT<bytes>. */
#define SANDBOX_GUEST_MEMORY "/run/cocoon/memory"
#define SANDBOX_TMPFS_SIZE_OPT "x-cocoon.tmpfs-size="

#define AGENT_MAX_ID_LEN 100u	  /* what container.h accepts as a container id */
#define AGENT_MAX_READ (1u << 20) /* ReadStream.max_len cap */

/* Ids are 1..AGENT_MAX_ID_LEN characters of [A-Za-z0-9_.-], not starting with '.'
 * (what containerd allows), so they are safe in paths and logs. The one check of ids
 * for the agent, the shim and the guest's cgroups. allow_empty: "" is valid (the init's exec id).
 * On failure err names `what` and carries TTRPC_INVALID_ARGUMENT. */
int agent_check_id(const char *what, const char *id, bool allow_empty, struct cc_error *err);

/* The host's check of a ReadStream reply (data is the guest's): at most the max_len
 * it asked for. */
struct Cocoon__Agent__V1__ReadStreamResponse;
int agent_check_read_reply(const struct Cocoon__Agent__V1__ReadStreamResponse *r, uint32_t max_len,
			   struct cc_error *err);

#endif
