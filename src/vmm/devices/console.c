/* virtio-console with one named port ("agent"), bridged to a unix socket: the agent
 * channel where vsock is not wanted. The guest sees /dev/vportNp0 with
 * /sys/class/virtio-ports/vportNp0/name = "agent", as with QEMU's virtserialport.
 * Naming a port needs the multiport control protocol: the driver says DEVICE_READY, we
 * add port 0, it says PORT_READY, we send its name and whether the host end is open.
 * One host client at a time; its bytes go to the port's rx queue as buffers come, and
 * the port's tx queue goes to the client (dropped while nobody is connected, like a
 * serial line with nothing attached). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/virtio/virtio.h"
#include "vmm/devices/console.h"
#include "vmm/core/vmm.h"

#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_CONSOLE_F_MULTIPORT (1ull << 1)
#define CONSOLE_AGENT_NAME "agent"
#define CONSOLE_TX_MAX (1024 * 1024) /* one guest buffer; Linux writes at most 32 KiB */
#define CONSOLE_CTRL_MAX 8
enum { PORT_RXQ, PORT_TXQ, CTRL_RXQ, CTRL_TXQ };

struct console {
	struct virtio_dev dev;
	struct vmm *vmm;
	int listen_fd, fd; /* fd: the connected host client, -1 for none */
	struct loop_handler *h;
	uint32_t events;
	bool port_ready;
	struct console_ctrl ctrl[CONSOLE_CTRL_MAX];
	unsigned ctrl_n;
	uint8_t *txbuf; /* tail of a guest buffer the client did not take yet */
	size_t tx_len, tx_off;
};

int console_parse_ctrl(const struct vq_chain *c, struct console_ctrl *m)
{
	if (c->n_in != 0 || c->out_len < sizeof(*m))
		return -1;
	vq_read(c, 0, m, sizeof(*m));
	return 0;
}

static void on_client(void *opaque, uint32_t events);

static void client_events(struct console *cs, uint32_t events)
{
	if (cs->fd < 0 || cs->events == events)
		return;
	struct cc_error err;
	if (events == 0) {
		loop_del(&cs->vmm->loop, cs->h);
		cs->h = NULL;
	} else if (cs->h == NULL) {
		cs->h = loop_add(&cs->vmm->loop, cs->fd, events, on_client, cs, &err);
		if (cs->h == NULL) {
			cc_warn("virtio-console: %s", err.msg);
			return;
		}
	} else if (loop_mod(&cs->vmm->loop, cs->h, events) < 0) {
		return;
	}
	cs->events = events;
}

static void ctrl_flush(struct console *cs)
{
	struct virtio_dev *d = &cs->dev;
	struct vq_chain c;
	unsigned sent = 0;
	while (sent < cs->ctrl_n && virtio_dev_running(d) &&
	       virtq_pop(&d->vq[CTRL_RXQ], d->mem, &c) > 0) {
		struct console_ctrl *m = &cs->ctrl[sent++];
		uint32_t n = (uint32_t)vq_write(&c, 0, m, sizeof(*m));
		if (m->event == CONSOLE_PORT_NAME)
			n += (uint32_t)vq_write(&c, sizeof(*m), CONSOLE_AGENT_NAME,
						sizeof(CONSOLE_AGENT_NAME) - 1);
		virtq_push(&d->vq[CTRL_RXQ], d->mem, c.head, n);
	}
	if (sent == 0)
		return;
	memmove(cs->ctrl, cs->ctrl + sent, (cs->ctrl_n - sent) * sizeof(cs->ctrl[0]));
	cs->ctrl_n -= sent;
	virtio_dev_signal_used(d, CTRL_RXQ);
}

static void ctrl_send(struct console *cs, uint16_t event, uint16_t value)
{
	if (cs->ctrl_n == CONSOLE_CTRL_MAX) {
		cc_warn("virtio-console: guest takes no control messages, dropping %u", event);
		return;
	}
	cs->ctrl[cs->ctrl_n++] = (struct console_ctrl){ 0, event, value };
	ctrl_flush(cs);
}

static void client_close(struct console *cs)
{
	client_events(cs, 0);
	close(cs->fd);
	cs->fd = -1;
	cs->events = 0;
	free(cs->txbuf);
	cs->txbuf = NULL;
	cs->tx_len = cs->tx_off = 0;
	if (cs->port_ready)
		ctrl_send(cs, CONSOLE_PORT_OPEN, 0);
}

