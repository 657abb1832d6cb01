/* The jail of a sandbox's helper processes (host/child.h), seen from inside: what its
 * root holds, its ids, capabilities, no_new_privs, and that its /proc shows no other
 * process. Needs root (it mounts and changes uid), as the runtime does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/child.h"
#include "shared/util.h"

struct jailed {
	pthread_t idle; /* the runtime has threads: the jail must not wait for them */
	int idle_pipe[2];
	char dir[64];
	char log[128];
	char root[128];
	char secret[128];
};

/* Runs sh -c script in a jail that sees /usr (and the merged-/usr links) and the
 * files in rw; returns its exit status, its output in j->log. */
static int run_jailed(struct jailed *j, const char *script, const char *const *rw, uid_t *uid)
{
	gid_t gid;
	struct cc_error err;
	const char *ro[] = { "/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", NULL };
	cc_jail_ids(uid, &gid);
	struct cc_jail jail = { .uid = *uid, .gid = gid, .root = j->root, .ro = ro, .rw = rw };
	char *const argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	pid_t pid = 0;
	if (cc_child_spawn_jail(argv, j->log, NULL, &jail, &pid, &err) < 0)
		fail_msg("spawn: %s", err.msg);
	int status = 0;
	assert_true(cc_child_wait(&pid, 20000, &status));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *output(struct jailed *j)
{
	char *text = NULL;
	struct cc_error err;
	assert_int_equal(cc_read_file(j->log, 1 << 20, &text, NULL, &err), 0);
	return text;
}

static void *idle_main(void *arg)
{
	char c;
	(void)!read(*(int *)arg, &c, 1);
	return NULL;
}

static int setup(void **state)
{
	if (geteuid() != 0) {
		print_message("SKIP: the jail needs root (mount namespaces, setuid)\n");
		skip();
	}
	struct jailed *j = calloc(1, sizeof(*j));
	snprintf(j->dir, sizeof(j->dir), "/tmp/test-child.XXXXXX");
	assert_non_null(mkdtemp(j->dir));
	snprintf(j->log, sizeof(j->log), "%s/log", j->dir);
	snprintf(j->root, sizeof(j->root), "%s/root", j->dir);
	snprintf(j->secret, sizeof(j->secret), "%s/secret", j->dir);
	assert_int_equal(mkdir(j->root, 0700), 0);
	struct cc_error err;
	assert_int_equal(cc_write_file(j->secret, "host", 4, 0644, &err), 0);
	assert_int_equal(pipe(j->idle_pipe), 0);
	assert_int_equal(pthread_create(&j->idle, NULL, idle_main, &j->idle_pipe[0]), 0);
	*state = j;
	return 0;
}

static int teardown(void **state)
{
	struct jailed *j = *state;
	struct cc_error err;
	close(j->idle_pipe[1]);
	pthread_join(j->idle, NULL);
	close(j->idle_pipe[0]);
	cc_rm_rf(j->dir, &err);
	free(j);
	return 0;
}

static void test_jail_ids_and_privileges(void **state)
{
	struct jailed *j = *state;
	uid_t uid;
	const char *rw[] = { "/dev/null", NULL };
	int rc = run_jailed(j,
			    "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|"
			    "NoNewPrivs):' /proc/self/status",
			    rw, &uid);
	cleanup_free char *out = output(j);
	assert_int_equal(rc, 0);
	char want[128];
	snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
	assert_non_null(strstr(out, want));
	assert_true(uid != 0);
	const char *groups = strstr(out, "Groups:");
	assert_non_null(groups);
	assert_true(strcspn(groups, "0123456789") > strcspn(groups, "\n")); /* none */
	assert_non_null(strstr(out, "CapPrm:\t0000000000000000"));
	assert_non_null(strstr(out, "CapEff:\t0000000000000000"));
	assert_non_null(strstr(out, "CapBnd:\t0000000000000000"));
	assert_non_null(strstr(out, "CapAmb:\t0000000000000000"));
	assert_non_null(strstr(out, "NoNewPrivs:\t1"));
}

static void test_jail_sees_only_its_paths(void **state)
{
	struct jailed *j = *state;
	uid_t uid;
	const char *rw[] = { "/dev/null", NULL };
	char script[1024];
	/* The root lists only what was given; the host's files, the containerd socket
	 * directory and other processes are not there; the root is read-only. */
	snprintf(script, sizeof(script),
		 "echo root: $(ls -A /); echo procs: $(ls /proc | grep -E '^[0-9]+$');"
		 "test -e %s && echo SECRET; test -e /run/containerd && echo CONTAINERD;"
		 "test -e /etc/passwd && echo PASSWD; touch /x 2>/dev/null && echo WROTE;"
		 "touch /usr/x 2>/dev/null && echo WROTE_USR; echo done",
		 j->secret);
	int rc = run_jailed(j, script, rw, &uid);
	cleanup_free char *out = output(j);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "SECRET"));
	assert_null(strstr(out, "CONTAINERD"));
	assert_null(strstr(out, "PASSWD"));
	assert_null(strstr(out, "WROTE"));
	/* PID 1 is the shell itself (its own pid namespace), and ls its child. */
	assert_non_null(strstr(out, "procs: 1 "));
	const char *root = strstr(out, "root: ");
	assert_non_null(root);
	char line[256];
	sscanf(root, "root: %255[^\n]", line);
	for (char *w = strtok(line, " "); w != NULL; w = strtok(NULL, " "))
		if (strcmp(w, "usr") && strcmp(w, "lib") && strcmp(w, "lib64") &&
		    strcmp(w, "bin") && strcmp(w, "etc") && strcmp(w, "dev") && strcmp(w, "proc"))
			fail_msg("unexpected %s in the jail's root: %s", w, out);
	assert_non_null(strstr(out, "done"));
}

/* A listed file is writable through its bind mount; a missing optional path is skipped. */
static void test_jail_rw_file(void **state)
{
	struct jailed *j = *state;
	uid_t uid;
	char file[160];
	snprintf(file, sizeof(file), "%s/console", j->dir);
	struct cc_error err;
	assert_int_equal(cc_write_file(file, "", 0, 0600, &err), 0);
	const char *rw[] = { file, "/dev/null", "/no/such/device", NULL };
	char script[512];
	snprintf(script, sizeof(script), "echo from-jail > %s; echo rc=$?", file);
	/* Owned by root and 0600: the jailed uid cannot write it until it is handed over. */
	assert_int_equal(run_jailed(j, script, rw, &uid), 0);
	cleanup_free char *out = output(j);
	assert_non_null(strstr(out, "Permission denied"));
	uid_t next;
	gid_t gid;
	cc_jail_ids(&next, &gid);
	assert_int_equal(chown(file, next + 1, next + 1), 0);
	assert_int_equal(run_jailed(j, script, rw, &uid), 0);
	assert_int_equal(uid, next + 1);
	cleanup_free char *text = NULL;
	assert_int_equal(cc_read_file(file, 4096, &text, NULL, &err), 0);
	assert_string_equal(text, "from-jail\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jail_ids_and_privileges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jail_sees_only_its_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jail_rw_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
