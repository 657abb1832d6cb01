/* virtio-vsock device model against synthetic guest memory and real unix sockets:
 * guest-initiated connections (to a listener, to nobody), data both ways, and what a
 * hostile guest gets for spoofed CIDs, unknown socket types, credit violations and
 * malformed chains. The event loop is stepped by hand (loop_once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/devices/vsock.h"
#include "vmm/virtio/virtio.h"
#include "vmm/devices/vsock.h"
#include "vmm/core/vmm.h"

#define RAM (256 * 1024)
#define QSIZE 8
#define RXQ 0
#define TXQ 1
#define CID 3
/* Ring areas per queue (desc, avail, used), then buffers. */
#define RING(q) (0x1000ull * (q)*3)
#define RXBUF 0x10000ull /* QSIZE buffers of 4 KiB */
#define TXBUF 0x20000ull /* one packet, up to 128 KiB */

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct t {
	char dir[64], path[128];
	struct vmm v;
	struct virtio_dev *d;
	uint16_t rx_seen;
};

static uint8_t *ram(struct t *t, uint64_t gpa)
{
	return t->v.mem.host + gpa;
}

static void setup_queue(struct t *t, unsigned q)
{
	struct virtq *vq = &t->d->vq[q];
	*vq = (struct virtq){ .size = QSIZE,
			      .desc_gpa = RING(q),
			      .avail_gpa = RING(q) + 0x1000,
			      .used_gpa = RING(q) + 0x2000 };
	virtio_dev_queue_ready(t->d, q, true);
	assert_true(vq->ready);
}

static void offer(struct t *t, unsigned q, uint16_t head)
{
	uint16_t *avail = (uint16_t *)ram(t, RING(q) + 0x1000);
	avail[2 + avail[1] % QSIZE] = head;
	avail[1]++;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct cc_error err = { 0 };
	snprintf(t->dir, sizeof(t->dir), "/tmp/cocoon-vsock-test.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/v.sock", t->dir);
	assert_int_equal(loop_init(&t->v.loop, &err), 0);
	t->v.mem = (struct guest_mem){ .host = calloc(1, RAM), .size = RAM, .fd = -1 };
	t->d = virtio_vsock_create(&t->v, CID, t->path, &err);
	assert_non_null(t->d);
	t->d->mem = &t->v.mem;
	t->d->driver_features = VIRTIO_F_VERSION_1;
	virtio_dev_set_status(t->d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	setup_queue(t, RXQ);
	setup_queue(t, TXQ);
	for (uint16_t i = 0; i < QSIZE; i++) {
		*(struct desc *)ram(t, RING(RXQ) + 16 * i) =
			(struct desc){ RXBUF + 4096 * i, 4096, VIRTQ_DESC_F_WRITE, 0 };
		offer(t, RXQ, i);
	}
	virtio_dev_kick(t->d, RXQ);
	*state = t;
	return 0;
}

/* Devices have no destructor (a VMM's devices live as long as it does): each test's
 * stays reachable here until the process ends. */
static struct t *kept[8];
static unsigned n_kept;

static int teardown(void **state)
{
	struct t *t = *state;
	struct cc_error err;
	cc_rm_rf(t->dir, &err);
	loop_destroy(&t->v.loop);
	if (n_kept < 8)
		kept[n_kept++] = t;
	return 0;
}

/* The guest sends one packet (header + payload). */
static void guest_send(struct t *t, uint16_t op, uint16_t type, uint64_t src_cid, uint32_t sport,
		       uint32_t dport, const void *data, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = src_cid,
			       .dst_cid = VSOCK_HOST_CID,
			       .src_port = sport,
			       .dst_port = dport,
			       .len = len,
			       .type = type,
			       .op = op,
			       .buf_alloc = 65536,
			       .fwd_cnt = 0 };
	memcpy(ram(t, TXBUF), &h, sizeof(h));
	if (len > 0)
		memcpy(ram(t, TXBUF + sizeof(h)), data, len);
	*(struct desc *)ram(t, RING(TXQ)) = (struct desc){ TXBUF, (uint32_t)sizeof(h) + len, 0, 0 };
	offer(t, TXQ, 0);
	virtio_dev_kick(t->d, TXQ);
}

