#include "shared/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void cc_freep(void *p)
{
	free(*(void **)p);
}

void cc_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void cc_fclosep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

int cc_write_all(int fd, const void *buf, size_t len, struct cc_error *err)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cc_error_set(err, errno, "write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#define EXTENT_PAGE 4096ull /* what cc_next_extent rounds to and cc_copy_extents counts */

bool cc_next_extent(int fd, uint64_t off, uint64_t size, uint64_t *data, uint64_t *hole)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);
	if (d < 0 || (uint64_t)d >= size)
		return false; /* ENXIO: no data past off */
	off_t h = lseek(fd, d, SEEK_HOLE);
	*data = (uint64_t)d & ~(EXTENT_PAGE - 1);
	*hole = h < 0 ? size : ((uint64_t)h + EXTENT_PAGE - 1) & ~(EXTENT_PAGE - 1);
	if (*hole > size)
		*hole = size;
	return true;
}

int cc_copy_extents(int to, int from, uint64_t size, uint64_t *pages, struct cc_error *err)
{
	*pages = 0;
	uint64_t data, hole;
	for (uint64_t off = 0; cc_next_extent(from, off, size, &data, &hole); off = hole) {
		if (lseek(to, (off_t)data, SEEK_SET) < 0)
			return cc_error_set(err, errno, "seeking");
		for (off_t at = (off_t)data; (uint64_t)at < hole;) {
			ssize_t n = sendfile(to, from, &at, hole - (uint64_t)at);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return cc_error_set(err, n < 0 ? errno : EIO, "copying");
		}
		*pages += (hole - data + EXTENT_PAGE - 1) / EXTENT_PAGE;
	}
	return 0;
}

ssize_t cc_read_all(int fd, void *buf, size_t len, struct cc_error *err)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cc_error_set(err, errno, "read");
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int cc_read_file(const char *path, size_t max, char **out, size_t *out_len, struct cc_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cc_error_set(err, errno, "open %s", path);
	size_t cap = 4096, len = 0;
	cleanup_free char *buf = malloc(cap + 1);
	if (buf == NULL)
		return cc_error_set(err, ENOMEM, "read %s", path);
	for (;;) {
		if (len == cap) {
			if (cap >= max)
				return cc_error_set(err, 0, "%s is larger than %zu bytes", path,
						    max);
			cap = cap * 2 > max ? max : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (nb == NULL)
				return cc_error_set(err, ENOMEM, "read %s", path);
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cc_error_set(err, errno, "read %s", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = cc_steal_ptr(&buf);
	if (out_len != NULL)
		*out_len = len;
	return 0;
}

int cc_write_file(const char *path, const void *data, size_t len, int mode, struct cc_error *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return cc_error_set(err, errno, "open %s", path);
	if (cc_write_all(fd, data, len, err) < 0)
		return cc_error_prefix(err, "%s", path);
	return 0;
}

int cc_unix_connect(const char *path, struct cc_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return cc_error_set(err, ENAMETOOLONG, "socket path %s", path);
	memcpy(sa.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cc_error_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return cc_error_set(err, e, "connect %s", path);
	}
	return fd;
}

int cc_unix_listen(const char *path, int backlog, int flags, struct cc_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return cc_error_set(err, ENAMETOOLONG, "unix socket %s", path);
	memcpy(sa.sun_path, path, n + 1);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | flags, 0);
	if (fd < 0)
		return cc_error_set(err, errno, "unix socket");
	if (unlink(path) < 0 && errno != ENOENT)
		return cc_error_set(err, errno, "remove stale %s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return cc_error_set(err, errno, "bind %s", path);
	if (listen(fd, backlog) < 0)
		return cc_error_set(err, errno, "listen %s", path);
	return cc_steal_fd(&fd);
}

int cc_mkdir_p(const char *path, int mode, struct cc_error *err)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf))
		return cc_error_set(err, ENAMETOOLONG, "mkdir %s", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
			return cc_error_set(err, errno, "mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
		return cc_error_set(err, errno, "mkdir %s", buf);
	return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
	return (r < 0 && errno != ENOENT) ? -1 : 0;
}

int cc_rm_rf(const char *path, struct cc_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : cc_error_set(err, errno, "stat %s", path);
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return cc_error_set(err, errno, "remove %s", path);
	return 0;
}

int cc_parse_size(const char *s, uint64_t *out, struct cc_error *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return cc_error_set(err, 0, "invalid size '%s'", s);
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default: return cc_error_set(err, 0, "invalid size '%s' (use a number with k, M or G)", s);
	}
	if (*end == 'i' || *end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || (shift != 0 && v > (UINT64_MAX >> shift)))
		return cc_error_set(err, 0, "invalid size '%s'", s);
	*out = (uint64_t)v << shift;
	return 0;
}

char *cc_strdup_printf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

struct timespec cc_timespec_after(clockid_t clk, int ms)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
