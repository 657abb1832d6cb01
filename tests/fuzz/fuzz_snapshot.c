/* The snapshot loader (snap_decode): a hostile or corrupt vm.state must be refused or
 * decoded, never read out of bounds. The first byte picks how the rest is used:
 *  0: a raw file;
 *  1: a raw file whose header checksum is made right, so the records get parsed;
 *  2: byte edits (u16 offset, value) to a valid image, checksum made right: a mutated
 *     well-formed snapshot, reaching the checks on contents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "vmm/core/snapshot.h"

static uint8_t *valid;
static size_t valid_len;
static struct vm_state *out;

static void make_valid(void)
{
	struct vm_state *s = calloc(1, sizeof(*s));
	struct cc_error err;
	if (s == NULL || (out = malloc(sizeof(*out))) == NULL)
		abort();
	s->n_vcpus = 2;
	s->n_devices = 2;
	s->mem_size = 64ull << 20;
	for (unsigned i = 0; i < SNAP_IRQCHIPS; i++)
		s->irqchip[i].chip_id = i;
	for (unsigned i = 0; i < s->n_vcpus; i++)
		s->vcpu[i].n_msrs = 4;
	for (unsigned i = 0; i < s->n_devices; i++) {
		struct snap_device *d = &s->dev[i];
		d->mmio_base = LAYOUT_MMIO_BASE + 0x1000ull * i;
		d->irq = 5 + i;
		d->num_queues = 2;
		d->features = 1ull << 32;
		d->vq[0] = (struct snap_virtq){
			.desc = 0x1000, .avail = 0x2000, .used = 0x3000, .size = 8, .ready = 1
		};
	}
	if (snap_encode(s, &valid, &valid_len, &err) < 0)
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_error err;
	if (valid == NULL) {
		cc_log_init("fuzz", CC_LOG_ERROR, 2);
		make_valid();
	}
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 3;
	data++;
	size--;
	if (mode == 2) {
		uint8_t *img = malloc(valid_len);
		if (img == NULL)
			abort();
		memcpy(img, valid, valid_len);
		for (size_t i = 0; i + 3 <= size; i += 3) {
			size_t off = (size_t)(data[i] | data[i + 1] << 8) % valid_len;
			img[off] = data[i + 2];
		}
		snap_fix_crc(img, valid_len);
		snap_decode(img, valid_len, out, &err);
		free(img);
		return 0;
	}
	/* An exact-size copy, so ASan sees any read past the end. */
	uint8_t *buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	if (mode == 1)
		snap_fix_crc(buf, size);
	snap_decode(buf, size, out, &err);
	free(buf);
	return 0;
}
