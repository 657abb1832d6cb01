/* virtio-net on a tap device. The tap is opened with IFF_VNET_HDR and a 12-byte header,
 * the same layout as virtio's struct virtio_net_hdr_v1, so frames move between guest
 * buffers and the tap with one readv/writev each and no copy. No offloads are offered
 * (no checksum or segmentation features), which keeps the header all zeroes and the
 * device model small; the tap then never hands us GSO frames, and on tx the guest's
 * header is replaced by zeroes (a hostile guest could otherwise still ask for them).
 * Back-pressure: with no rx buffers posted, the tap leaves epoll until the guest posts
 * some; a tx frame the tap cannot take right now is dropped, as a NIC would. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/virtio/virtio.h"
#include "vmm/devices/net.h"
#include "vmm/core/vmm.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_STATUS (1ull << 16)
#define VIRTIO_NET_S_LINK_UP 1
enum { RXQ, TXQ };

struct net {
	struct virtio_dev dev;
	struct vmm *vmm;
	int tap;
	struct loop_handler *h;
	bool rx_on;
	uint8_t mac[6];
};

int net_check_tx(const struct vq_chain *c)
{
	if (c->n_in != 0 || c->out_len < NET_HDR_LEN || c->out_len > NET_FRAME_MAX)
		return -1;
	return 0;
}

unsigned net_tx_iov(const struct vq_chain *c, struct iovec *iov)
{
	static const uint8_t zero_hdr[NET_HDR_LEN];
	iov[0] = (struct iovec){ .iov_base = (void *)zero_hdr, .iov_len = NET_HDR_LEN };
	return 1 + vq_iov(c, false, NET_HDR_LEN, c->out_len - NET_HDR_LEN, iov + 1, VQ_MAX_SEGS);
}

static void rx_enable(struct net *n, bool on)
{
	if (n->rx_on != on && loop_mod(&n->vmm->loop, n->h, on ? EPOLLIN : 0) == 0)
		n->rx_on = on;
}

static void net_rx(struct net *n)
{
	struct virtio_dev *d = &n->dev;
	struct vq_chain c;
	bool used = false;
	for (int round = 0; round < 32; round++) {
		if (!virtio_dev_running(d) || virtq_pop(&d->vq[RXQ], d->mem, &c) <= 0) {
			rx_enable(n, false);
			break;
		}
		if (c.n_out > 0 || c.in_len < NET_HDR_LEN) {
			virtio_dev_fail(d, "rx buffer cannot hold a frame header");
			break;
		}
		struct iovec iov[VQ_MAX_SEGS];
		unsigned k = vq_iov(&c, true, 0, c.in_len, iov, VQ_MAX_SEGS);
		ssize_t got = readv(n->tap, iov, (int)k);
		if (got < 0) {
			virtq_unpop(&d->vq[RXQ]);
			if (errno != EAGAIN && errno != EINTR)
				cc_warn("virtio-net: reading the tap: %s", strerror(errno));
			break;
		}
		virtq_push(&d->vq[RXQ], d->mem, c.head, (uint32_t)got);
		used = true;
	}
	if (used)
		virtio_dev_signal_used(d, RXQ);
}

static int net_notify(struct virtio_dev *d, unsigned qi)
{
	struct net *n = d->priv;
	struct vq_chain c;
	if (qi == RXQ) {
		rx_enable(n, true); /* buffers came: read the tap again */
		return 0;
	}
	struct virtio_pass p = virtio_pass_begin(d, TXQ);
	while (virtio_pass_next(&p, &c)) {
		if (net_check_tx(&c) < 0)
			return -1;
		struct iovec iov[VQ_MAX_SEGS + 1];
		unsigned k = net_tx_iov(&c, iov);
		if (writev(n->tap, iov, (int)k) < 0 && errno != EAGAIN)
			cc_debug("virtio-net: tx frame dropped: %s", strerror(errno));
		virtio_pass_push(&p, c.head, 0);
	}
	return virtio_pass_end(&p);
}

static void on_tap(void *opaque, uint32_t events)
{
	struct net *n = opaque;
	(void)events;
	pthread_mutex_lock(&n->dev.lock);
	net_rx(n);
	pthread_mutex_unlock(&n->dev.lock);
}

static void net_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct net *n = d->priv;
	uint8_t cfg[8];
	uint16_t status = VIRTIO_NET_S_LINK_UP;
	memcpy(cfg, n->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(data, cfg + off, len);
}

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 2,
	.config_size = 8,
	.config_read = net_config_read,
	.notify = net_notify,
};

struct virtio_dev *virtio_net_create(struct vmm *v, const char *tap, const uint8_t mac[6],
				     struct cc_error *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr = NET_HDR_LEN;
	if (strlen(tap) >= IFNAMSIZ) {
		cc_error_set(err, 0, "--net: tap name '%s' longer than %d", tap, IFNAMSIZ - 1);
		return NULL;
	}
	strcpy(ifr.ifr_name, tap);
	cleanup_close int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		cc_error_set(err, errno, "opening /dev/net/tun");
		return NULL;
	}
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		cc_error_set(err, errno, "attaching to tap %s", tap);
		return NULL;
	}
	struct net *n = calloc(1, sizeof(*n));
	if (n == NULL) {
		cc_error_set(err, ENOMEM, "virtio-net");
		return NULL;
	}
	n->vmm = v;
	memcpy(n->mac, mac, 6);
	n->h = loop_add(&v->loop, fd, 0, on_tap, n, err);
	if (n->h == NULL) {
		free(n);
		return NULL;
	}
	n->tap = cc_steal_fd(&fd);
	virtio_dev_init(&n->dev, &net_ops, n, VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS);
	return &n->dev;
}
