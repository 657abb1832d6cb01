/* Small shared helpers: scope-bound cleanup (as in crun) and whole-buffer I/O. */
#ifndef COCOON_UTIL_H
#define COCOON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "shared/error.h"

void cc_freep(void *p);
void cc_closep(int *fd);
void cc_fclosep(FILE **f);

#define cleanup_free __attribute__((cleanup(cc_freep)))
#define cleanup_close __attribute__((cleanup(cc_closep)))
#define cleanup_fclose __attribute__((cleanup(cc_fclosep)))

#define CC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hands ownership out of a cleanup_* variable. */
static inline void *cc_steal_ptr(void *pp)
{
	void **p = (void **)pp, *v = *p;
	*p = NULL;
	return v;
}
static inline int cc_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* write()/read() the whole buffer, retrying on EINTR and short transfers.
 * cc_read_all returns the bytes read (less than len only at EOF). */
int cc_write_all(int fd, const void *buf, size_t len, struct cc_error *err);
ssize_t cc_read_all(int fd, void *buf, size_t len, struct cc_error *err);

/* Reads a whole file (at most max bytes, else an error naming the file); NUL-terminates. */
int cc_read_file(const char *path, size_t max, char **out, size_t *out_len, struct cc_error *err);
int cc_write_file(const char *path, const void *data, size_t len, int mode, struct cc_error *err);

int cc_mkdir_p(const char *path, int mode, struct cc_error *err);
/* A close-on-exec stream socket connected to the unix socket at path. On failure
 * err->err_no tells a missing socket file (ENOENT) from one nobody listens on. */
int cc_unix_connect(const char *path, struct cc_error *err);
/* A stream socket listening at path (a stale file there is removed first). flags:
 * SOCK_CLOEXEC, SOCK_NONBLOCK as for socket(2). Fails naming a path too long for a
 * unix socket (ENAMETOOLONG), or the bind or listen that failed. */
int cc_unix_listen(const char *path, int backlog, int flags, struct cc_error *err);
/* The next data extent of fd's first size bytes at or after off (SEEK_DATA/SEEK_HOLE),
 * rounded out to 4 KiB pages: [*data, *hole). False when there is no more data. */
bool cc_next_extent(int fd, uint64_t off, uint64_t size, uint64_t *data, uint64_t *hole);
/* Copies the data extents (cc_next_extent) of the first size bytes of from into to at
 * the same offsets, by the kernel (sendfile); holes are not written, so they stay holes
 * in a sparse to. *pages: the 4 KiB pages copied. */
int cc_copy_extents(int to, int from, uint64_t size, uint64_t *pages, struct cc_error *err);
/* Removes a tree without crossing mount points; missing is not an error. */
int cc_rm_rf(const char *path, struct cc_error *err);

/* Parses "512", "512M", "2G", "64k" (bytes; suffixes are binary). */
int cc_parse_size(const char *s, uint64_t *out, struct cc_error *err);

/* The time ms milliseconds from now on clock clk, for pthread_cond_timedwait and the like. */
struct timespec cc_timespec_after(clockid_t clk, int ms);

char *cc_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
