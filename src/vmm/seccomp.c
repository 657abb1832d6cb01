#include "vmm/seccomp.h"

int seccomp_apply(enum seccomp_thread which, struct cc_error *err)
{
	(void)which;
	(void)err;
	return 0;
}
