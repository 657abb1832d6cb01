#include "shared/agent_proto.h"

#include <string.h>

#include "shared/ttrpc.h"
#include "proto/agent.pb-c.h"

int agent_check_id(const char *what, const char *id, bool allow_empty, struct cc_error *err)
{
	size_t n = id == NULL ? 0 : strlen(id);
	if (n == 0) {
		if (allow_empty)
			return 0;
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "%s is empty", what);
	}
	if (n > AGENT_MAX_ID_LEN)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "%s is longer than %u characters",
				     what, AGENT_MAX_ID_LEN);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "%s contains '%c' (allowed: A-Z a-z 0-9 _ . -)", what,
					     (c >= 0x20 && c < 0x7f) ? c : '?');
	}
	/* "." and ".." would name directories if an id ever becomes a path component;
	 * containerd's ids start with a letter or digit anyway. */
	if (id[0] == '.')
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "%s '%s' is not allowed", what,
				     id);
	return 0;
}

int agent_check_read_reply(const Cocoon__Agent__V1__ReadStreamResponse *r, uint32_t max_len,
			   struct cc_error *err)
{
	if (r->data.len > max_len)
		return cc_error_code(
			err, TTRPC_INTERNAL,
			"agent ReadStream: %zu bytes in a reply to a read of at most %u",
			r->data.len, max_len);
	return 0;
}
