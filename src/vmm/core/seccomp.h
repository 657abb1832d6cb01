/* Per-thread seccomp filters: each thread gets only the system calls its job needs. */
#ifndef COCOON_VMM_SECCOMP_H
#define COCOON_VMM_SECCOMP_H

#include "shared/error.h"

enum seccomp_thread { SECCOMP_THREAD_MAIN, SECCOMP_THREAD_VCPU };

int seccomp_apply(enum seccomp_thread which, struct cc_error *err);
/* Lets every thread sendmsg() on fd (a vhost-user socket: queue setup passes eventfds
 * from whichever thread the driver's DRIVER_OK write arrives on). Before seccomp_apply. */
void seccomp_allow_fd(int fd);

#endif
