/* virtio-vsock in user space, bridged to unix sockets the Firecracker way ("hybrid
 * vsock"), so neither /dev/vhost-vsock nor the host's vsock stack is needed:
 *  - host → guest: a host process connects to the unix socket PATH and writes
 *    "CONNECT <port>\n"; once the guest accepts, it reads "OK <hostport>\n" and the
 *    socket carries the stream;
 *  - guest → host: a guest connection to host CID 2, port P is a connection to the unix
 *    socket "PATH_P", which some host process listens on.
 * Flow control follows the virtio credit scheme: we advertise VSOCK_BUF_ALLOC bytes of
 * receive buffer per connection and never send the guest more than it advertised.
 * Every packet is parsed from a validated chain; a chain that cannot hold a packet puts
 * the device in NEEDS_RESET, a packet that is merely wrong (unknown connection or type)
 * is answered with RST, a spoofed source CID is dropped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/virtio/virtio.h"
#include "vmm/devices/vsock.h"
#include "vmm/core/vmm.h"

#define VIRTIO_ID_VSOCK 19
#define VSOCK_BUF_ALLOC (64 * 1024) /* receive buffer we advertise per connection */
#define VSOCK_MAX_CONNS 64
#define VSOCK_MAX_CTRL 128 /* control packets waiting for rx buffers */
#define VSOCK_LINE_MAX 32  /* "CONNECT 4294967295\n" fits */
#define VSOCK_LOCAL_PORT_BASE 0x40000000u
enum { RXQ, TXQ, EVQ };

enum conn_state {
	C_LINE,	      /* host side: reading "CONNECT <port>\n" */
	C_HELD,	      /* host side: line read, held until a restored guest took its reset */
	C_CONNECTING, /* host side: REQUEST sent, waiting for the guest's RESPONSE */
	C_OPEN,
	C_CLOSING, /* SHUTDOWN sent to the guest, waiting for its RST */
};

struct conn {
	struct vsock *vs;
	int fd;
	struct loop_handler *h;
	uint32_t events;
	enum conn_state state;
	uint32_t host_port, guest_port;
	char line[VSOCK_LINE_MAX];
	unsigned line_len;
	/* Credit: what the guest told us, and what we count. */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t rx_cnt;	    /* payload bytes sent to the guest */
	uint32_t tx_cnt;	    /* payload bytes received from the guest */
	uint32_t fwd_cnt, fwd_sent; /* written to the host socket; last value told */
	uint8_t *txbuf;		    /* guest bytes the host socket did not take yet */
	uint32_t tx_len;
	bool rx_blocked; /* no rx buffer or no credit: EPOLLIN is off */
	bool shut_wr;	 /* guest will send no more: SHUT_WR once drained */
};

struct vsock {
	struct virtio_dev dev;
	struct vmm *vmm;
	uint64_t cid;
	char *uds;
	int listen_fd;
	struct conn *conns[VSOCK_MAX_CONNS];
	struct vsock_hdr ctrl[VSOCK_MAX_CTRL];
	unsigned ctrl_head, ctrl_n;
	uint32_t next_port;
	int reset_efd;
	bool reset_pending;
	bool hold_connects; /* restored: host connects wait for the guest's transport reset */
};

int vsock_parse_hdr(const struct vq_chain *c, struct vsock_hdr *h)
{
	if (c->n_in != 0 || c->out_len < sizeof(*h))
		return -1;
	if (vq_read(c, 0, h, sizeof(*h)) != sizeof(*h))
		return -1;
	if (h->len > c->out_len - sizeof(*h))
		return -1;
	return 0;
}

static void on_conn(void *opaque, uint32_t events);
static void drop_all(struct vsock *vs);
static void conn_request(struct conn *k);

/* events 0 takes the socket out of epoll altogether, so a hung-up peer cannot spin
 * the loop while the connection waits for the guest. */
