#include "agent/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* First allocation; doubled up to STREAM_BUFFER_MAX as output piles up. */
#define STREAM_BUFFER_MIN (16u << 10)

void stream_init(struct stream *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->eof = fd < 0;
}

void stream_close(struct stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->eof = true;
}

/* Makes room at the tail: compacts, then grows. Returns the free bytes at the tail. */
static size_t stream_room(struct stream *s)
{
	if (s->head == s->len)
		s->head = s->len = 0;
	if (s->head > 0 && s->cap - s->len < STREAM_BUFFER_MIN) {
		memmove(s->buf, s->buf + s->head, s->len - s->head);
		s->len -= s->head;
		s->head = 0;
	}
	if (s->len == s->cap && s->cap < STREAM_BUFFER_MAX) {
		size_t ncap = s->cap == 0 ? STREAM_BUFFER_MIN : s->cap * 2;
		if (ncap > STREAM_BUFFER_MAX)
			ncap = STREAM_BUFFER_MAX;
		uint8_t *nb = realloc(s->buf, ncap);
		if (nb == NULL)
			return 0; /* treated like a full buffer; retried after the host reads */
		s->buf = nb;
		s->cap = ncap;
	}
	return s->cap - s->len;
}

size_t stream_fill(struct stream *s, int *errno_out)
{
	size_t total = 0;
	*errno_out = 0;
	while (s->fd >= 0 && !s->eof) {
		size_t room = stream_room(s);
		if (room == 0)
			break;
		ssize_t n = read(s->fd, s->buf + s->len, room);
		if (n > 0) {
			s->len += (size_t)n;
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0 && errno != EIO)
			*errno_out = errno;
		s->eof = true;
	}
	return total;
}

size_t stream_avail(const struct stream *s)
{
	return s->len - s->head;
}

const uint8_t *stream_data(const struct stream *s)
{
	return s->buf + s->head;
}

void stream_consume(struct stream *s, size_t n)
{
	if (n > stream_avail(s))
		n = stream_avail(s);
	s->head += n;
	if (s->head == s->len)
		s->head = s->len = 0;
}

bool stream_full(const struct stream *s)
{
	return s->len - s->head >= STREAM_BUFFER_MAX;
}

bool stream_done(const struct stream *s)
{
	return s->eof && stream_avail(s) == 0;
}

void stream_free(struct stream *s)
{
	stream_close(s);
	free(s->buf);
	s->buf = NULL;
	s->head = s->len = s->cap = 0;
}
