/* Config file parsing: values, quoting, comments, errors naming file:line, and the
 * lookup order (explicit path, $COCOON_CONFIG, $COCOON_STATE_DIR override). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/config.h"
#include "host/hypervisor.h"
#include "shared/log.h"

static void test_defaults(void **state)
{
	(void)state;
	struct cc_config c;
	cc_config_defaults(&c, "/opt/cocoon");
	assert_string_equal(c.hypervisor, "auto");
	assert_string_equal(c.kernel, "/opt/cocoon/share/cocoon/vmlinux");
	assert_string_equal(c.initrd, "/opt/cocoon/share/cocoon/initrd.img");
	assert_string_equal(c.state_dir, "/run/cocoon");
	assert_int_equal(c.default_vcpus, 1);
	assert_true(c.default_memory_mib >= 64);
	assert_string_equal(c.source, "");
}

static void test_parse_values(void **state)
{
	(void)state;
	struct cc_config c;
	struct cc_error err;
	cc_config_defaults(&c, "/p");
	const char *text = "# a comment\n"
			   "\n"
			   "hypervisor = \"qemu\"   # trailing comment\n"
			   "kernel=/k/vmlinux\n"
			   "  initrd = \"/path with space/initrd.img\"\n"
			   "qemu = \"/q/qemu-\\\"x\\\"\"\n"
			   "default_vcpus = 4\r\n"
			   "default_memory_mib = 2048\n"
			   "log_level = \"debug\"\n"
			   "state_dir = \"/var/run/c#c\"\n"
			   "boot_timeout_ms = 1500\n";
	assert_int_equal(cc_config_parse(&c, text, "f.conf", &err), 0);
	assert_string_equal(c.kernel, "/k/vmlinux");
	assert_string_equal(c.initrd, "/path with space/initrd.img");
	assert_string_equal(c.qemu, "/q/qemu-\"x\"");
	assert_int_equal(c.default_vcpus, 4);
	assert_int_equal(c.default_memory_mib, 2048);
	assert_int_equal(c.log_level, CC_LOG_DEBUG);
	assert_string_equal(c.state_dir, "/var/run/c#c");
	assert_int_equal(c.boot_timeout_ms, 1500);
	assert_string_equal(c.virtiofsd, "/usr/lib/qemu/virtiofsd"); /* untouched default */
}

static void expect_error(const char *text, const char *msg)
{
	struct cc_config c;
	struct cc_error err;
	cc_config_defaults(&c, "/p");
	assert_int_equal(cc_config_parse(&c, text, "x.conf", &err), -1);
	if (strstr(err.msg, msg) == NULL)
		fail_msg("expected '%s' in '%s'", msg, err.msg);
}

static void test_errors_name_file_and_line(void **state)
{
	(void)state;
	expect_error("kernel = /k\nmemory = 5\n", "x.conf:2: unknown key 'memory'");
	expect_error("\n\n\ndefault_vcpus = many\n", "x.conf:4: default_vcpus: expected a number");
	expect_error("default_vcpus = 0\n", "x.conf:1: default_vcpus: expected a number from 1");
	expect_error("default_memory_mib = -5\n", "x.conf:1: default_memory_mib");
	expect_error("default_vcpus = 99999999999999999999999\n", "x.conf:1: default_vcpus");
	expect_error("log_level = loud\n",
		     "x.conf:1: log_level: expected error, warn, info or debug");
	expect_error("kernel = \"/unterminated\n", "x.conf:1: kernel: unterminated string");
	expect_error("kernel = \"/k\" junk\n", "x.conf:1: kernel: unexpected text after the value");
	expect_error("kernel = /a b\n", "x.conf:1: kernel: a value with spaces must be quoted");
	expect_error("kernel =\n", "x.conf:1: kernel: missing value");
	expect_error("kernel = \"\"\n", "x.conf:1: kernel: empty value");
	expect_error("just words\n", "x.conf:1: expected key = value");
	expect_error("[section]\n", "x.conf:1: tables are not supported");
	expect_error("kernel = \"\\n\"\n", "x.conf:1: kernel: unsupported escape");
}

static void test_value_too_long(void **state)
{
	(void)state;
	char *text = malloc(10000);
	assert_non_null(text);
	strcpy(text, "hypervisor = ");
	memset(text + 13, 'a', 200);
	text[213] = '\0';
	expect_error(text, "x.conf:1: hypervisor: value too long");
	free(text);
}

