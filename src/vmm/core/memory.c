#include "vmm/core/memory.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int gmem_create(struct guest_mem *m, uint64_t size, struct cc_error *err)
{
	m->host = NULL;
	m->size = size;
	m->fd = memfd_create("cocoon-guest-ram", MFD_CLOEXEC);
	if (m->fd < 0)
		return cc_error_set(err, errno, "memfd_create for guest RAM");
	if (ftruncate(m->fd, (off_t)size) < 0) {
		cc_error_set(err, errno, "sizing guest RAM to %llu bytes",
			     (unsigned long long)size);
		goto fail;
	}
	/* MAP_NORESERVE: pages are committed only when the guest touches them. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->fd, 0);
	if (p == MAP_FAILED) {
		cc_error_set(err, errno, "mapping guest RAM");
		goto fail;
	}
	m->host = p;
	return 0;
fail:
	close(m->fd);
	m->fd = -1;
	return -1;
}

int gmem_adopt(struct guest_mem *m, int fd, uint64_t size, struct cc_error *err)
{
	struct stat st;
	m->host = NULL;
	m->size = size;
	m->fd = -1;
	if (fstat(fd, &st) < 0)
		return cc_error_set(err, errno, "guest RAM file (fd %d)", fd);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return cc_error_set(
			err, 0, "guest RAM file (fd %d): %lld bytes, the snapshot's RAM is %llu",
			fd, S_ISREG(st.st_mode) ? (long long)st.st_size : -1LL,
			(unsigned long long)size);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return cc_error_set(err, errno, "mapping the guest RAM file (fd %d)", fd);
	m->host = p;
	m->fd = fd;
	return 0;
}

void gmem_destroy(struct guest_mem *m)
{
	if (m->host != NULL)
		munmap(m->host, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->host = NULL;
	m->fd = -1;
}

void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->host + gpa;
}
