/* The template store (host/template.c) without a VM: a template is used only when it is
 * whole, root-only and carries this sandbox's key; anything else is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/template.h"
#include "shared/util.h"

static char root[64];
static char tdir[256];
static const struct template_key key = { .name = "c1-m256-n0-0123456789abcdef",
					 .shape = "c1-m256-n0-",
					 .desc = "cocoon template 1\nkernel k\n" };

static void put(const char *name, const char *text, int mode)
{
	char path[512];
	struct cc_error err;
	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	assert_int_equal(cc_write_file(path, text, strlen(text), mode, &err), 0);
	assert_int_equal(chmod(path, (mode_t)mode), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cocoon-ut-tmpl.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(tdir, sizeof(tdir), "%s/templates", root);
	assert_int_equal(mkdir(tdir, 0700), 0);
	snprintf(tdir, sizeof(tdir), "%s/templates/%s", root, key.name);
	assert_int_equal(mkdir(tdir, 0700), 0);
	put("key", key.desc, 0600);
	put("vm.state", "COCNSNAP", 0600);
	put("memory", "", 0600);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct cc_error err;
	cc_rm_rf(root, &err);
	return 0;
}

static int open_it(struct cc_error *err)
{
	int s = -1, m = -1;
	int rc = template_open(root, &key, &s, &m, err);
	if (rc == 0) {
		assert_true(s >= 0 && m >= 0 && s != m);
		close(s);
		close(m);
	}
	return rc;
}

static void test_whole_template_opens(void **state)
{
	(void)state;
	struct cc_error err;
	if (geteuid() != 0)
		skip(); /* root-only means owned by root */
	assert_int_equal(open_it(&err), 0);
}

static void test_missing_is_not_an_error(void **state)
{
	(void)state;
	struct cc_error err;
	struct template_key other = key;
	snprintf(other.name, sizeof(other.name), "c2-m512-n1-0000000000000000");
	int s, m;
	assert_int_equal(template_open(root, &other, &s, &m, &err), 1);
}

static void test_refusals(void **state)
{
	(void)state;
	struct cc_error err;
	if (geteuid() != 0)
		skip();
	assert_int_equal(chmod(tdir, 0755), 0);
	assert_int_equal(open_it(&err), -1);
	assert_non_null(strstr(err.msg, "is not root-only (owner 0, mode 755)"));
	assert_int_equal(chmod(tdir, 0700), 0);

	put("memory", "", 0644);
	assert_int_equal(open_it(&err), -1);
	assert_non_null(strstr(err.msg, "memory is not root-only"));
	put("memory", "", 0600);

	put("key", "cocoon template 1\nkernel other\n", 0600);
	assert_int_equal(open_it(&err), -1);
	assert_non_null(strstr(err.msg, "its key file is not this sandbox's key"));
	put("key", key.desc, 0600);

	char path[512];
	snprintf(path, sizeof(path), "%s/vm.state", tdir);
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(open_it(&err), -1);
	assert_non_null(strstr(err.msg, "vm.state"));
	unlink(path);
	assert_int_equal(open_it(&err), -1);
	assert_non_null(strstr(err.msg, "vm.state: No such file or directory"));
}

static void test_discard(void **state)
{
	(void)state;
	struct cc_error err;
	template_discard(root, &key);
	struct stat st;
	assert_int_equal(stat(tdir, &st), -1);
	int s, m;
	assert_int_equal(template_open(root, &key, &s, &m, &err), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole_template_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_is_not_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
