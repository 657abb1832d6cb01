/* The agent's bounded output buffer and the id rules of the agent protocol. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/stream.h"
#include "shared/agent_proto.h"
#include "shared/ttrpc.h"

static void nonblocking_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void test_fill_consume_eof(void **state)
{
	(void)state;
	int p[2], e;
	struct stream s;
	nonblocking_pipe(p);
	stream_init(&s, p[0]);
	assert_int_equal(stream_fill(&s, &e), 0); /* nothing yet: EAGAIN, not EOF */
	assert_false(s.eof);
	assert_int_equal(write(p[1], "hello world", 11), 11);
	assert_int_equal(stream_fill(&s, &e), 11);
	assert_int_equal(e, 0);
	assert_int_equal(stream_avail(&s), 11);
	assert_memory_equal(stream_data(&s), "hello", 5);
	stream_consume(&s, 6);
	assert_memory_equal(stream_data(&s), "world", 5);
	close(p[1]);
	assert_int_equal(stream_fill(&s, &e), 0);
	assert_true(s.eof);
	assert_false(stream_done(&s)); /* EOF seen, but "world" not handed out yet */
	stream_consume(&s, 100);       /* over-consuming is clamped */
	assert_true(stream_done(&s));
	stream_close(&s);
	assert_int_equal(s.fd, -1);
	stream_free(&s);
}

/* The buffer stops at STREAM_BUFFER_MAX and leaves the rest in the pipe. */
static void test_backpressure(void **state)
{
	(void)state;
	int p[2], e;
	struct stream s;
	char chunk[4096];
	nonblocking_pipe(p);
	stream_init(&s, p[0]);
	size_t written = 0;
	unsigned char v = 0;
	do {
		/* Fill the pipe with a running byte pattern, then drain it into s. */
		for (;;) {
			for (size_t i = 0; i < sizeof(chunk); i++)
				chunk[i] = (char)(v + i);
			ssize_t n = write(p[1], chunk, sizeof(chunk));
			if (n < 0) {
				assert_int_equal(errno, EAGAIN);
				break;
			}
			v = (unsigned char)(v + n);
			written += (size_t)n;
		}
		if (stream_full(&s))
			break;
		stream_fill(&s, &e);
		assert_int_equal(e, 0);
	} while (1);
	assert_int_equal(stream_avail(&s), STREAM_BUFFER_MAX);
	assert_true(written > STREAM_BUFFER_MAX); /* the rest waits in the pipe */
	assert_int_equal(stream_fill(&s, &e), 0); /* full: reads nothing more */
	assert_false(s.eof);
	/* Order is kept across compaction: consume a little, refill, check the pattern. */
	stream_consume(&s, 100000);
	close(p[1]);
	size_t total = 100000;
	while (!stream_done(&s)) {
		stream_fill(&s, &e);
		const uint8_t *d = stream_data(&s);
		for (size_t i = 0; i < stream_avail(&s); i++)
			assert_int_equal(d[i], (uint8_t)(total + i));
		total += stream_avail(&s);
		stream_consume(&s, stream_avail(&s));
	}
	assert_int_equal(total, written);
	stream_free(&s);
}

static void test_no_fd_is_eof(void **state)
{
	(void)state;
	struct stream s;
	stream_init(&s, -1);
	assert_true(stream_done(&s));
	stream_free(&s);
}

static void test_ids(void **state)
{
	(void)state;
	struct cc_error err;
	char longid[AGENT_MAX_ID_LEN + 2];
	assert_int_equal(agent_check_id("container_id", "abc-DEF_1.2", false, &err), 0);
	assert_int_equal(agent_check_id("exec_id", "", true, &err), 0);
	assert_int_equal(agent_check_id("container_id", "", false, &err), -1);
	assert_int_equal(err.code, TTRPC_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "container_id is empty"));
	assert_int_equal(agent_check_id("container_id", "a/b", false, &err), -1);
	assert_non_null(strstr(err.msg, "'/'"));
	assert_int_equal(agent_check_id("container_id", "..", false, &err), -1);
	assert_int_equal(agent_check_id("container_id", "a\nb", false, &err), -1);
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(agent_check_id("container_id", longid, false, &err), -1);
	assert_non_null(strstr(err.msg, "longer than"));
	longid[AGENT_MAX_ID_LEN] = '\0';
	assert_int_equal(agent_check_id("container_id", longid, false, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_consume_eof),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_no_fd_is_eof),
		cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
