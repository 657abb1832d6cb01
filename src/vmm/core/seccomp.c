/* Per-thread seccomp filters (libseccomp), loaded by each thread once its setup is done:
 * everything that opens files, maps KVM structures or creates devices happens before.
 * A system call outside the list kills the whole process (SIGSYS), as in Firecracker:
 * a VMM that does something unexpected is compromised or broken, not to be continued.
 *  - vCPU threads: KVM_RUN and interrupt lines, I/O on fds they already have (serial
 *    output, eventfds), locking, and what exit and logging need.
 *  - the main thread (event loop): the same plus socket accept/connect for the API and
 *    vsock (AF_UNIX stream sockets only), disk I/O, entropy, and signalling vCPU
 *    threads (tgkill of its own process only; fcntl for flags only).
 * Paths cannot be checked by a filter: what connect() and unlink() reach is limited by
 * the jail the VMM runs in (host/child.h), whose root holds its own directory alone. */
#include "vmm/core/seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/kvm.h>

#include "shared/util.h"
#include "vmm/core/snapshot.h"

/* Both kinds of thread. */
static const int common[] = {
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(close),
	SCMP_SYS(futex),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	/* malloc */
	SCMP_SYS(brk),
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(mprotect),
	/* first stdio use */
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
};

static const int main_only[] = {
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(accept4),
	SCMP_SYS(connect),    SCMP_SYS(shutdown),    SCMP_SYS(sendto),	  SCMP_SYS(recvfrom),
	SCMP_SYS(sendmsg),    SCMP_SYS(recvmsg),     SCMP_SYS(preadv),	  SCMP_SYS(pwritev),
	SCMP_SYS(pread64),    SCMP_SYS(pwrite64),    SCMP_SYS(fdatasync), SCMP_SYS(getrandom),
	SCMP_SYS(unlink),     SCMP_SYS(eventfd2),
};

/* The API's snapshot command (snapshot.c) in the main thread: reading KVM state, sizing,
 * seeking (SEEK_DATA/SEEK_HOLE over guest RAM) and syncing the files it creates. openat
 * is allowed with the saver's two flag sets only (snapshot_open_rules): it can create a
 * new file or open a directory, never read or overwrite an existing file. */
static const int snapshot_calls[] = { SCMP_SYS(ftruncate), SCMP_SYS(lseek), SCMP_SYS(fsync) };
static const unsigned long snapshot_ioctls[] = {
	KVM_GET_REGS,	     KVM_GET_SREGS,	     KVM_GET_FPU,
	KVM_GET_XSAVE,	     KVM_GET_XCRS,	     KVM_GET_LAPIC,
	KVM_GET_VCPU_EVENTS, KVM_GET_MP_STATE,	     KVM_GET_DEBUGREGS,
	KVM_GET_MSRS,	     KVM_GET_MSR_INDEX_LIST, KVM_GET_IRQCHIP,
	KVM_GET_PIT2,	     KVM_GET_CLOCK,
};

static int extra_fds[4];
static unsigned n_extra_fds;

void seccomp_allow_fd(int fd)
{
	if (n_extra_fds < CC_ARRAY_SIZE(extra_fds))
		extra_fds[n_extra_fds++] = fd;
}

static int add_all(scmp_filter_ctx ctx, const int *sys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0) < 0)
			return -1;
	return 0;
}

static int add_ioctl(scmp_filter_ctx ctx, unsigned long req)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)req));
}

static int snapshot_rules(scmp_filter_ctx ctx)
{
	static const unsigned flags[] = { SNAP_OPEN_DIR, SNAP_OPEN_CREATE };
	int rc = add_all(ctx, snapshot_calls, CC_ARRAY_SIZE(snapshot_calls));
	for (size_t i = 0; rc == 0 && i < CC_ARRAY_SIZE(snapshot_ioctls); i++)
		rc = add_ioctl(ctx, snapshot_ioctls[i]);
	for (size_t i = 0; rc == 0 && i < CC_ARRAY_SIZE(flags); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffu, flags[i]));
	return rc;
}

int seccomp_apply(enum seccomp_thread which, struct cc_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return cc_error_set(err, ENOMEM, "seccomp_init");
	int rc = add_all(ctx, common, CC_ARRAY_SIZE(common));
	if (rc == 0)
		rc = add_ioctl(ctx, KVM_IRQ_LINE);
	if (rc == 0 && which == SECCOMP_THREAD_VCPU)
		rc = add_ioctl(ctx, KVM_RUN);
	/* Read-only: the registers a triple fault is reported with. */
	if (rc == 0 && which == SECCOMP_THREAD_VCPU)
		rc = add_ioctl(ctx, KVM_GET_REGS);
	if (rc == 0 && which == SECCOMP_THREAD_VCPU)
		rc = add_ioctl(ctx, KVM_GET_SREGS);
	for (unsigned i = 0; rc == 0 && i < n_extra_fds && which == SECCOMP_THREAD_VCPU; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)extra_fds[i]));
	if (rc == 0 && which == SECCOMP_THREAD_MAIN) {
		rc = add_all(ctx, main_only, CC_ARRAY_SIZE(main_only));
		/* Sockets: AF_UNIX stream only (guest-initiated vsock connections), with
		 * any of the NONBLOCK/CLOEXEC flags. */
		if (rc == 0)
			rc = seccomp_rule_add(
				ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
				SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
				SCMP_A1(SCMP_CMP_MASKED_EQ,
					~(scmp_datum_t)(SOCK_NONBLOCK | SOCK_CLOEXEC) & 0xffffffffu,
					SOCK_STREAM));
		/* Signals to its own threads only (pthread_kill is tgkill(getpid(), ...)). */
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
					      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
		static const int fcntl_cmds[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD };
		for (size_t i = 0; rc == 0 && i < CC_ARRAY_SIZE(fcntl_cmds); i++)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
					      SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_cmds[i]));
		if (rc == 0)
			rc = snapshot_rules(ctx);
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return cc_error_set(err, -rc, "loading the seccomp filter");
	return 0;
}
