#include "vmm/virtio/virtqueue.h"

#include <string.h>
#include <sys/uio.h>

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

void virtq_reset(struct virtq *q)
{
	*q = (struct virtq){ 0 };
}

int virtq_validate(const struct virtq *q, const struct guest_mem *m)
{
	uint64_t n = q->size;
	if (n == 0 || n > VQ_MAX_SIZE || (n & (n - 1)) != 0)
		return -1;
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return -1;
	if (gmem_ptr(m, q->desc_gpa, 16 * n) == NULL ||
	    gmem_ptr(m, q->avail_gpa, 6 + 2 * n) == NULL ||
	    gmem_ptr(m, q->used_gpa, 6 + 8 * n) == NULL)
		return -1;
	return 0;
}

static uint16_t load16(const struct guest_mem *m, uint64_t gpa)
{
	/* Ring placement was validated; re-checking keeps a reset race harmless. */
	uint16_t *p = gmem_ptr(m, gpa, 2);
	return p == NULL ? 0 : __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int add_seg(struct vq_chain *c, const struct guest_mem *m, const struct vring_desc *d)
{
	uint8_t *p = gmem_ptr(m, d->addr, d->len);
	if (p == NULL || c->n_out + c->n_in == VQ_MAX_SEGS)
		return -1;
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		c->in_len += d->len;
		c->n_in++;
	} else {
		if (c->n_in > 0) /* readable after writable breaks the spec's ordering */
			return -1;
		c->out_len += d->len;
		c->n_out++;
	}
	c->seg[c->n_out + c->n_in - 1] = (struct vq_seg){ p, d->len };
	return 0;
}

int virtq_pop(struct virtq *q, const struct guest_mem *m, struct vq_chain *c)
{
	if (!q->ready || virtq_validate(q, m) < 0)
		return q->ready ? -1 : 0;
	uint16_t avail_idx = load16(m, q->avail_gpa + 2);
	uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return -1;
	uint16_t head = load16(m, q->avail_gpa + 4 + 2ull * (q->last_avail & (q->size - 1)));
	if (head >= q->size)
		return -1;
	q->last_avail++;

	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;

	uint64_t table = q->desc_gpa;
	uint32_t table_len = q->size, idx = head, seen = 0;
	bool indirect = false;
	for (;;) {
		struct vring_desc d;
		if (++seen > table_len) /* more links than entries: a loop */
			return -1;
		const void *src = gmem_ptr(m, table + 16ull * idx, 16);
		if (src == NULL)
			return -1;
		memcpy(&d, src, sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* Only as the sole descriptor of a direct chain, never nested. */
			if (indirect || seen != 1 || (d.flags & VIRTQ_DESC_F_NEXT) || d.len == 0 ||
			    d.len % 16 != 0 || gmem_ptr(m, d.addr, d.len) == NULL)
				return -1;
			table = d.addr;
			table_len = d.len / 16;
			idx = 0;
			seen = 0;
			indirect = true;
			continue;
		}
		if (add_seg(c, m, &d) < 0)
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 1;
		idx = d.next;
		if (idx >= table_len)
			return -1;
	}
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

void virtq_push(struct virtq *q, const struct guest_mem *m, uint16_t head, uint32_t written)
{
	uint32_t *elem = gmem_ptr(m, q->used_gpa + 4 + 8ull * (q->used_idx & (q->size - 1)), 8);
	uint16_t *idx = gmem_ptr(m, q->used_gpa + 2, 2);
	if (elem == NULL || idx == NULL || q->size == 0)
		return;
	elem[0] = head;
	elem[1] = written;
	q->used_idx++;
	__atomic_store_n(idx, q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(const struct virtq *q, const struct guest_mem *m)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !(load16(m, q->avail_gpa) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

size_t vq_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < c->n_out && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off < len - done ? s->len - off : len - done;
		memcpy((uint8_t *)dst + done, s->ptr + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vq_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len)
{
	size_t done = 0;
	for (unsigned i = c->n_out; i < c->n_out + c->n_in && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off < len - done ? s->len - off : len - done;
		memcpy(s->ptr + off, (const uint8_t *)src + done, n);
		done += n;
		off = 0;
	}
	return done;
}

unsigned vq_iov(const struct vq_chain *c, bool writable, uint64_t off, uint64_t len,
		struct iovec *iov, unsigned max)
{
	unsigned first = writable ? c->n_out : 0, end = writable ? c->n_out + c->n_in : c->n_out;
	unsigned n = 0;
	for (unsigned i = first; i < end && len > 0 && n < max; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint64_t take = s->len - off < len ? s->len - off : len;
		iov[n++] = (struct iovec){ s->ptr + off, (size_t)take };
		len -= take;
		off = 0;
	}
	return n;
}
