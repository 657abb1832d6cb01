/* Helpers for freestanding test guests, 32-bit (PVH) and 64-bit (bzImage) alike. Ring-0
 * code is emulated on PVM hosts (~2 us per instruction), so everything here polls with
 * as few instructions as possible. */
#ifndef GUEST_H
#define GUEST_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void puts(const char *s)
{
	while (*s)
		outb(0x3f8, (u8)*s++);
}

static inline void puthex(u32 v, int digits)
{
	while (digits--)
		outb(0x3f8, (u8) "0123456789abcdef"[(v >> (digits * 4)) & 0xf]);
}

static inline u32 mmio_read(u32 addr)
{
	return *(volatile u32 *)(unsigned long)addr;
}

static inline void mmio_write(u32 addr, u32 v)
{
	*(volatile u32 *)(unsigned long)addr = v;
}

static inline void *memset(void *d, int c, unsigned n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

static inline void *memcpy(void *d, const void *s, unsigned n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

static inline int memcmp(const void *a, const void *b, unsigned n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

/* virtio-mmio (version 2) driver, one queue size, polled. */
#define VIRTIO_BASE 0xd0000000u
#define VQ_SIZE 8

struct vdesc {
	u64 addr;
	u32 len;
	u16 flags, next;
};
struct vavail {
	u16 flags, idx, ring[VQ_SIZE];
};
struct vused {
	u16 flags;
	volatile u16 idx;
	struct {
		u32 id, len;
	} ring[VQ_SIZE];
};
struct vq {
	struct vdesc desc[VQ_SIZE] __attribute__((aligned(16)));
	struct vavail avail __attribute__((aligned(2)));
	struct vused used __attribute__((aligned(4)));
	u16 next_used;
	u32 notify;
	u16 qid;
};

#define VD_NEXT 1
#define VD_WRITE 2

/* Finds the device with this id among the first 8 windows; 0 if none. */
static inline u32 virtio_find(u32 device_id)
{
	for (u32 b = VIRTIO_BASE; b < VIRTIO_BASE + 8 * 0x1000; b += 0x1000)
		if (mmio_read(b + 0x8) == device_id && mmio_read(b) == 0x74726976)
			return b;
	return 0;
}

static inline int virtio_init(u32 base)
{
	mmio_write(base + 0x70, 0);
	mmio_write(base + 0x70, 1 | 2); /* ACKNOWLEDGE | DRIVER */
	mmio_write(base + 0x24, 1);
	mmio_write(base + 0x20, 1);	    /* VIRTIO_F_VERSION_1 */
	mmio_write(base + 0x70, 1 | 2 | 8); /* FEATURES_OK */
	return (mmio_read(base + 0x70) & 8) ? 0 : -1;
}

static inline void virtio_queue(u32 base, struct vq *q, u16 qid)
{
	q->qid = qid;
	q->notify = base + 0x50;
	mmio_write(base + 0x30, qid);
	mmio_write(base + 0x38, VQ_SIZE);
	mmio_write(base + 0x80, (u32)(unsigned long)q->desc);
	mmio_write(base + 0x84, 0);
	mmio_write(base + 0x90, (u32)(unsigned long)&q->avail);
	mmio_write(base + 0x94, 0);
	mmio_write(base + 0xa0, (u32)(unsigned long)&q->used);
	mmio_write(base + 0xa4, 0);
	mmio_write(base + 0x44, 1);
}

static inline void virtio_ready(u32 base)
{
	mmio_write(base + 0x70, 1 | 2 | 8 | 4); /* DRIVER_OK */
}

/* Makes descriptor head available and kicks the device. */
static inline void vq_submit(struct vq *q, u16 head)
{
	q->avail.ring[q->avail.idx % VQ_SIZE] = head;
	__asm__ volatile("" ::: "memory");
	q->avail.idx++;
	mmio_write(q->notify, q->qid);
}

/* Waits for the next used element; returns its length. */
static inline u32 vq_wait(struct vq *q)
{
	while (q->used.idx == q->next_used)
		__asm__ volatile("pause");
	u32 len = q->used.ring[q->next_used % VQ_SIZE].len;
	q->next_used++;
	return len;
}

#endif
