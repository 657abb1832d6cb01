#include "vmm/virtio/vhost_user.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/core/seccomp.h"
#include "vmm/virtio/virtio.h"

enum {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
};
#define VHOST_USER_VERSION 1
#define VHOST_USER_REPLY 0x4
#define VHOST_USER_F_PROTOCOL_FEATURES (1ull << 30)
/* Bounded, but past a loaded host's scheduling delays: in the nested-KVM lab, with other
 * VMs on the cores, a freshly started virtiofsd took more than 2 s to answer GET_FEATURES. */
#define VHOST_USER_TIMEOUT_S 10

struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

/* Header and the largest payload we send (a vring address or a one-region table). */
struct vu_msg {
	uint32_t request, flags, size;
	union {
		uint64_t u64;
		struct {
			uint32_t index, num;
		} state;
		uint8_t raw[40];
	} p;
} __attribute__((packed));

static int vu_send(struct vhost_user *u, uint32_t req, const void *payload, uint32_t size, int fd,
		   struct cc_error *err)
{
	struct vu_msg m = { .request = req, .flags = VHOST_USER_VERSION, .size = size };
	memcpy(&m.p, payload, size);
	struct iovec iov = { &m, offsetof(struct vu_msg, p) + size };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(u->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)iov.iov_len)
		return cc_error_set(err, n < 0 ? errno : EIO, "vhost-user request %u", req);
	return 0;
}

/* Replies carry a u64 (features, vring base); anything else is a broken backend. */
static int vu_get(struct vhost_user *u, uint32_t req, const void *payload, uint32_t size,
		  uint64_t *out, struct cc_error *err)
{
	if (vu_send(u, req, payload, size, -1, err) < 0)
		return -1;
	struct vu_msg m;
	const size_t want = offsetof(struct vu_msg, p) + sizeof(uint64_t);
	size_t got = 0;
	while (got < want) {
		ssize_t n = read(u->fd, (char *)&m + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cc_error_set(err, n < 0 ? errno : EPIPE, "vhost-user reply to %u",
					    req);
		got += (size_t)n;
	}
	if (m.request != req || !(m.flags & VHOST_USER_REPLY) || m.size != sizeof(uint64_t))
		return cc_error_set(err, EPROTO, "vhost-user: bad reply to request %u", req);
	/* state replies put the value in the second u32 */
	*out = req == VHOST_USER_GET_VRING_BASE ? m.p.state.num : m.p.u64;
	return 0;
}

int vhost_user_connect(struct vhost_user *u, const char *path, const struct guest_mem *m,
		       struct cc_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	*u = (struct vhost_user){ .fd = -1 };
	if (strlen(path) >= sizeof(sa.sun_path))
		return cc_error_set(err, ENAMETOOLONG, "vhost-user socket %s", path);
	strcpy(sa.sun_path, path);
	u->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u->fd < 0)
		return cc_error_set(err, errno, "socket");
	/* A backend that stops answering must not hang a vCPU forever. */
	struct timeval tv = { .tv_sec = VHOST_USER_TIMEOUT_S };
	setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(u->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(u->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return cc_error_set(err, errno, "connecting to vhost-user backend %s", path);
	if (vu_send(u, VHOST_USER_SET_OWNER, NULL, 0, -1, err) < 0 ||
	    vu_get(u, VHOST_USER_GET_FEATURES, NULL, 0, &u->features, err) < 0)
		return -1;
	if (u->features & VHOST_USER_F_PROTOCOL_FEATURES) {
		/* We need none of the protocol extensions; saying so keeps the backend simple. */
		uint64_t pf, none = 0;
		if (vu_get(u, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, &pf, err) < 0 ||
		    vu_send(u, VHOST_USER_SET_PROTOCOL_FEATURES, &none, 8, -1, err) < 0)
			return -1;
		u->protocol_features = true;
	}
	struct {
		uint32_t nregions, padding;
		struct vu_region r;
	} mt = { 1, 0, { 0, m->size, (uint64_t)(uintptr_t)m->host, 0 } };
	if (vu_send(u, VHOST_USER_SET_MEM_TABLE, &mt, sizeof(mt), m->fd, err) < 0)
		return -1;
	seccomp_allow_fd(u->fd);
	return 0;
}

int vhost_user_start(struct vhost_user *u, struct virtio_dev *d, struct cc_error *err)
{
	uint64_t f = d->driver_features | (u->features & VHOST_USER_F_PROTOCOL_FEATURES);
	if (vu_send(u, VHOST_USER_SET_FEATURES, &f, 8, -1, err) < 0)
		return -1;
	const uint8_t *base = d->mem->host;
	for (unsigned i = 0; i < d->ops->num_queues; i++) {
		const struct virtq *q = &d->vq[i];
		if (!q->ready)
			continue;
		struct {
			uint32_t index, num;
		} st = { i, q->size }, resume = { i, q->last_avail }, on = { i, 1 };
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} a = { i,
			0,
			(uint64_t)(uintptr_t)(base + q->desc_gpa),
			(uint64_t)(uintptr_t)(base + q->used_gpa),
			(uint64_t)(uintptr_t)(base + q->avail_gpa),
			0 };
		uint64_t idx = i;
		/* Ring placement was validated at QueueReady, so these addresses are in RAM. */
		if (vu_send(u, VHOST_USER_SET_VRING_NUM, &st, 8, -1, err) < 0 ||
		    vu_send(u, VHOST_USER_SET_VRING_BASE, &resume, 8, -1, err) < 0 ||
		    vu_send(u, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), -1, err) < 0 ||
		    vu_send(u, VHOST_USER_SET_VRING_CALL, &idx, 8, d->irq_fd, err) < 0 ||
		    vu_send(u, VHOST_USER_SET_VRING_KICK, &idx, 8, d->kick_fd[i], err) < 0)
			return -1;
		if (u->protocol_features &&
		    vu_send(u, VHOST_USER_SET_VRING_ENABLE, &on, 8, -1, err) < 0)
			return -1;
		u->started |= 1u << i;
	}
	return 0;
}

void vhost_user_stop(struct vhost_user *u, struct virtio_dev *d)
{
	struct cc_error err;
	for (unsigned i = 0; i < d->ops->num_queues; i++) {
		if (!(u->started & (1u << i)))
			continue;
		struct {
			uint32_t index, num;
		} st = { i, 0 };
		uint64_t base;
		if (vu_get(u, VHOST_USER_GET_VRING_BASE, &st, 8, &base, &err) < 0)
			cc_warn("virtio-fs: stopping queue %u: %s", i, err.msg);
		else /* where a restart (after a snapshot) resumes; a reset clears it */
			d->vq[i].last_avail = (uint16_t)base;
	}
	u->started = 0;
}
