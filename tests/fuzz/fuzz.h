/* Shared by the libFuzzer targets: the input becomes one virtqueue (size and ring
 * addresses from the first 16 bytes) in synthetic guest RAM (the rest of the input).
 * RAM is an exact-size heap block, so ASan catches any read or write outside it. */
#ifndef COCOON_FUZZ_H
#define COCOON_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "vmm/core/memory.h"
#include "vmm/virtio/virtqueue.h"

#define FUZZ_RAM (64 * 1024)
#define FUZZ_HDR 16
#define FUZZ_MAX_CHAINS 64

struct fuzz {
	struct guest_mem mem;
	struct virtq q;
};

static inline uint16_t fuzz_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Nonzero when the input is too short to describe a queue. Free with fuzz_end(). */
static inline int fuzz_begin(struct fuzz *f, const uint8_t *data, size_t size)
{
	if (size < FUZZ_HDR)
		return -1;
	cc_log_init("fuzz", CC_LOG_ERROR, 2);
	f->mem = (struct guest_mem){ .host = calloc(1, FUZZ_RAM), .size = FUZZ_RAM, .fd = -1 };
	if (f->mem.host == NULL)
		abort();
	size_t n = size - FUZZ_HDR < FUZZ_RAM ? size - FUZZ_HDR : FUZZ_RAM;
	memcpy(f->mem.host, data + FUZZ_HDR, n);
	/* Addresses mostly inside RAM (scaled), sometimes anywhere (raw, bit 7 of byte 1). */
	bool raw = data[1] & 0x80;
	f->q = (struct virtq){
		.size = (uint16_t)(1u << (data[0] % 10)), /* 1..512: 512 is invalid on purpose */
		.ready = true,
		.desc_gpa = raw ? (uint64_t)fuzz_u16(data + 2) << 16 : fuzz_u16(data + 2),
		.avail_gpa = fuzz_u16(data + 4),
		.used_gpa = fuzz_u16(data + 6),
		.last_avail = fuzz_u16(data + 8),
		.used_idx = fuzz_u16(data + 10),
	};
	return 0;
}

static inline void fuzz_end(struct fuzz *f)
{
	free(f->mem.host);
}

#endif
