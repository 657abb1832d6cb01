#include "vmm/core/devices.h"

#include "vmm/core/vmm.h"
#include "vmm/devices/blk.h"
#include "vmm/devices/console.h"
#include "vmm/devices/fs.h"
#include "vmm/devices/net.h"
#include "vmm/devices/rng.h"
#include "vmm/devices/vsock.h"
#include "vmm/virtio/mmio.h"
#include "vmm/x86/i8042.h"
#include "vmm/x86/serial.h"

static int attach(struct vmm *v, struct virtio_dev *d, struct cc_error *err)
{
	return d == NULL ? -1 : virtio_mmio_attach(v, d, err);
}

int devices_setup(struct vmm *v, struct cc_error *err)
{
	const struct vmm_config *c = v->cfg;
	if (serial_create(v, err) < 0 || i8042_create(v, err) < 0)
		return -1;
	if (c->rng && attach(v, virtio_rng_create(err), err) < 0)
		return -1;
	for (unsigned i = 0; i < c->n_disks; i++)
		if (attach(v, virtio_blk_create(c->disks[i].path, c->disks[i].ro, err), err) < 0)
			return -1;
	for (unsigned i = 0; i < c->n_nets; i++)
		if (attach(v, virtio_net_create(v, c->nets[i].tap, c->nets[i].mac, err), err) < 0)
			return -1;
	if (c->vsock_socket != NULL &&
	    attach(v, virtio_vsock_create(v, c->vsock_cid, c->vsock_socket, err), err) < 0)
		return -1;
	if (c->fs_socket != NULL &&
	    attach(v, virtio_fs_create(v, c->fs_tag, c->fs_socket, err), err) < 0)
		return -1;
	if (c->console_socket != NULL &&
	    attach(v, virtio_console_create(v, c->console_socket, err), err) < 0)
		return -1;
	return 0;
}