static void conn_events(struct conn *k, uint32_t events)
{
	struct loop *l = &k->vs->vmm->loop;
	struct cc_error err;
	if (k->events == events)
		return;
	if (events == 0) {
		loop_del(l, k->h);
		k->h = NULL;
	} else if (k->h == NULL) {
		k->h = loop_add(l, k->fd, events, on_conn, k, &err);
		if (k->h == NULL) {
			cc_warn("virtio-vsock: %s", err.msg);
			return;
		}
	} else if (loop_mod(l, k->h, events) < 0) {
		return;
	}
	k->events = events;
}

static void conn_free(struct conn *k)
{
	struct vsock *vs = k->vs;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (vs->conns[i] == k)
			vs->conns[i] = NULL;
	loop_del(&vs->vmm->loop, k->h);
	close(k->fd);
	free(k->txbuf);
	free(k);
}

static struct conn *conn_new(struct vsock *vs, int fd, enum conn_state state)
{
	unsigned slot;
	for (slot = 0; slot < VSOCK_MAX_CONNS && vs->conns[slot] != NULL; slot++)
		;
	struct conn *k = slot < VSOCK_MAX_CONNS ? calloc(1, sizeof(*k)) : NULL;
	if (k == NULL) {
		cc_warn("virtio-vsock: connection table full");
		close(fd);
		return NULL;
	}
	struct cc_error err;
	*k = (struct conn){ .vs = vs, .fd = fd, .state = state, .events = EPOLLIN };
	k->h = loop_add(&vs->vmm->loop, fd, EPOLLIN, on_conn, k, &err);
	if (k->h == NULL) {
		cc_warn("virtio-vsock: %s", err.msg);
		close(fd);
		free(k);
		return NULL;
	}
	vs->conns[slot] = k;
	return k;
}

static struct conn *conn_find(struct vsock *vs, uint32_t host_port, uint32_t guest_port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct conn *k = vs->conns[i];
		if (k != NULL && k->state != C_LINE && k->state != C_HELD &&
		    k->host_port == host_port && k->guest_port == guest_port)
			return k;
	}
	return NULL;
}

static struct vsock_hdr reply_hdr(struct vsock *vs, uint32_t host_port, uint32_t guest_port,
				  uint16_t op)
{
	return (struct vsock_hdr){ .src_cid = VSOCK_HOST_CID,
				   .dst_cid = vs->cid,
				   .src_port = host_port,
				   .dst_port = guest_port,
				   .type = VSOCK_TYPE_STREAM,
				   .op = op,
				   .buf_alloc = VSOCK_BUF_ALLOC };
}

/* Sends the queued control packets while the guest has rx buffers. */
static bool ctrl_flush(struct vsock *vs)
{
	struct virtio_dev *d = &vs->dev;
	struct vq_chain c;
	bool used = false;
	while (vs->ctrl_n > 0 && virtio_dev_running(d) && virtq_pop(&d->vq[RXQ], d->mem, &c) > 0) {
		if (c.in_len < sizeof(struct vsock_hdr) || c.n_out > 0) {
			virtio_dev_fail(d, "rx buffer cannot hold a packet");
			break;
		}
		vq_write(&c, 0, &vs->ctrl[vs->ctrl_head], sizeof(struct vsock_hdr));
		virtq_push(&d->vq[RXQ], d->mem, c.head, sizeof(struct vsock_hdr));
		vs->ctrl_head = (vs->ctrl_head + 1) % VSOCK_MAX_CTRL;
		vs->ctrl_n--;
		used = true;
	}
	if (used)
		virtio_dev_signal_used(d, RXQ);
	return vs->ctrl_n == 0;
}

static void ctrl_send(struct vsock *vs, struct vsock_hdr h)
{
	if (vs->ctrl_n == VSOCK_MAX_CTRL) {
		cc_warn("virtio-vsock: guest takes no packets, dropping op %u", h.op);
		return;
	}
	vs->ctrl[(vs->ctrl_head + vs->ctrl_n) % VSOCK_MAX_CTRL] = h;
	vs->ctrl_n++;
	ctrl_flush(vs);
}