/* Client bytes into the port's rx buffers. */
static void to_guest(struct console *cs)
{
	struct virtio_dev *d = &cs->dev;
	struct vq_chain c;
	bool used = false;
	for (int round = 0; round < 16; round++) {
		if (!virtio_dev_running(d) || virtq_pop(&d->vq[PORT_RXQ], d->mem, &c) <= 0) {
			client_events(cs, cs->tx_len > 0 ? EPOLLOUT : 0); /* until buffers come */
			break;
		}
		if (c.n_out > 0 || c.in_len == 0) {
			virtio_dev_fail(d, "port rx buffer without writable space");
			break;
		}
		struct iovec iov[VQ_MAX_SEGS];
		unsigned n = vq_iov(&c, true, 0, c.in_len, iov, VQ_MAX_SEGS);
		ssize_t got = readv(cs->fd, iov, (int)n);
		if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
			virtq_unpop(&d->vq[PORT_RXQ]);
			break;
		}
		if (got <= 0) {
			virtq_unpop(&d->vq[PORT_RXQ]);
			client_close(cs);
			break;
		}
		virtq_push(&d->vq[PORT_RXQ], d->mem, c.head, (uint32_t)got);
		used = true;
	}
	if (used)
		virtio_dev_signal_used(d, PORT_RXQ);
}

/* Writes the held-back tail; 1 when everything went out. */
static int drain(struct console *cs)
{
	while (cs->tx_off < cs->tx_len) {
		ssize_t n = write(cs->fd, cs->txbuf + cs->tx_off, cs->tx_len - cs->tx_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		cs->tx_off += (size_t)n;
	}
	cs->tx_len = cs->tx_off = 0;
	return 1;
}

/* Port tx queue to the client; stops (backpressure) while a tail is held back. */
static int from_guest(struct console *cs)
{
	struct virtio_dev *d = &cs->dev;
	struct vq_chain c;
	struct virtio_pass p = virtio_pass_begin(d, PORT_TXQ);
	while (cs->tx_len == 0 && virtio_pass_next(&p, &c)) {
		if (c.n_in != 0 || c.out_len > CONSOLE_TX_MAX)
			return -1;
		size_t done = 0;
		if (cs->fd >= 0) {
			struct iovec iov[VQ_MAX_SEGS];
			unsigned n = vq_iov(&c, false, 0, c.out_len, iov, VQ_MAX_SEGS);
			ssize_t w = writev(cs->fd, iov, (int)n);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				client_close(cs);
				w = (ssize_t)c.out_len;
			}
			done = w > 0 ? (size_t)w : 0;
		} else {
			done = c.out_len; /* nobody listening: the bytes are gone */
		}
		if (done < c.out_len) {
			cs->txbuf = realloc(cs->txbuf, c.out_len - done);
			if (cs->txbuf == NULL)
				return -1;
			cs->tx_len = vq_read(&c, done, cs->txbuf, c.out_len - done);
			client_events(cs, EPOLLIN | EPOLLOUT);
		}
		virtio_pass_push(&p, c.head, 0);
	}
	int rc = virtio_pass_end(&p);
	return cs->tx_len == 0 ? rc : 0;
}

static int handle_ctrl(struct console *cs, const struct console_ctrl *m)
{
	switch (m->event) {
	case CONSOLE_DEVICE_READY:
		if (m->value == 1)
			ctrl_send(cs, CONSOLE_DEVICE_ADD, 0);
		break;
	case CONSOLE_PORT_READY:
		if (m->id != 0)
			return -1;
		if (m->value == 1 && !cs->port_ready) {
			cs->port_ready = true;
			ctrl_send(cs, CONSOLE_PORT_NAME, 1);
			if (cs->fd >= 0)
				ctrl_send(cs, CONSOLE_PORT_OPEN, 1);
		}
		break;
	case CONSOLE_PORT_OPEN: /* the guest opened or closed the port: nothing to do */
		if (m->id != 0)
			return -1;
		break;
	default: /* the driver sends nothing else; ignore rather than fail */ break;
	}
	return 0;
}

