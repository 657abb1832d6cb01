/* A process's output stream in the agent: the read end of its stdout/stderr pipe (or
 * pty master) and a bounded buffer of what was read but not yet sent to the host.
 * When the buffer is full the agent stops reading the fd, so a slow host makes the
 * process block on write (backpressure) instead of the guest running out of memory. */
#ifndef COCOON_AGENT_STREAM_H
#define COCOON_AGENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_BUFFER_MAX (1u << 20)

struct stream {
	int fd; /* -1 once closed (EOF seen) */
	bool eof;
	uint8_t *buf; /* data is buf[head, len) */
	size_t head, len, cap;
};

void stream_init(struct stream *s, int fd);
/* Reads what fd has until EAGAIN, EOF or a full buffer. EOF (read 0, or EIO from a
 * pty master whose slave side is all closed) sets eof; the owner then unregisters fd
 * from epoll and calls stream_close. Read errors other than EAGAIN also end the stream
 * (errno_out says which). Returns the bytes read. */
size_t stream_fill(struct stream *s, int *errno_out);
void stream_close(struct stream *s);
size_t stream_avail(const struct stream *s);
const uint8_t *stream_data(const struct stream *s);
void stream_consume(struct stream *s, size_t n);
bool stream_full(const struct stream *s);
/* EOF seen and every byte handed out. */
bool stream_done(const struct stream *s);
void stream_free(struct stream *s);

#endif