static void conn_ctrl(struct conn *k, uint16_t op, uint32_t flags)
{
	struct vsock_hdr h = reply_hdr(k->vs, k->host_port, k->guest_port, op);
	h.flags = flags;
	h.fwd_cnt = k->fwd_cnt;
	k->fwd_sent = k->fwd_cnt;
	ctrl_send(k->vs, h);
}

static void conn_reset(struct conn *k)
{
	if (k->state != C_LINE && k->state != C_HELD)
		conn_ctrl(k, VSOCK_OP_RST, 0);
	conn_free(k);
}

/* Host socket → guest, while the guest has credit and rx buffers. */
static void conn_to_guest(struct conn *k)
{
	struct vsock *vs = k->vs;
	struct virtio_dev *d = &vs->dev;
	struct vq_chain c;
	bool used = false;

	for (int round = 0; round < 16; round++) {
		uint32_t credit = k->peer_buf_alloc - (k->rx_cnt - k->peer_fwd_cnt);
		if (credit > k->peer_buf_alloc) /* the guest's counters went backwards */
			credit = 0;
		if (credit == 0 || vs->ctrl_n > 0 || !virtio_dev_running(d) ||
		    virtq_pop(&d->vq[RXQ], d->mem, &c) <= 0) {
			k->rx_blocked = true;
			conn_events(k, k->tx_len > 0 ? EPOLLOUT : 0);
			break;
		}
		if (c.in_len <= sizeof(struct vsock_hdr) || c.n_out > 0) {
			virtio_dev_fail(d, "rx buffer cannot hold a packet");
			break;
		}
		struct iovec iov[VQ_MAX_SEGS];
		uint64_t room = c.in_len - sizeof(struct vsock_hdr);
		if (room > credit)
			room = credit;
		unsigned n = vq_iov(&c, true, sizeof(struct vsock_hdr), room, iov, VQ_MAX_SEGS);
		ssize_t got = readv(k->fd, iov, (int)n);
		if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
			virtq_unpop(&d->vq[RXQ]);
			break;
		}
		if (got <= 0) { /* EOF or error: tell the guest, wait for its RST */
			virtq_unpop(&d->vq[RXQ]);
			k->state = C_CLOSING;
			conn_events(k, 0);
			conn_ctrl(k, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
			break;
		}
		struct vsock_hdr h = reply_hdr(vs, k->host_port, k->guest_port, VSOCK_OP_RW);
		h.len = (uint32_t)got;
		h.fwd_cnt = k->fwd_sent = k->fwd_cnt;
		vq_write(&c, 0, &h, sizeof(h));
		virtq_push(&d->vq[RXQ], d->mem, c.head, (uint32_t)(sizeof(h) + (size_t)got));
		k->rx_cnt += (uint32_t)got;
		used = true;
	}
	if (used)
		virtio_dev_signal_used(d, RXQ);
}

/* Rx buffers or credit arrived: let blocked connections read again. */
static void unblock_all(struct vsock *vs)
{
	if (!ctrl_flush(vs))
		return;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct conn *k = vs->conns[i];
		if (k != NULL && k->rx_blocked && k->state == C_OPEN) {
			k->rx_blocked = false;
			conn_events(k, EPOLLIN | (k->tx_len > 0 ? EPOLLOUT : 0));
		}
	}
}

