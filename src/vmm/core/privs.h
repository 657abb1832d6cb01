/* The VMM keeps no privileges once its devices are set up. */
#ifndef COCOON_VMM_PRIVS_H
#define COCOON_VMM_PRIVS_H

#include "shared/error.h"

/* Clears every capability set of the calling thread (threads started later inherit
 * the empty sets) and forbids regaining any through exec. */
int privs_drop(struct cc_error *err);

#endif
