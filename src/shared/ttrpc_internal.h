/* Helpers shared by the ttrpc frame, server and client files; not a public API. */
#ifndef COCOON_TTRPC_INTERNAL_H
#define COCOON_TTRPC_INTERNAL_H

#include "shared/ttrpc.h"

/* ttrpc_write_frame with a CLOCK_MONOTONIC deadline (0 = none) for a peer that stops
 * reading; *sent (may be NULL) counts the bytes that went out. A frame cut short by the
 * deadline (0 < *sent < whole frame) leaves the stream unusable. */
int ttrpc_write_frame_until(int fd, const struct ttrpc_header *h, const void *payload,
			    uint64_t deadline_ns, size_t *sent, struct cc_error *err);

/* Packs msg into a malloc'd buffer (never NULL on success), refusing more than
 * TTRPC_MAX_PAYLOAD bytes; `what` names the message in the error. */
int ttrpc_pack(const ProtobufCMessage *msg, const char *what, uint8_t **out, size_t *len,
	       struct cc_error *err);

#endif