/* Next packet the device put in an rx buffer, or false when there is none. */
static bool guest_recv(struct t *t, struct vsock_hdr *h, char *data, size_t max)
{
	uint16_t used = *(uint16_t *)ram(t, RING(RXQ) + 0x2000 + 2);
	if (used == t->rx_seen)
		return false;
	uint32_t *elem = (uint32_t *)ram(t, RING(RXQ) + 0x2000 + 4 + 8 * (t->rx_seen % QSIZE));
	uint16_t id = (uint16_t)elem[0];
	t->rx_seen++;
	memcpy(h, ram(t, RXBUF + 4096ull * id), sizeof(*h));
	if (data != NULL)
		memcpy(data, ram(t, RXBUF + 4096ull * id + sizeof(*h)),
		       h->len < max ? h->len : max);
	offer(t, RXQ, id); /* give the buffer back */
	virtio_dev_kick(t->d, RXQ);
	return true;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	return fd;
}

static void test_connect_to_nobody_is_reset(void **state)
{
	struct t *t = *state;
	struct vsock_hdr h;
	guest_send(t, VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, CID, 7000, 5000, NULL, 0);
	assert_true(guest_recv(t, &h, NULL, 0));
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 7000);
	assert_int_equal(h.src_port, 5000);
	assert_true(virtio_dev_running(t->d));
}

static void test_spoofed_cid_and_bad_type(void **state)
{
	struct t *t = *state;
	struct vsock_hdr h;
	guest_send(t, VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, 99, 7000, 5000, NULL, 0);
	assert_false(guest_recv(t, &h, NULL, 0)); /* dropped, no answer */
	guest_send(t, VSOCK_OP_REQUEST, 2 /* seqpacket */, CID, 7000, 5000, NULL, 0);
	assert_true(guest_recv(t, &h, NULL, 0));
	assert_int_equal(h.op, VSOCK_OP_RST);
	guest_send(t, VSOCK_OP_RW, VSOCK_TYPE_STREAM, CID, 7000, 5000, "x", 1);
	assert_true(guest_recv(t, &h, NULL, 0)); /* data for no connection */
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_true(virtio_dev_running(t->d));
}

static void test_stream_both_ways_and_credit_violation(void **state)
{
	struct t *t = *state;
	struct cc_error err;
	char path[160], buf[64];
	struct vsock_hdr h;
	snprintf(path, sizeof(path), "%s_5000", t->path);
	int lfd = listen_on(path);

	guest_send(t, VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, CID, 7000, 5000, NULL, 0);
	assert_true(guest_recv(t, &h, NULL, 0));
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.buf_alloc, 64 * 1024);
	int host = accept(lfd, NULL, NULL);
	assert_true(host >= 0);

	guest_send(t, VSOCK_OP_RW, VSOCK_TYPE_STREAM, CID, 7000, 5000, "from guest", 10);
	assert_int_equal(read(host, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "from guest", 10);

	assert_int_equal(write(host, "from host", 9), 9);
	assert_true(loop_once(&t->v.loop, 1000, &err) > 0);
	assert_true(guest_recv(t, &h, buf, sizeof(buf)));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 9);
	assert_memory_equal(buf, "from host", 9);

	/* More than the 64 KiB of credit we advertised in one packet: connection reset. */
	static char big[64 * 1024 + 1];
	guest_send(t, VSOCK_OP_RW, VSOCK_TYPE_STREAM, CID, 7000, 5000, big, sizeof(big));
	assert_true(guest_recv(t, &h, NULL, 0));
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(read(host, buf, sizeof(buf)), 0); /* the host side sees EOF */
	assert_true(virtio_dev_running(t->d));
	close(host);
	close(lfd);
}

static void test_malformed_tx_chain_breaks_device(void **state)
{
	struct t *t = *state;
	/* A header that claims more payload than the chain carries. */
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = 2, .len = 100, .type = 1, .op = 5 };
	memcpy(ram(t, TXBUF), &h, sizeof(h));
	*(struct desc *)ram(t, RING(TXQ)) = (struct desc){ TXBUF, sizeof(h) + 10, 0, 0 };
	offer(t, TXQ, 0);
	virtio_dev_kick(t->d, TXQ);
	assert_true(t->d->status & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_dev_running(t->d));
}

static void test_parse_hdr(void **state)
{
	(void)state;
	uint8_t buf[64] = { 0 };
	struct vq_chain c = { .n_out = 1, .out_len = 40, .seg = { { buf, 40 } } };
	struct vsock_hdr h;
	assert_int_equal(vsock_parse_hdr(&c, &h), -1); /* shorter than a header */
	c.seg[0].len = 44;
	c.out_len = 44;
	assert_int_equal(vsock_parse_hdr(&c, &h), 0);
	c.n_in = 1; /* device-writable part in a tx chain */
	assert_int_equal(vsock_parse_hdr(&c, &h), -1);
}

int main(void)
{
	cc_log_init("test_vsock", CC_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_hdr),
		cmocka_unit_test_setup_teardown(test_connect_to_nobody_is_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed_cid_and_bad_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_both_ways_and_credit_violation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_tx_chain_breaks_device, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
