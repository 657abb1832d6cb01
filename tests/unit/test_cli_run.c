/* `cocoon run`'s option handling (src/cli/run_opts.c): what each option sets, and the
 * bad values it refuses before anything starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cli/run_opts.h"

#define ARGV(...) ((char *[]){ "run", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(o, ...) cli_run_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), o)

static void test_options(void **state)
{
	(void)state;
	struct run_opts o;
	assert_int_equal(PARSE(&o, "--cpus", "1.5", "-m", "256M", "-i", "-t", "-e", "A=1", "-e",
			       "HOME", "-w", "/srv", "-u", "1000:100", "--read-only", "--netns",
			       "/var/run/netns/x", "--hypervisor", "qemu", "--config", "/c.conf",
			       "--debug", "--rootfs", "/r", "sh", "-c", "true"),
			 0);
	assert_true(o.cpus == 1.5);
	assert_int_equal(o.memory, 256ull << 20);
	assert_true(o.interactive && o.tty && o.readonly && o.debug);
	assert_int_equal(o.n_env, 2);
	assert_string_equal(o.env[0], "A=1");
	assert_string_equal(o.env[1], "HOME");
	assert_string_equal(o.workdir, "/srv");
	assert_true(o.has_user);
	assert_int_equal(o.uid, 1000);
	assert_int_equal(o.gid, 100);
	assert_string_equal(o.netns, "/var/run/netns/x");
	assert_string_equal(o.hypervisor, "qemu");
	assert_string_equal(o.config, "/c.conf");
	assert_string_equal(o.rootfs, "/r");
	assert_null(o.bundle);
	/* Options stop at the command: its own flags are its own. */
	assert_string_equal(o.cmd[0], "sh");
	assert_string_equal(o.cmd[1], "-c");
	assert_string_equal(o.cmd[2], "true");
	assert_null(o.cmd[3]);
}

/* A bundle needs no command; -u UID alone uses it as the group too. */
static void test_bundle_and_user(void **state)
{
	(void)state;
	struct run_opts o;
	assert_int_equal(PARSE(&o, "--bundle", "/b", "-u", "7"), 0);
	assert_string_equal(o.bundle, "/b");
	assert_null(o.cmd[0]);
	assert_int_equal(o.uid, 7);
	assert_int_equal(o.gid, 7);
	assert_int_equal(o.memory, 0);
	assert_true(o.cpus == 0);
}

static void test_refused(void **state)
{
	(void)state;
	struct run_opts o;
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");		   /* the refusals print their reason */
	assert_int_equal(PARSE(&o, "--rootfs", "/r"), -1); /* no command */
	assert_int_equal(PARSE(&o, "--rootfs", "/r", "--bundle", "/b", "x"), -1); /* both */
	assert_int_equal(PARSE(&o, "true"), -1);				  /* neither */
	assert_int_equal(PARSE(&o, "--cpus", "0", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "--cpus", "65", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "--cpus", "1x", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "-m", "5M", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "-m", "2T", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "-m", "lots", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "-e", "=x", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "-w", "rel", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "-u", "root", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "-u", "1:", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "--bogus", "--rootfs", "/r", "x"), -1);
	assert_int_equal(PARSE(&o, "--rootfs"), -1); /* missing argument */
	fclose(stderr);
	stderr = saved;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_bundle_and_user),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
