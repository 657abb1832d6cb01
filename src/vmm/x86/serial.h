/* The 8250 UART on COM1: the serial console. */
#ifndef COCOON_VMM_SERIAL_H
#define COCOON_VMM_SERIAL_H

#include "shared/error.h"

struct vmm;
struct snap_serial;

int serial_create(struct vmm *v, struct cc_error *err);
/* Snapshots of the UART's registers and receive FIFO. */
void serial_save(struct vmm *v, struct snap_serial *out);
void serial_restore(struct vmm *v, const struct snap_serial *in);

#endif