/* Writes what the guest sent and the socket did not take yet. */
static int conn_drain(struct conn *k)
{
	while (k->tx_len > 0) {
		ssize_t n = write(k->fd, k->txbuf, k->tx_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		memmove(k->txbuf, k->txbuf + n, k->tx_len - (size_t)n);
		k->tx_len -= (uint32_t)n;
		k->fwd_cnt += (uint32_t)n;
	}
	if (k->tx_len == 0 && k->shut_wr)
		shutdown(k->fd, SHUT_WR);
	uint32_t in = k->rx_blocked ? 0 : EPOLLIN;
	conn_events(k, in | (k->tx_len > 0 ? EPOLLOUT : 0));
	/* The guest sees free space VSOCK_BUF_ALLOC - (tx_cnt - fwd_sent): refresh it
	 * before it runs low, or a guest that waits for credit waits forever. */
	if (k->fwd_cnt != k->fwd_sent && k->tx_cnt - k->fwd_sent > VSOCK_BUF_ALLOC / 2)
		conn_ctrl(k, VSOCK_OP_CREDIT_UPDATE, 0);
	return 0;
}

/* Guest payload to the host socket: straight from guest memory, the rest buffered. */
static int conn_from_guest(struct conn *k, const struct vq_chain *c, uint32_t len)
{
	if (len > VSOCK_BUF_ALLOC - k->tx_len) /* the guest ignored our credit */
		return -1;
	k->tx_cnt += len;
	uint32_t off = 0;
	if (k->tx_len == 0) {
		struct iovec iov[VQ_MAX_SEGS];
		unsigned n = vq_iov(c, false, sizeof(struct vsock_hdr), len, iov, VQ_MAX_SEGS);
		ssize_t w = writev(k->fd, iov, (int)n);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (w > 0) {
			off = (uint32_t)w;
			k->fwd_cnt += (uint32_t)w;
		}
	}
	if (off < len) {
		if (k->txbuf == NULL && (k->txbuf = malloc(VSOCK_BUF_ALLOC)) == NULL)
			return -1;
		vq_read(c, sizeof(struct vsock_hdr) + off, k->txbuf + k->tx_len, len - off);
		k->tx_len += len - off;
	}
	return conn_drain(k);
}

static void guest_connect(struct vsock *vs, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = -1;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", vs->uds, h->dst_port) <
	    sizeof(sa.sun_path))
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		cc_debug("virtio-vsock: guest port %u → %s: %s", h->src_port, sa.sun_path,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	struct conn *k = fd >= 0 ? conn_new(vs, fd, C_OPEN) : NULL;
	if (k == NULL) {
		ctrl_send(vs, reply_hdr(vs, h->dst_port, h->src_port, VSOCK_OP_RST));
		return;
	}
	k->host_port = h->dst_port;
	k->guest_port = h->src_port;
	k->peer_buf_alloc = h->buf_alloc;
	k->peer_fwd_cnt = h->fwd_cnt;
	conn_ctrl(k, VSOCK_OP_RESPONSE, 0);
}

/* One packet from the guest (its payload still in the chain). -1: protocol break. */
static int handle_tx(struct vsock *vs, const struct vq_chain *c, const struct vsock_hdr *h)
{
	if (h->src_cid != vs->cid || h->dst_cid != VSOCK_HOST_CID)
		return 0; /* spoofed or misrouted: drop */
	struct conn *k = conn_find(vs, h->dst_port, h->src_port);
	if (h->type != VSOCK_TYPE_STREAM || (k == NULL && h->op != VSOCK_OP_REQUEST)) {
		if (h->op != VSOCK_OP_RST)
			ctrl_send(vs, reply_hdr(vs, h->dst_port, h->src_port, VSOCK_OP_RST));
		return 0;
	}
	if (k == NULL) {
		guest_connect(vs, h);
		return 0;
	}
	k->peer_buf_alloc = h->buf_alloc;
	k->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE: {
		if (k->state != C_CONNECTING) {
			conn_reset(k);
			break;
		}
		char ok[32];
		int n = snprintf(ok, sizeof(ok), "OK %u\n", k->host_port);
		k->state = C_OPEN;
		if (write(k->fd, ok, (size_t)n) != n) { /* a fresh socket always takes 16 bytes */
			conn_reset(k);
		} else {
			conn_events(k, EPOLLIN);
			profile_mark(&vs->vmm->prof, PROFILE_AGENT);
		}
		break;
	}
	case VSOCK_OP_RW:
		if (k->state != C_OPEN || k->shut_wr || conn_from_guest(k, c, h->len) < 0)
			conn_reset(k);
		break;
	case VSOCK_OP_CREDIT_REQUEST: conn_ctrl(k, VSOCK_OP_CREDIT_UPDATE, 0); break;
	case VSOCK_OP_SHUTDOWN:
		if ((h->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) ==
			    (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND) ||
		    k->state == C_CLOSING) {
			conn_reset(k);
		} else if (h->flags & VSOCK_SHUTDOWN_SEND) {
			k->shut_wr = true;
			if (conn_drain(k) < 0)
				conn_reset(k);
		}
		break;
	case VSOCK_OP_RST: conn_free(k); break;
	case VSOCK_OP_CREDIT_UPDATE: break;
	default: /* REQUEST on a live connection, or an unknown op */ conn_reset(k);
	}
	return 0;
}

