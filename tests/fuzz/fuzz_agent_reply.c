/* The host side of the agent protocol, fed what a hostile guest may send: a byte stream
 * cut into ttrpc frames by the same incremental reader the shim and `cocoon run` use,
 * each Response decoded and turned into a result the way ttrpc_client_call does (status
 * text sanitized, payload unpacked), then the per-reply checks the callers apply. The
 * first input byte picks which reply the stream answers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shared/agent_proto.h"
#include "shared/log.h"
#include "shared/ttrpc.h"
#include "proto/agent.pb-c.h"
#include "proto/ttrpc.pb-c.h"

static const ProtobufCMessageDescriptor *const replies[] = {
	&cocoon__agent__v1__empty__descriptor,
	&cocoon__agent__v1__hello_response__descriptor,
	&cocoon__agent__v1__create_container_response__descriptor,
	&cocoon__agent__v1__exec_process_response__descriptor,
	&cocoon__agent__v1__wait_process_response__descriptor,
	&cocoon__agent__v1__read_stream_response__descriptor,
	&cocoon__agent__v1__write_stdin_response__descriptor,
	&cocoon__agent__v1__stats_response__descriptor,
	&cocoon__agent__v1__list_processes_response__descriptor,
};

static void check_reply(const ProtobufCMessageDescriptor *d, ProtobufCMessage *m)
{
	struct cc_error err;
	if (d == &cocoon__agent__v1__read_stream_response__descriptor) {
		agent_check_read_reply((Cocoon__Agent__V1__ReadStreamResponse *)m, 64u << 10, &err);
	} else if (d == &cocoon__agent__v1__hello_response__descriptor) {
		Cocoon__Agent__V1__HelloResponse *h = (Cocoon__Agent__V1__HelloResponse *)m;
		char kernel[128];
		snprintf(kernel, sizeof(kernel), "%s", h->kernel_release);
		ttrpc_sanitize_text(kernel);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	cc_log_init("fuzz", CC_LOG_ERROR, 2);
	const ProtobufCMessageDescriptor *d =
		replies[data[0] % (sizeof(replies) / sizeof(*replies))];
	int fd = memfd_create("stream", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1) ||
	    lseek(fd, 0, SEEK_SET))
		abort();
	struct ttrpc_reader rd;
	struct cc_error err;
	uint8_t *payload = NULL;
	ttrpc_reader_init(&rd);
	while (ttrpc_reader_read(&rd, fd, &payload, &err) == 1) {
		Ttrpc__Response *r = rd.h.type == TTRPC_TYPE_RESPONSE
					     ? ttrpc__response__unpack(NULL, rd.h.length, payload)
					     : NULL;
		free(payload);
		if (r == NULL)
			break; /* the client closes the connection on either */
		ProtobufCMessage *m = NULL;
		if (ttrpc_client_result(r, "fuzz", "Reply", d, &m, &err) == 0) {
			check_reply(d, m);
			protobuf_c_message_free_unpacked(m, NULL);
		} else if (strlen(err.msg) >= sizeof(err.msg)) {
			abort();
		} else {
			for (const unsigned char *p = (const unsigned char *)err.msg; *p; p++)
				if (*p < 0x20 || *p == 0x7f)
					abort(); /* control characters must never reach a terminal */
		}
		ttrpc__response__free_unpacked(r, NULL);
	}
	ttrpc_reader_free(&rd);
	close(fd);
	return 0;
}
