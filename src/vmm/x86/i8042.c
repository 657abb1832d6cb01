/* Minimal i8042 keyboard controller: its only job is the reset line. Writing 0xFE
 * (pulse reset) to the command port ends the VM with status 0, which is how a guest
 * with reboot=k (or a freestanding program) shuts down. */
#include <stdlib.h>
#include <string.h>

#include "vmm/x86/i8042.h"
#include "vmm/core/vmm.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe

static void data_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len); /* no key data, status: output buffer empty */
}

static void data_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct vmm *v = opaque;
	if (off == I8042_CMD - I8042_DATA && len == 1 && *(const uint8_t *)data == I8042_CMD_RESET)
		vmm_request_exit(v, VMM_EXIT_OK, "guest reset");
}

static const struct bus_dev_ops i8042_ops = { .read = data_read, .write = data_write };

int i8042_create(struct vmm *v, struct cc_error *err)
{
	/* 0x60..0x64; the speaker port 0x61 in between is served by KVM's PIT. */
	return bus_add(&v->pio, "i8042", I8042_DATA, 5, &i8042_ops, v, err);
}