static int vsock_notify(struct virtio_dev *d, unsigned qi)
{
	struct vsock *vs = d->priv;
	struct vq_chain c;
	int rc = 0;
	drop_all(vs);
	if (qi == EVQ && vs->hold_connects) {
		/* The driver refills the event queue (a kick) once it handled the transport
		 * reset: only now can a new connection not be caught by that reset. */
		vs->hold_connects = false;
		cc_debug("virtio-vsock: the guest handled its transport reset");
		for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
			if (vs->conns[i] != NULL && vs->conns[i]->state == C_HELD)
				conn_request(vs->conns[i]);
	}
	if (qi == TXQ) {
		struct virtio_pass p = virtio_pass_begin(d, TXQ);
		while (virtio_pass_next(&p, &c)) {
			struct vsock_hdr h;
			if (vsock_parse_hdr(&c, &h) < 0)
				return -1;
			handle_tx(vs, &c, &h);
			virtio_pass_push(&p, c.head, 0);
		}
		rc = virtio_pass_end(&p);
	}
	/* Any packet may carry credit, and rx kicks bring buffers. */
	unblock_all(vs);
	return rc;
}

/* Host side: asks the guest to accept the connection to k->guest_port. */
static void conn_request(struct conn *k)
{
	struct vsock *vs = k->vs;
	do
		k->host_port = VSOCK_LOCAL_PORT_BASE + (vs->next_port++ % VSOCK_LOCAL_PORT_BASE);
	while (conn_find(vs, k->host_port, k->guest_port) != NULL);
	k->state = C_CONNECTING;
	conn_ctrl(k, VSOCK_OP_REQUEST, 0);
}

/* Host side: the CONNECT line, then the stream. */
static void conn_line(struct conn *k)
{
	char ch;
	ssize_t n = read(k->fd, &ch, 1); /* byte by byte: what follows the line is stream data */
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(k);
		return;
	}
	if (ch != '\n') {
		if (k->line_len + 1 >= sizeof(k->line))
			conn_free(k);
		else
			k->line[k->line_len++] = ch;
		return;
	}
	k->line[k->line_len] = '\0';
	char *end = NULL;
	unsigned long port = 0;
	if (strncmp(k->line, "CONNECT ", 8) == 0 && k->line[8] >= '0' && k->line[8] <= '9')
		port = strtoul(k->line + 8, &end, 10);
	if (end == NULL || *end != '\0' || port == 0 || port > UINT32_MAX) {
		cc_debug("virtio-vsock: bad connect line '%s'", k->line);
		conn_free(k);
		return;
	}
	k->guest_port = (uint32_t)port;
	conn_events(k, 0);
	if (k->vs->hold_connects)
		k->state = C_HELD;
	else
		conn_request(k);
}

static void on_conn(void *opaque, uint32_t events)
{
	struct conn *k = opaque;
	struct vsock *vs = k->vs;
	pthread_mutex_lock(&vs->dev.lock);
	if (vs->reset_pending && k->state != C_LINE) {
		drop_all(vs); /* k is gone */
	} else if (k->state == C_LINE) {
		conn_line(k);
	} else if (k->state == C_OPEN && (events & EPOLLOUT) && conn_drain(k) < 0) {
		conn_reset(k);
	} else if (k->state == C_OPEN && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		conn_to_guest(k);
	}
	pthread_mutex_unlock(&vs->dev.lock);
}

static void on_listen(void *opaque, uint32_t events)
{
	struct vsock *vs = opaque;
	(void)events;
	int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&vs->dev.lock);
	conn_new(vs, fd, C_LINE);
	pthread_mutex_unlock(&vs->dev.lock);
}

