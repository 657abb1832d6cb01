/* ttrpc framing: the 10-byte header, an incremental reader for non-blocking fds and
 * a whole-frame writer. Everything read is bounded before anything is allocated. */
#include "shared/ttrpc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/ttrpc_internal.h"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN])
{
	put_be32(out, h->length);
	put_be32(out + 4, h->stream_id);
	out[8] = h->type;
	out[9] = h->flags;
}

int ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h,
			struct cc_error *err)
{
	h->length = get_be32(in);
	h->stream_id = get_be32(in + 4);
	h->type = in[8];
	h->flags = in[9];
	if (h->length > TTRPC_MAX_PAYLOAD)
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED,
				     "ttrpc: frame length %u exceeds the maximum %u", h->length,
				     TTRPC_MAX_PAYLOAD);
	if (h->type != TTRPC_TYPE_REQUEST && h->type != TTRPC_TYPE_RESPONSE)
		return cc_error_code(err, TTRPC_INTERNAL,
				     "ttrpc: unknown frame type %u on stream %u", h->type,
				     h->stream_id);
	return 0;
}

void ttrpc_reader_init(struct ttrpc_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void ttrpc_reader_free(struct ttrpc_reader *r)
{
	free(r->payload);
	ttrpc_reader_init(r);
}

/* One read(): >0 bytes, 0 at EOF, -1 with errno (EINTR already retried). */
static ssize_t read_some(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int read_failed(struct ttrpc_reader *r, ssize_t n, struct cc_error *err)
{
	if (n < 0)
		return cc_error_set(err, errno, "ttrpc: read");
	if (r->hdr_got == 0)
		return cc_error_set(err, 0, "connection closed");
	if (r->hdr_got < TTRPC_HEADER_LEN)
		return cc_error_set(err, 0,
				    "ttrpc: connection closed mid-frame (%zu of %d header bytes)",
				    r->hdr_got, TTRPC_HEADER_LEN);
	return cc_error_set(err, 0, "ttrpc: connection closed mid-frame (%zu of %u payload bytes)",
			    r->got, r->h.length);
}

int ttrpc_reader_read(struct ttrpc_reader *r, int fd, uint8_t **payload, struct cc_error *err)
{
	while (r->hdr_got < TTRPC_HEADER_LEN) {
		ssize_t n = read_some(fd, r->hdr + r->hdr_got, TTRPC_HEADER_LEN - r->hdr_got);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return read_failed(r, n, err);
		r->hdr_got += (size_t)n;
		if (r->hdr_got < TTRPC_HEADER_LEN)
			continue;
		if (ttrpc_header_decode(r->hdr, &r->h, err) < 0)
			return -1;
		/* +1: a zero-length payload still gets a distinct, freeable buffer. */
		r->payload = malloc(r->h.length + 1);
		if (r->payload == NULL)
			return cc_error_set(err, ENOMEM, "ttrpc: frame of %u bytes", r->h.length);
		r->got = 0;
	}
	while (r->got < r->h.length) {
		ssize_t n = read_some(fd, r->payload + r->got, r->h.length - r->got);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return read_failed(r, n, err);
		r->got += (size_t)n;
	}
	*payload = r->payload;
	r->payload = NULL;
	r->hdr_got = 0;
	r->got = 0;
	return 1;
}

/* Waits for fd to become writable until deadline_ns (CLOCK_MONOTONIC, 0 = forever). */
static int wait_writable(int fd, uint64_t deadline_ns, struct cc_error *err)
{
	for (;;) {
		int timeout = -1;
		if (deadline_ns != 0) {
			uint64_t now = cc_now_ns();
			if (now >= deadline_ns)
				return cc_error_code(err, TTRPC_DEADLINE_EXCEEDED,
						     "ttrpc: timed out writing a frame");
			timeout = (int)((deadline_ns - now + 999999) / 1000000);
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int n = poll(&p, 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cc_error_set(err, errno, "ttrpc: poll");
		if (n > 0)
			return 0;
	}
}

/* sendmsg with MSG_NOSIGNAL so a vanished peer is an EPIPE error, not a SIGPIPE;
 * writev for fds that are not sockets (serial ports, pipes). */
static ssize_t write_iov(int fd, struct iovec *iov, int iovcnt)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
	if (n < 0 && errno == ENOTSOCK)
		n = writev(fd, iov, iovcnt);
	return n;
}

int ttrpc_write_frame_until(int fd, const struct ttrpc_header *h, const void *payload,
			    uint64_t deadline_ns, size_t *sent, struct cc_error *err)
{
	uint8_t hdr[TTRPC_HEADER_LEN];
	size_t dummy;
	if (sent == NULL)
		sent = &dummy;
	*sent = 0;
	if (h->length > TTRPC_MAX_PAYLOAD)
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED,
				     "ttrpc: message of %u bytes exceeds the maximum %u", h->length,
				     TTRPC_MAX_PAYLOAD);
	ttrpc_header_encode(h, hdr);
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = h->length },
	};
	int i = 0, cnt = h->length > 0 ? 2 : 1;
	while (i < cnt) {
		ssize_t n = write_iov(fd, iov + i, cnt - i);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_writable(fd, deadline_ns, err) < 0)
				return -1;
			continue;
		}
		if (n < 0)
			return cc_error_set(err, errno, "ttrpc: write");
		*sent += (size_t)n;
		size_t left = (size_t)n;
		while (i < cnt && left >= iov[i].iov_len)
			left -= iov[i++].iov_len;
		if (i < cnt) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + left;
			iov[i].iov_len -= left;
		}
	}
	return 0;
}

int ttrpc_write_frame(int fd, const struct ttrpc_header *h, const void *payload,
		      struct cc_error *err)
{
	return ttrpc_write_frame_until(fd, h, payload, 0, NULL, err);
}

int ttrpc_pack(const ProtobufCMessage *msg, const char *what, uint8_t **out, size_t *len,
	       struct cc_error *err)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > TTRPC_MAX_PAYLOAD)
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED,
				     "ttrpc: %s of %zu bytes exceeds the maximum %u", what, n,
				     TTRPC_MAX_PAYLOAD);
	uint8_t *buf = malloc(n + 1);
	if (buf == NULL)
		return cc_error_set(err, ENOMEM, "ttrpc: packing %s", what);
	*len = protobuf_c_message_pack(msg, buf);
	*out = buf;
	return 0;
}
