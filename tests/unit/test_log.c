/* Bounded logs: rate limiting (a guest provokes VMM warnings at will) and the log pump
 * that keeps only the tail of a guest console. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/child.h"
#include "shared/log.h"
#include "shared/util.h"

static void test_rate_limit(void **state)
{
	(void)state;
	int fd = memfd_create("log", 0);
	assert_true(fd >= 0);
	cc_log_init("test", CC_LOG_WARN, fd);
	cc_log_set_rate_limit(10);
	for (int i = 0; i < 10000; i++)
		cc_warn("guest-triggered warning %d", i);
	usleep(300 * 1000); /* earns about 3 lines */
	cc_warn("after a pause");
	cc_log_set_rate_limit(0);
	cc_log_init("test", CC_LOG_WARN, STDERR_FILENO);

	char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	int lines = 0;
	for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	/* The burst (10), maybe one more earned while looping, then the line after the pause. */
	assert_true(lines >= 11 && lines <= 13);
	assert_non_null(strstr(buf, "guest-triggered warning 0\n"));
	assert_non_null(strstr(buf, "lines dropped) after a pause"));
}

/* A guest console that prints 4 MiB leaves at most the pump's bound, ending with the
 * last lines. */
static void test_log_pump_keeps_a_bounded_tail(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-log.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/console.log", dir);
	struct cc_log_pump p;
	struct cc_error err;
	assert_int_equal(cc_log_pump_start(&p, path, 64 << 10, &err), 0);
	char line[64];
	for (int i = 0; i < 65536; i++) {
		int n = snprintf(line, sizeof(line), "line %08d of a chatty guest...\n", i);
		if (cc_write_all(p.wr, line, (size_t)n, &err) < 0)
			fail_msg("write %d: %s", i, err.msg);
	}
	cc_log_pump_stop(&p);
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (cc_read_file(path, 1 << 20, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(len <= 64 << 10);
	assert_true(len >= 16 << 10);
	assert_non_null(strstr(text, "line 00065535 of a chatty guest...\n"));
	assert_null(strstr(text, "line 00000000 "));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_log_pump_keeps_a_bounded_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