static char tmpdir[] = "/tmp/cocoon-test-config.XXXXXX";

static void test_load_order(void **state)
{
	(void)state;
	char a[128], b[128];
	struct cc_config c;
	struct cc_error err;
	snprintf(a, sizeof(a), "%s/a.conf", tmpdir);
	snprintf(b, sizeof(b), "%s/b.conf", tmpdir);
	FILE *f = fopen(a, "w");
	assert_non_null(f);
	fputs("kernel = /from/a\n", f);
	fclose(f);
	f = fopen(b, "w");
	assert_non_null(f);
	fputs("kernel = /from/b\nstate_dir = /from/b/state\n", f);
	fclose(f);

	unsetenv("COCOON_STATE_DIR");
	setenv("COCOON_CONFIG", b, 1);
	assert_int_equal(cc_config_load(&c, a, &err), 0); /* explicit beats the env */
	assert_string_equal(c.kernel, "/from/a");
	assert_string_equal(c.source, a);
	assert_int_equal(cc_config_load(&c, NULL, &err), 0);
	assert_string_equal(c.kernel, "/from/b");
	assert_string_equal(c.state_dir, "/from/b/state");
	setenv("COCOON_STATE_DIR", "/env/state", 1);
	assert_int_equal(cc_config_load(&c, NULL, &err), 0);
	assert_string_equal(c.state_dir, "/env/state");

	snprintf(a, sizeof(a), "%s/missing.conf", tmpdir);
	assert_int_equal(cc_config_load(&c, a, &err), -1);
	assert_non_null(strstr(err.msg, "missing.conf: No such file or directory"));
	unsetenv("COCOON_CONFIG");
	unsetenv("COCOON_STATE_DIR");
}

/* template = auto (the default) | off; auto uses templates only on a backend that can
 * save a VM. */
static void test_template_setting(void **state)
{
	(void)state;
	struct cc_config c;
	struct cc_error err;
	const char *why;
	cc_config_defaults(&c, "/p");
	assert_string_equal(c.template_mode, "auto");
	assert_true(cc_config_templates(&c, &hypervisor_cocoon_vmm, &why));
	assert_string_equal(why, "in use (template = auto, backend cocoon-vmm)");
	assert_false(cc_config_templates(&c, &hypervisor_qemu, &why));
	assert_non_null(strstr(why, "only cocoon-vmm can"));
	assert_int_equal(cc_config_parse(&c, "template = off\n", "t.conf", &err), 0);
	assert_false(cc_config_templates(&c, &hypervisor_cocoon_vmm, &why));
	assert_string_equal(why, "off (template = off)");
	assert_int_equal(cc_config_parse(&c, "template = \"auto\"\n", "t.conf", &err), 0);
	assert_string_equal(c.template_mode, "auto");
	assert_int_equal(cc_config_parse(&c, "\ntemplate = sometimes\n", "t.conf", &err), -1);
	assert_string_equal(err.msg, "t.conf:2: template: expected auto or off, got 'sometimes'");
	/* Spares of a template's RAM: one by default, 0 turns them off. */
	assert_int_equal(c.template_spares, 1);
	assert_int_equal(cc_config_parse(&c, "template_spares = 0\n", "t.conf", &err), 0);
	assert_int_equal(c.template_spares, 0);
	assert_int_equal(cc_config_parse(&c, "template_spares = 17\n", "t.conf", &err), -1);
	assert_string_equal(err.msg,
			    "t.conf:1: template_spares: expected a number from 0 to 16, got '17'");
}

static void test_install_prefix(void **state)
{
	(void)state;
	char prefix[4096];
	struct cc_error err;
	assert_int_equal(cc_install_prefix(prefix, sizeof(prefix), &err), 0);
	/* This binary is <prefix>/tests/test_config, like <prefix>/bin/cocoon. */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	assert_memory_equal(self, prefix, strlen(prefix));
	assert_non_null(strstr(self + strlen(prefix), "/test_config"));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_value_too_long),
		cmocka_unit_test(test_load_order),
		cmocka_unit_test(test_install_prefix),
		cmocka_unit_test(test_template_setting),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