/* A driver reset arrives on a vCPU thread; connections live in the loop thread, so the
 * reset only marks them for dropping there (before anything else touches them). */
static void vsock_reset(struct virtio_dev *d)
{
	struct vsock *vs = d->priv;
	uint64_t one = 1;
	vs->reset_pending = true;
	if (write(vs->reset_efd, &one, sizeof(one)) < 0)
		cc_warn("virtio-vsock: reset notification lost");
}

static void drop_all(struct vsock *vs)
{
	if (!vs->reset_pending)
		return;
	vs->reset_pending = false;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (vs->conns[i] != NULL && vs->conns[i]->state != C_LINE)
			conn_free(vs->conns[i]);
	vs->ctrl_n = 0;
}

static void on_reset(void *opaque, uint32_t events)
{
	struct vsock *vs = opaque;
	uint64_t n;
	(void)events;
	if (read(vs->reset_efd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&vs->dev.lock);
	drop_all(vs);
	pthread_mutex_unlock(&vs->dev.lock);
}

/* After a restore no connection of the saved VM exists on the host: the guest is told
 * with a transport reset event (virtio 5.10.6.6), on which it drops its connections and
 * reads the CID again; listening sockets survive, so the agent keeps listening. Host
 * connects are held until the guest handled it (vsock_notify), or the reset would
 * catch them too. */
static int vsock_restore(struct virtio_dev *d, const uint8_t state[16], struct cc_error *err)
{
	struct vq_chain c;
	uint32_t reset_event = 0; /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
	(void)state;
	(void)err;
	if (!virtio_dev_running(d) || virtq_pop(&d->vq[EVQ], d->mem, &c) <= 0)
		return 0;
	if (c.n_out > 0 || c.in_len < sizeof(reset_event)) {
		virtio_dev_fail(d, "event buffer cannot hold an event");
		return 0;
	}
	vq_write(&c, 0, &reset_event, sizeof(reset_event));
	virtq_push(&d->vq[EVQ], d->mem, c.head, sizeof(reset_event));
	virtio_dev_signal_used(d, EVQ);
	((struct vsock *)d->priv)->hold_connects = true;
	return 0;
}

static void vsock_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct vsock *vs = d->priv;
	memcpy(data, (uint8_t *)&vs->cid + off, len);
}

static const struct virtio_dev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.config_size = 8,
	.config_read = vsock_config_read,
	.notify = vsock_notify,
	.reset = vsock_reset,
	.restore = vsock_restore,
};

struct virtio_dev *virtio_vsock_create(struct vmm *v, uint64_t cid, const char *uds,
				       struct cc_error *err)
{
	/* No room kept for "_<port>": a guest-initiated connection whose path does not fit
	 * is refused (guest_connect), while reserving 11 bytes refused a CRI pod's socket
	 * (64-character id) under any state dir longer than ~20 characters. */
	cleanup_close int fd = cc_unix_listen(uds, 16, SOCK_NONBLOCK | SOCK_CLOEXEC, err);
	if (fd < 0) {
		cc_error_prefix(err, "--vsock");
		return NULL;
	}
	struct vsock *vs = calloc(1, sizeof(*vs));
	if (vs == NULL || (vs->uds = strdup(uds)) == NULL) {
		free(vs);
		cc_error_set(err, ENOMEM, "virtio-vsock");
		return NULL;
	}
	vs->vmm = v;
	vs->cid = cid;
	vs->listen_fd = cc_steal_fd(&fd);
	vs->reset_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vs->reset_efd < 0 ||
	    loop_add(&v->loop, vs->listen_fd, EPOLLIN, on_listen, vs, err) == NULL ||
	    loop_add(&v->loop, vs->reset_efd, EPOLLIN, on_reset, vs, err) == NULL) {
		if (vs->reset_efd < 0)
			cc_error_set(err, errno, "eventfd");
		close(vs->listen_fd);
		free(vs->uds);
		free(vs);
		return NULL;
	}
	virtio_dev_init(&vs->dev, &vsock_ops, vs, 0);
	return &vs->dev;
}
