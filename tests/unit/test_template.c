/* The template store (host/template.c) without a VM: a template is used only when it is
 * whole, root-only and carries this sandbox's key; anything else is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* Spare names: a whole spare is spare-<pid>-<n>; a filler's unfinished .spare-<pid>, the
 * lock and anything else a restore must never take. */
static void test_spare_names(void **state)
{
	(void)state;
	assert_true(template_spare_name("spare-12-345"));
	assert_true(template_spare_name("spare-1-1"));
	assert_false(template_spare_name(".spare-12"));
	assert_false(template_spare_name("spare-12"));
	assert_false(template_spare_name("spare-12-"));
	assert_false(template_spare_name("spare--3"));
	assert_false(template_spare_name("spare-1-2-3"));
	assert_false(template_spare_name("spare-1-2x"));
	assert_false(template_spare_name("spare-12345678901-1"));
	assert_false(template_spare_name(TEMPLATE_SPARE_LOCK));
	assert_false(template_spare_name("memory"));
}

#define MIB (1u << 20)

/* A filled spare is the template's memory with its holes, under its final name only;
 * one claim takes it (gone from both directories, open read-write), the next finds
 * none; a claimed file of the wrong size is refused and removed. */
static void test_spare_fill_and_claim(void **state)
{
	(void)state;
	struct cc_error err;
	char path[512], sbdir[512];
	snprintf(path, sizeof(path), "%s/memory", tdir);
	int mem = open(path, O_RDWR | O_CLOEXEC);
	assert_true(mem >= 0);
	assert_int_equal(ftruncate(mem, 8 * MIB), 0);
	char page[4096];
	memset(page, 0xa5, sizeof(page));
	assert_int_equal(pwrite(mem, page, sizeof(page), 0), sizeof(page));
	assert_int_equal(pwrite(mem, page, sizeof(page), 5 * MIB), sizeof(page));
	int tfd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(tfd >= 0);
	uint64_t pages = 0;
	assert_int_equal(template_spare_fill(tfd, -1, mem, &pages, &err), 0);
	assert_true(pages >= 2 && pages < 8 * MIB / 4096);

	snprintf(sbdir, sizeof(sbdir), "%s/sb", root);
	assert_int_equal(mkdir(sbdir, 0700), 0);
	int sfd = open(sbdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sfd >= 0);
	int ram = -1;
	assert_int_equal(template_spare_claim(tfd, sfd, "ram", 8 * MIB, &ram, &err), 0);
	struct stat st;
	assert_int_equal(fstat(ram, &st), 0);
	assert_int_equal(st.st_size, 8 * MIB);
	assert_int_equal(st.st_mode & 0777, 0600);
	char got[4096];
	assert_int_equal(pread(ram, got, sizeof(got), 5 * MIB), sizeof(got));
	assert_memory_equal(got, page, sizeof(got));
	assert_int_equal(pread(ram, got, sizeof(got), 3 * MIB), sizeof(got));
	assert_int_equal(got[0] | got[4095], 0);
	/* Holes stayed holes where the filesystem has them. */
	off_t data = lseek(ram, 4096, SEEK_DATA);
	assert_true(data < 0 || data >= 4096);
	assert_int_equal(pwrite(ram, "x", 1, 0), 1); /* the guest's RAM: writable */
	close(ram);
	assert_int_equal(faccessat(sfd, "ram", F_OK, 0), -1);
	/* Nothing left to claim, no unfinished file beside the template. */
	assert_int_equal(template_spare_claim(tfd, sfd, "ram", 8 * MIB, &ram, &err), 1);
	DIR *d = opendir(tdir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		assert_null(strstr(e->d_name, "spare-"));
	closedir(d);

	/* Of another size (a template rebuilt under it): refused, named, removed. */
	assert_int_equal(template_spare_fill(tfd, -1, mem, &pages, &err), 0);
	assert_int_equal(template_spare_claim(tfd, sfd, "ram", 4 * MIB, &ram, &err), -1);
	assert_non_null(strstr(err.msg, "the template's RAM is 4194304"));
	assert_int_equal(faccessat(sfd, "ram", F_OK, 0), -1);
	assert_int_equal(template_spare_claim(tfd, sfd, "ram", 8 * MIB, &ram, &err), 1);
	close(sfd);
	close(tfd);
	close(mem);
}

/* Counting under the spares lock: whole spares and those a live filler writes (it holds
 * an flock on its file) count; a dead filler's unlocked file is removed. */
static void test_spare_count(void **state)
{
	(void)state;
	int tfd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(tfd >= 0);
	assert_int_equal(template_spare_count(tfd), 0);
	put("spare-1-2", "", 0600);
	put(".spare-3", "", 0600);
	put(".spare-4", "", 0600);
	char path[512];
	snprintf(path, sizeof(path), "%s/.spare-4", tdir);
	int live = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(live >= 0);
	assert_int_equal(flock(live, LOCK_EX), 0);
	assert_int_equal(template_spare_count(tfd), 2);
	assert_int_equal(faccessat(tfd, ".spare-3", F_OK, 0), -1);
	assert_int_equal(faccessat(tfd, ".spare-4", F_OK, 0), 0);
	close(live); /* its filler died */
	assert_int_equal(template_spare_count(tfd), 1);
	assert_int_equal(faccessat(tfd, ".spare-4", F_OK, 0), -1);
	close(tfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole_template_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_is_not_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test(test_spare_names),
		cmocka_unit_test_setup_teardown(test_spare_fill_and_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spare_count, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
