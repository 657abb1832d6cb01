/* Guest RAM: one memfd-backed region at guest physical 0, shareable with vhost-user
 * backends (the fd is sent to them with SET_MEM_TABLE). */
#ifndef COCOON_VMM_MEMORY_H
#define COCOON_VMM_MEMORY_H

#include <stdint.h>

#include "shared/error.h"

struct guest_mem {
	uint8_t *host;
	uint64_t size;
	int fd; /* memfd, -1 for synthetic memory in tests */
};

int gmem_create(struct guest_mem *m, uint64_t size, struct cc_error *err);
/* Guest RAM that already holds what it should (a spare copy of a snapshot's RAM, opened
 * read-write by our parent): fd, a regular file of exactly size bytes, mapped shared. The
 * fd is the guest memory's from then on (gmem_destroy closes it). */
int gmem_adopt(struct guest_mem *m, int fd, uint64_t size, struct cc_error *err);
void gmem_destroy(struct guest_mem *m);
/* Host pointer for [gpa, gpa+len) or NULL when any byte of it lies outside RAM.
 * Every guest-supplied address goes through here. */
void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

#endif