static int console_notify(struct virtio_dev *d, unsigned qi)
{
	struct console *cs = d->priv;
	struct vq_chain c;
	switch (qi) {
	case PORT_RXQ:
		if (cs->fd >= 0)
			client_events(cs, EPOLLIN | (cs->tx_len > 0 ? EPOLLOUT : 0));
		return 0;
	case PORT_TXQ: return from_guest(cs);
	case CTRL_RXQ: ctrl_flush(cs); return 0;
	}
	struct virtio_pass p = virtio_pass_begin(d, CTRL_TXQ);
	while (virtio_pass_next(&p, &c)) {
		struct console_ctrl m;
		if (console_parse_ctrl(&c, &m) < 0 || handle_ctrl(cs, &m) < 0)
			return -1;
		virtio_pass_push(&p, c.head, 0);
	}
	return virtio_pass_end(&p);
}

static void on_client(void *opaque, uint32_t events)
{
	struct console *cs = opaque;
	struct virtio_dev *d = &cs->dev;
	pthread_mutex_lock(&d->lock);
	if (events & EPOLLOUT) {
		int r = drain(cs);
		if (r < 0)
			client_close(cs);
		else if (r > 0 && from_guest(cs) < 0)
			virtio_dev_fail(d, "malformed port buffer");
		if (cs->fd >= 0 && cs->tx_len == 0)
			client_events(cs, EPOLLIN);
	}
	if (cs->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		to_guest(cs);
	pthread_mutex_unlock(&d->lock);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct console *cs = opaque;
	struct cc_error err;
	(void)events;
	int fd = accept4(cs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&cs->dev.lock);
	if (cs->fd >= 0) { /* one host end at a time */
		close(fd);
	} else if ((cs->h = loop_add(&cs->vmm->loop, fd, EPOLLIN, on_client, cs, &err)) == NULL) {
		cc_warn("virtio-console: %s", err.msg);
		close(fd);
	} else {
		cs->fd = fd;
		cs->events = EPOLLIN;
		if (cs->port_ready)
			ctrl_send(cs, CONSOLE_PORT_OPEN, 1);
	}
	pthread_mutex_unlock(&cs->dev.lock);
}

static void console_reset(struct virtio_dev *d)
{
	struct console *cs = d->priv;
	/* The client stays connected; the driver starts the handshake again. */
	cs->port_ready = false;
	cs->ctrl_n = 0;
	cs->tx_len = cs->tx_off = 0;
}

/* Snapshots keep whether the guest named the port; host clients belong to the process
 * that saved, so after a restore the guest hears whether one is connected now. Queued
 * control messages and undelivered guest output are not kept. */
static void console_save(struct virtio_dev *d, uint8_t state[16])
{
	struct console *cs = d->priv;
	state[0] = cs->port_ready;
}

static int console_restore(struct virtio_dev *d, const uint8_t state[16], struct cc_error *err)
{
	struct console *cs = d->priv;
	if (state[0] > 1)
		return cc_error_set(err, 0, "port state %u is not 0 or 1", state[0]);
	cs->port_ready = state[0];
	if (cs->port_ready && virtio_dev_running(d))
		ctrl_send(cs, CONSOLE_PORT_OPEN, cs->fd >= 0);
	return 0;
}

static void console_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	/* cols, rows (u16), max_nr_ports (u32), emerg_wr (u32) */
	uint8_t cfg[12] = { 0 };
	uint32_t ports = 1;
	(void)d;
	memcpy(cfg + 4, &ports, 4);
	memcpy(data, cfg + off, len);
}

static const struct virtio_dev_ops console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = 4,
	.config_size = 12,
	.config_read = console_config_read,
	.notify = console_notify,
	.reset = console_reset,
	.save = console_save,
	.restore = console_restore,
};

struct virtio_dev *virtio_console_create(struct vmm *v, const char *path, struct cc_error *err)
{
	cleanup_close int fd = cc_unix_listen(path, 4, SOCK_NONBLOCK | SOCK_CLOEXEC, err);
	if (fd < 0) {
		cc_error_prefix(err, "--console");
		return NULL;
	}
	struct console *cs = calloc(1, sizeof(*cs));
	if (cs == NULL) {
		cc_error_set(err, ENOMEM, "virtio-console");
		return NULL;
	}
	cs->vmm = v;
	cs->fd = -1;
	cs->listen_fd = fd;
	if (loop_add(&v->loop, fd, EPOLLIN, on_accept, cs, err) == NULL) {
		free(cs);
		return NULL;
	}
	fd = -1;
	virtio_dev_init(&cs->dev, &console_ops, cs, VIRTIO_CONSOLE_F_MULTIPORT);
	return &cs->dev;
}
