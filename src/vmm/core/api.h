/* Control API: line-based commands on a unix socket (docs/vmm-api.md). */
#ifndef COCOON_VMM_API_H
#define COCOON_VMM_API_H

#include "shared/error.h"

struct vmm;

int api_start(struct vmm *v, const char *path, struct cc_error *err);

#endif
