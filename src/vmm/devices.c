#include "vmm/devices.h"

#include "vmm/vmm.h"

int devices_setup(struct vmm *v, struct cc_error *err)
{
	if (serial_create(v, err) < 0 || i8042_create(v, err) < 0)
		return -1;
	return 0;
}
