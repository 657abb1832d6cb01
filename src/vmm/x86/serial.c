/* 8250/16550A UART at COM1 (0x3f8, IRQ 4): output goes to stdout as it is written,
 * input comes from stdin when it is open. Enough of the register set for Linux's
 * 8250 driver (probe through scratch and loopback) and for a polling guest. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shared/util.h"
#include "vmm/x86/serial.h"
#include "vmm/core/snapshot.h"
#include "vmm/core/vmm.h"

#define COM1_BASE 0x3f8
#define COM1_IRQ 4
#define RX_FIFO 64

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_DEFAULT 0xb0 /* DCD, DSR, CTS */

struct serial {
	struct vmm *vmm;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri_pending;
	int irq_level;
	uint8_t rx[RX_FIFO];
	unsigned rx_head, rx_len;
	struct loop_handler *in;
};

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->rx_len > 0)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thri_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static void update_irq(struct serial *s)
{
	int level = (iir(s) & IIR_NONE) ? 0 : 1;
	if (level != s->irq_level) {
		s->irq_level = level;
		vmm_set_irq_line(s->vmm, COM1_IRQ, level);
	}
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len < RX_FIFO)
		s->rx[(s->rx_head + s->rx_len++) % RX_FIFO] = c;
}

static void serial_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = *(const uint8_t *)data;
	if (len != 1)
		return;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
		} else if (s->mcr & MCR_LOOP) {
			rx_push(s, v);
			s->thri_pending = true;
		} else {
			profile_mark(&s->vmm->prof, PROFILE_FIRST_OUTPUT);
			/* Console output is best effort: a closed stdout must not stop the guest. */
			if (write(STDOUT_FILENO, &v, 1) < 0) {
			}
			s->thri_pending = true;
		}
		break;
	case 1:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			if ((v & IER_THRI) && !(s->ier & IER_THRI))
				s->thri_pending = true;
			s->ier = v & 0x0f;
		}
		break;
	case 2:
		s->fcr = v;
		if (v & 0x02)
			s->rx_len = 0;
		break;
	case 3: s->lcr = v; break;
	case 4: s->mcr = v & 0x1f; break;
	case 7: s->scr = v; break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = 0;
	if (len != 1) {
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0:
		if (s->lcr & LCR_DLAB) {
			v = s->dll;
		} else if (s->rx_len > 0) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO;
			s->rx_len--;
		}
		break;
	case 1: v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier; break;
	case 2:
		v = iir(s);
		if ((v & 0x0f) == IIR_THRI)
			s->thri_pending = false;
		break;
	case 3: v = s->lcr; break;
	case 4: v = s->mcr; break;
	case 5: v = LSR_THRE | LSR_TEMT | (s->rx_len > 0 ? LSR_DR : 0); break;
	case 6:
		if (s->mcr & MCR_LOOP) /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			v = (uint8_t)(((s->mcr & 1) << 5) | ((s->mcr & 2) << 3) |
				      ((s->mcr & 4) << 4) | ((s->mcr & 8) << 4));
		else
			v = MSR_DEFAULT;
		break;
	case 7: v = s->scr; break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	*(uint8_t *)data = v;
}

static const struct bus_dev_ops serial_ops = { .read = serial_read, .write = serial_write };

static void on_stdin(void *opaque, uint32_t events)
{
	struct serial *s = opaque;
	uint8_t buf[RX_FIFO];
	(void)events;
	pthread_mutex_lock(&s->lock);
	size_t room = RX_FIFO - s->rx_len;
	ssize_t n = room > 0 ? read(STDIN_FILENO, buf, room) : 0;
	if (n <= 0 && room > 0 && !(n < 0 && errno == EAGAIN)) {
		loop_del(&s->vmm->loop, s->in); /* EOF: stop watching stdin */
		s->in = NULL;
	}
	for (ssize_t i = 0; i < n; i++)
		rx_push(s, buf[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

int serial_create(struct vmm *v, struct cc_error *err)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cc_error_set(err, ENOMEM, "serial");
	s->vmm = v;
	pthread_mutex_init(&s->lock, NULL);
	if (bus_add(&v->pio, "serial", COM1_BASE, 8, &serial_ops, s, err) < 0)
		return -1;
	/* Guest input from stdin when it is something we can poll (not a regular file). */
	int fl = fcntl(STDIN_FILENO, F_GETFL);
	if (fl >= 0 && fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK) == 0) {
		struct cc_error ignored = { 0 };
		s->in = loop_add(&v->loop, STDIN_FILENO, EPOLLIN, on_stdin, s, &ignored);
	}
	return 0;
}

/* Snapshots: the UART is found by its ops on the port bus. */
static struct serial *find_serial(struct vmm *v)
{
	for (unsigned i = 0; i < v->pio.n; i++)
		if (v->pio.r[i].ops == &serial_ops)
			return v->pio.r[i].opaque;
	return NULL;
}

/* Both directions of a snapshot (lock held). */
static void serial_snap(struct serial *s, struct snap_serial *p, enum snap_dir dir)
{
	SNAP_COPY(dir, s->ier, p->ier);
	SNAP_COPY(dir, s->lcr, p->lcr);
	SNAP_COPY(dir, s->mcr, p->mcr);
	SNAP_COPY(dir, s->scr, p->scr);
	SNAP_COPY(dir, s->dll, p->dll);
	SNAP_COPY(dir, s->dlm, p->dlm);
	SNAP_COPY(dir, s->fcr, p->fcr);
	SNAP_COPY(dir, s->thri_pending, p->thri_pending);
	SNAP_COPY(dir, s->irq_level, p->irq_level);
	SNAP_COPY(dir, s->rx_head, p->rx_head);
	SNAP_COPY(dir, s->rx_len, p->rx_len);
	SNAP_COPY_BYTES(dir, s->rx, p->rx, RX_FIFO);
}

void serial_save(struct vmm *v, struct snap_serial *out)
{
	struct serial *s = find_serial(v);
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	serial_snap(s, out, SNAP_SAVE);
	pthread_mutex_unlock(&s->lock);
}

/* The snapshot's bounds were checked by the decoder; the interrupt line's level is part
 * of the restored irqchip state. */
void serial_restore(struct vmm *v, const struct snap_serial *in)
{
	struct serial *s = find_serial(v);
	if (s == NULL)
		return;
	struct snap_serial p = *in;
	pthread_mutex_lock(&s->lock);
	serial_snap(s, &p, SNAP_LOAD);
	s->irq_level = s->irq_level != 0;
	s->rx_head %= RX_FIFO;
	s->rx_len = s->rx_len <= RX_FIFO ? s->rx_len : RX_FIFO;
	pthread_mutex_unlock(&s->lock);
}
