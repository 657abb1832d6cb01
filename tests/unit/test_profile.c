/* The boot profile's counting and its report line: phases, exits by reason, accesses by
 * device and unclaimed addresses, and a report cut to the buffer it is given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "vmm/x86/bus.h"
#include "vmm/core/profile.h"
#include "vmm/core/vmm.h"

static void dev_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
}

static void dev_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)len;
}

static const struct bus_dev_ops dev_ops = { dev_read, dev_write };

static void test_counts_and_report(void **state)
{
	(void)state;
	static struct vmm v;
	struct cc_error err;
	memset(&v, 0, sizeof(v));
	profile_init(&v.prof, 1);
	assert_int_equal(bus_add(&v.pio, "serial", 0x3f8, 8, &dev_ops, NULL, &err), 0);
	uint8_t b = 0;
	for (int i = 0; i < 3; i++)
		assert_true(bus_access(&v.pio, 0x3f8, &b, 1, true));
	assert_false(bus_access(&v.pio, 0xcf8, &b, 1, false));
	assert_int_equal(b, 0xff);
	profile_count_unclaimed(&v.prof, false, 0xcf8);
	profile_count_unclaimed(&v.prof, false, 0xcf8);
	profile_count_unclaimed(&v.prof, true, 0xfee00000);
	profile_count_exit(&v.prof, PROFILE_EXIT_IO, 2000000);
	profile_count_exit(&v.prof, PROFILE_EXIT_IO, 1000000);
	profile_count_exit(&v.prof, PROFILE_EXIT_MMIO, 0);
	profile_mark(&v.prof, PROFILE_AGENT);
	uint64_t first = v.prof.phase_ns[PROFILE_AGENT];
	profile_mark(&v.prof, PROFILE_AGENT);
	assert_int_equal(v.prof.phase_ns[PROFILE_AGENT], first);

	char line[PROFILE_LINE_MAX];
	size_t n = profile_format(&v, line, sizeof(line));
	assert_int_equal(n, strlen(line));
	assert_non_null(strstr(line, " agent_ms="));
	assert_null(strstr(line, "loaded_ms")); /* a phase not reached is left out */
	assert_non_null(strstr(line, " vmm_exits=3 io=2 io_ms=3.0 mmio=1 "));
	assert_non_null(strstr(line, " dev.serial=3"));
	assert_non_null(strstr(line, " unclaimed.pio.0xcf8=2"));
	assert_non_null(strstr(line, " unclaimed.mmio.0xfee00000=1"));
}

static void test_unclaimed_table_is_bounded(void **state)
{
	(void)state;
	static struct profile p;
	profile_init(&p, 0);
	for (unsigned port = 0; port < PROFILE_UNCLAIMED + 5; port++)
		profile_count_unclaimed(&p, false, port);
	assert_int_equal(p.n_unclaimed, PROFILE_UNCLAIMED);
	assert_int_equal(p.unclaimed_other, 5);
}

static void test_report_cut_to_buffer(void **state)
{
	(void)state;
	static struct vmm v;
	memset(&v, 0, sizeof(v));
	profile_init(&v.prof, 1);
	for (unsigned port = 0; port < PROFILE_UNCLAIMED + 1; port++)
		profile_count_unclaimed(&v.prof, true, 0xfffff000u + port);
	char small[40];
	memset(small, 'x', sizeof(small));
	size_t n = profile_format(&v, small, sizeof(small));
	assert_true(n < sizeof(small));
	assert_int_equal(strlen(small), n);
	assert_int_equal(profile_format(&v, small, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_report),
		cmocka_unit_test(test_unclaimed_table_is_bounded),
		cmocka_unit_test(test_report_cut_to_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
