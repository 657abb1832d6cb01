/* The shim's own code, linked without its main.c: the command line containerd gives it
 * (Go-style flags) and the conversion of the guest's stats into containerd's cgroup v1
 * Metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agent.pb-c.h"
#include "shim/shim.h"

#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"

#define ARGV(...) ((char *[]){ "containerd-shim-cocoon-v2", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "x", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(a, err, ...) shim_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a, err)

/* What containerd runs: single-dash flags, separate values, then the action. */
static void test_args_containerd_start(void **state)
{
	(void)state;
	struct shim_args a;
	struct cc_error err;
	assert_int_equal(PARSE(&a, &err, "-namespace", "k8s.io", "-address",
			       "/run/containerd/containerd.sock", "-publish-binary",
			       "/usr/bin/containerd", "-id", "abc", "-debug", "start"),
			 0);
	assert_string_equal(a.ns, "k8s.io");
	assert_string_equal(a.address, "/run/containerd/containerd.sock");
	assert_string_equal(a.publish_binary, "/usr/bin/containerd");
	assert_string_equal(a.id, "abc");
	assert_true(a.debug);
	assert_string_equal(a.action, "start");
	assert_null(a.bundle);
}

/* Go's flag package also takes two dashes and -flag=value; no action: the daemon. */
static void test_args_go_forms(void **state)
{
	(void)state;
	struct shim_args a;
	struct cc_error err;
	assert_int_equal(PARSE(&a, &err, "--namespace=default", "-address=/a.sock", "--id", "c1",
			       "-bundle=/b", "-config", "/etc/c.conf", "-debug=false"),
			 0);
	assert_string_equal(a.ns, "default");
	assert_string_equal(a.address, "/a.sock");
	assert_string_equal(a.id, "c1");
	assert_string_equal(a.bundle, "/b");
	assert_string_equal(a.config, "/etc/c.conf");
	assert_false(a.debug);
	assert_null(a.action);
	assert_int_equal(PARSE(&a, &err, "-namespace", "n", "-address", "a", "-id", "i", "delete"),
			 0);
	assert_string_equal(a.action, "delete");
}

static void expect_error(int rc, const struct cc_error *err, const char *msg)
{
	assert_int_equal(rc, -1);
	assert_string_equal(err->msg, msg);
}

static void test_args_errors(void **state)
{
	(void)state;
	struct shim_args a;
	struct cc_error err;
	expect_error(PARSE(&a, &err, "-namespace", "n", "-bogus", "x"), &err,
		     "unknown flag -bogus");
	expect_error(PARSE(&a, &err, "-namespace", "n", "-address", "a", "-id"), &err,
		     "flag -id needs a value");
	expect_error(
		PARSE(&a, &err, "-namespace", "n", "-address", "a", "-id", "i", "start", "extra"),
		&err, "unexpected argument extra");
	expect_error(PARSE(&a, &err, "-namespace", "n", "-address", "a", "-id", "i", "stop"), &err,
		     "unknown action stop (want start or delete)");
	expect_error(PARSE(&a, &err, "-address", "a", "-id", "i"), &err, "-namespace is required");
	expect_error(PARSE(&a, &err, "-namespace", "n", "-address", "a"), &err, "-id is required");
	expect_error(PARSE(&a, &err, "-namespace", "n", "-id", "i"), &err, "-address is required");
}

/* CRI's working set is usage - total_inactive_file: the guest's working set survives
 * the trip. */
static void test_metrics(void **state)
{
	(void)state;
	Cocoon__Agent__V1__StatsResponse s = COCOON__AGENT__V1__STATS_RESPONSE__INIT;
	s.cpu_usage_ns = 5000;
	s.cpu_user_ns = 3000;
	s.cpu_system_ns = 2000;
	s.cpu_throttled_periods = 7;
	s.memory_usage = 100 << 20;
	s.memory_working_set = 60 << 20;
	s.memory_limit = 256 << 20;
	s.memory_oom_kills = 2;
	s.pids_current = 3;
	s.io_read_bytes = 11;
	s.io_write_bytes = 22;
	size_t len;
	uint8_t *buf = shim_metrics_pack(&s, &len);
	assert_non_null(buf);
	Io__Containerd__Cgroups__V1__Metrics *m =
		io__containerd__cgroups__v1__metrics__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(m);
	assert_int_equal(m->cpu->usage->total, 5000);
	assert_int_equal(m->cpu->usage->user, 3000);
	assert_int_equal(m->cpu->usage->kernel, 2000);
	assert_int_equal(m->cpu->throttling->throttled_periods, 7);
	assert_int_equal(m->memory->usage->usage, 100 << 20);
	assert_int_equal(m->memory->usage->limit, 256 << 20);
	assert_int_equal(m->memory->usage->usage - m->memory->total_inactive_file, 60 << 20);
	assert_int_equal(m->memory_oom_control->oom_kill, 2);
	assert_int_equal(m->pids->current, 3);
	assert_int_equal(m->blkio->n_io_service_bytes_recursive, 2);
	assert_int_equal(m->blkio->io_service_bytes_recursive[0]->value, 11);
	assert_int_equal(m->blkio->io_service_bytes_recursive[1]->value, 22);
	io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_containerd_start),
		cmocka_unit_test(test_args_go_forms),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
