/* cocoon-vmm's main-thread seccomp filter checks arguments: a compromised VMM may
 * signal only its own threads, open only AF_UNIX stream sockets and use fcntl for
 * flags only. Each case runs in a child that loads the filter and makes one call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/core/seccomp.h"

enum call {
	TGKILL_SELF,
	TGKILL_OTHER,
	SOCKET_UNIX_STREAM,
	SOCKET_UNIX_DGRAM,
	SOCKET_INET,
	FCNTL_GETFL,
	FCNTL_DUPFD
};

/* Exit status of the child, or 128 + the signal that killed it. */
static int run(enum call c, pid_t other)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cc_error err;
		if (seccomp_apply(SECCOMP_THREAD_MAIN, &err) < 0)
			syscall(SYS_exit_group, 99);
		long r = 0;
		switch (c) {
		case TGKILL_SELF: r = syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0); break;
		case TGKILL_OTHER: r = syscall(SYS_tgkill, other, other, 0); break;
		case SOCKET_UNIX_STREAM:
			r = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0);
			break;
		case SOCKET_UNIX_DGRAM: r = syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0); break;
		case SOCKET_INET: r = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); break;
		case FCNTL_GETFL: r = syscall(SYS_fcntl, 0, F_GETFL); break;
		case FCNTL_DUPFD: r = syscall(SYS_fcntl, 0, F_DUPFD, 100); break;
		}
		syscall(SYS_exit_group, r < 0 ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_main_filter_arguments(void **state)
{
	(void)state;
	pid_t other = getpid(); /* the parent: another process to the child */
	assert_int_equal(run(TGKILL_SELF, other), 0);
	assert_int_equal(run(TGKILL_OTHER, other), 128 + SIGSYS);
	assert_int_equal(run(SOCKET_UNIX_STREAM, other), 0);
	assert_int_equal(run(SOCKET_UNIX_DGRAM, other), 128 + SIGSYS);
	assert_int_equal(run(SOCKET_INET, other), 128 + SIGSYS);
	assert_int_equal(run(FCNTL_GETFL, other), 0);
	assert_int_equal(run(FCNTL_DUPFD, other), 128 + SIGSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main_filter_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
