#include "vmm/core/memory.h"

#include <errno.h>
#include <sys/mman.h>
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
