/* Container creation on the host (needs root): a busybox rootfs in a temp dir, the
 * default spec, and checks of what the container's process sees. Container cgroups go
 * into a temporary cgroup v2 directory (on hybrid hosts the v2 mount at
 * /sys/fs/cgroup/unified, which has no controllers, so limits are not tested here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/container.h"
#include "shared/oci_spec.h"
#include "shared/util.h"

static char tmpdir[64], rootfs[128], cgroot[128];

static const char *const applets[] = { "sh",  "cat",   "echo",	"hostname", "id",
				       "pwd", "sleep", "touch", "grep",	    "wc",
				       "ls",  "true",  "mkdir", "readlink" };

static int make_rootfs(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/bin", rootfs);
	struct cc_error err;
	if (cc_mkdir_p(path, 0755, &err) < 0)
		return -1;
	for (const char *d = "proc\0sys\0dev\0tmp\0etc\0"; *d; d += strlen(d) + 1) {
		snprintf(path, sizeof(path), "%s/%s", rootfs, d);
		if (mkdir(path, 0755) < 0)
			return -1;
	}
	char *data;
	size_t len;
	if (cc_read_file("/bin/busybox", 16 << 20, &data, &len, &err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/bin/busybox", rootfs);
	int r = cc_write_file(path, data, len, 0755, &err);
	free(data);
	for (size_t i = 0; r == 0 && i < CC_ARRAY_SIZE(applets); i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", rootfs, applets[i]);
		r = symlink("busybox", path);
	}
	return r;
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("skip: test_container needs root (namespaces, mounts, cgroups)\n");
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cocoon-test-container.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmpdir);
	if (make_rootfs() < 0)
		return -1;
	const char *v2 = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0
				 ? "/sys/fs/cgroup/unified"
				 : "/sys/fs/cgroup";
	snprintf(cgroot, sizeof(cgroot), "%s/cocoon-test-%d", v2, (int)getpid());
	struct cc_error err;
	return container_set_cgroup_root(cgroot, &err);
}

/* A failed assertion leaves its container running: kill and remove what is left. */
static int teardown(void **state)
{
	(void)state;
	struct cc_error err;
	DIR *d = opendir(cgroot);
	for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
		struct container_rt c = { .spec = NULL, .start_fd = -1 };
		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    snprintf(c.id, sizeof(c.id), "%s", e->d_name) >= (int)sizeof(c.id) ||
		    snprintf(c.cgroup, sizeof(c.cgroup), "%s/%s", cgroot, e->d_name) >=
			    (int)sizeof(c.cgroup))
			continue;
		if (container_destroy(&c, &err) < 0)
			print_error("teardown: %s\n", err.msg);
	}
	if (d != NULL)
		closedir(d);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	rmdir(cgroot);
	cc_rm_rf(tmpdir, &err);
	return 0;
}

/* The default spec for args, edited by `edit` (may be NULL) through json-c. */
static struct oci_spec *make_spec(char *const *args, void (*edit)(json_object *))
{
	char *env[] = { "FOO=bar baz", NULL };
	struct oci_default_opts o = { .args = args,
				      .env = env,
				      .cwd = "/tmp",
				      .root_path = rootfs,
				      .hostname = "box",
				      .memory_limit = -1,
				      .cpu_quota = -1 };
	struct cc_error err = { 0 };
	char *json = oci_spec_default_json(&o, &err);
	assert_non_null(json);
	json_object *j = json_tokener_parse(json);
	free(json);
	assert_non_null(j);
	if (edit != NULL)
		edit(j);
	const char *text = json_object_to_json_string(j);
	struct oci_spec *s = NULL;
	if (oci_spec_parse(text, strlen(text), &s, &err) < 0)
		fail_msg("spec: %s", err.msg);
	json_object_put(j);
	return s;
}

static void init_rt(struct container_rt *c, const char *id, struct oci_spec *s)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->spec = s;
	c->start_fd = -1;
}

static char *read_all(int fd)
{
	static char buf[8192];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

static int wait_status(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Creates, starts and waits for a container; returns its output and exit status. */
static char *run(const char *id, struct oci_spec *s, int *status)
{
	struct container_rt c;
	struct cc_error err = { 0 };
	int p[2];
	init_rt(&c, id, s);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct spawn_stdio io = { -1, p[1], p[1], -1 };
	if (container_create(&c, &io, &err) < 0)
		fail_msg("create: %s", err.msg);
	close(p[1]);
	if (container_start(&c, &err) < 0)
		fail_msg("start: %s", err.msg);
	char *out = read_all(p[0]);
	close(p[0]);
	*status = wait_status(c.init_pid);
	assert_int_equal(container_destroy(&c, &err), 0);
	return out;
}

static void test_process_view(void **state)
{
	(void)state;
	char *args[] = { "sh", "-c",
			 "echo \"$FOO\"; hostname; id -u; id -g; pwd; echo $$; "
			 "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ls /dev; exit 7",
			 NULL };
	int status;
	char *out = run("view", make_spec(args, NULL), &status);
	assert_int_equal(status, 7);
	assert_string_equal(out, "bar baz\nbox\n0\n0\n/tmp\n1\n"
				 "CapEff:\t0000000020000420\nNoNewPrivs:\t1\n"
				 "fd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\n"
				 "stderr\nstdin\nstdout\ntty\nurandom\nzero\n");
}

static void set_user(json_object *j)
{
	json_object *p = json_object_object_get(j, "process");
	json_object *u = json_object_object_get(p, "user");
	json_object_object_add(u, "uid", json_object_new_int(1000));
	json_object_object_add(u, "gid", json_object_new_int(100));
	json_object *g = json_object_new_array();
	json_object_array_add(g, json_object_new_int(27));
	json_object_object_add(u, "additionalGids", g);
	json_object_object_add(json_object_object_get(j, "root"), "readonly",
			       json_object_new_boolean(1));
}

static void test_user_readonly_masked(void **state)
{
	(void)state;
	char *args[] = { "sh", "-c",
			 "id; grep CapEff /proc/self/status; touch /x 2>/dev/null || echo ro-root; "
			 "touch /tmp/x 2>/dev/null || echo ro-tmp; "
			 "wc -c </proc/keys; ls /sys/firmware | wc -l; "
			 "grep -c ' /proc/sys ro,' /proc/self/mountinfo",
			 NULL };
	int status;
	char *out = run("user", make_spec(args, set_user), &status);
	assert_int_equal(status, 0);
	/* /tmp is part of the read-only root in this rootfs; /proc/keys reads as
	 * /dev/null; /sys/firmware is an empty tmpfs; /proc/sys is mounted read-only. */
	assert_string_equal(out, "uid=1000 gid=100 groups=27\nCapEff:\t0000000000000000\n"
				 "ro-root\nro-tmp\n0\n0\n1\n");
}

static void add_seccomp(json_object *j)
{
	json_object *sc = json_tokener_parse(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
		"\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\",\"no_such_syscall\"],"
		"\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13}]}");
	json_object_object_add(json_object_object_get(j, "linux"), "seccomp", sc);
	json_object *sysctl = json_object_new_object();
	json_object_object_add(sysctl, "kernel.domainname", json_object_new_string("cocoon.test"));
	json_object_object_add(json_object_object_get(j, "linux"), "sysctl", sysctl);
}

static void test_seccomp_sysctl(void **state)
{
	(void)state;
	char *args[] = { "sh", "-c", "mkdir /tmp/d; cat /proc/sys/kernel/domainname", NULL };
	int status;
	char *out = run("seccomp", make_spec(args, add_seccomp), &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "mkdir: can't create directory '/tmp/d': Permission denied\n"
				 "cocoon.test\n");
}

static void test_not_found(void **state)
{
	(void)state;
	char *args[] = { "no-such-command", "x", NULL };
	struct container_rt c;
	struct cc_error err = { 0 };
	init_rt(&c, "notfound", make_spec(args, NULL));
	struct spawn_stdio io = { -1, -1, -1, -1 };
	assert_int_equal(container_create(&c, &io, &err), 0);
	assert_int_equal(container_start(&c, &err), -1);
	assert_string_equal(err.msg, "start container notfound: exec: no-such-command: not found");
	assert_int_equal(wait_status(c.init_pid), 127);
	assert_int_equal(container_destroy(&c, &err), 0);
}

static void test_create_errors(void **state)
{
	(void)state;
	char *args[] = { "true", NULL };
	struct container_rt c;
	struct cc_error err = { 0 };
	struct spawn_stdio io = { -1, -1, -1, -1 };
	char cgdir[256];
	snprintf(cgdir, sizeof(cgdir), "%s/bad", cgroot);

	struct oci_spec *s = make_spec(args, NULL);
	free(s->root_path);
	s->root_path = strdup("/nonexistent/rootfs");
	init_rt(&c, "bad", s);
	assert_int_equal(container_create(&c, &io, &err), -1);
	assert_non_null(strstr(err.msg, "bind rootfs /nonexistent/rootfs: No such file"));
	assert_int_equal(c.init_pid, 0);
	assert_int_equal(access(cgdir, F_OK), -1); /* no cgroup left behind */
	assert_int_equal(container_destroy(&c, &err), 0);

	s = make_spec(args, NULL);
	s->n_namespaces = 1; /* pid only */
	init_rt(&c, "bad", s);
	assert_int_equal(container_create(&c, &io, &err), -1);
	assert_string_equal(err.msg, "linux.namespaces: a mount namespace is required");
	assert_int_equal(container_destroy(&c, &err), 0);

	init_rt(&c, "../escape", make_spec(args, NULL));
	assert_int_equal(container_create(&c, &io, &err), -1);
	assert_non_null(strstr(err.msg, "container id '../escape'"));
	assert_int_equal(container_destroy(&c, &err), 0);

	/* A limit whose controller is missing fails by name (the host's v2 hierarchy has
	 * no controllers; in a guest with them this would succeed). */
	s = make_spec(args, NULL);
	s->resources.pids_limit = 10;
	init_rt(&c, "nolimit", s);
	snprintf(cgdir, sizeof(cgdir), "%s/nolimit", cgroot);
	if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0) {
		assert_int_equal(container_create(&c, &io, &err), -1);
		assert_non_null(strstr(err.msg, "nolimit/pids.max: missing (is its controller "
						"enabled?)"));
		assert_int_equal(access(cgdir, F_OK), -1);
	}
	assert_int_equal(container_destroy(&c, &err), 0);

	s = make_spec(args, NULL);
	free(s->mounts[0].type);
	s->mounts[0].type = strdup("nosuchfs");
	init_rt(&c, "badmount", s);
	assert_int_equal(container_create(&c, &io, &err), -1);
	assert_string_equal(err.msg, "create container badmount: mounts[0] (/proc): mount "
				     "nosuchfs: No such device");
	assert_int_equal(container_destroy(&c, &err), 0);
}

static void set_terminal(json_object *j)
{
	json_object_object_add(json_object_object_get(j, "process"), "terminal",
			       json_object_new_boolean(1));
}

/* With a terminal, the pty comes from the container's own devpts: tty(1) names it,
 * it is the controlling tty and /dev/console, and the master is handed back. */
static void test_terminal(void **state)
{
	(void)state;
	char *args[] = { "sh", "-c",
			 "tty; test -t 0 && echo interactive; "
			 "test -c /dev/console && echo console; echo $TERM",
			 NULL };
	struct container_rt c;
	struct cc_error err = { 0 };
	init_rt(&c, "tty", make_spec(args, set_terminal));
	struct spawn_stdio io = { -1, -1, -1, -1 };
	if (container_create(&c, &io, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_true(io.console >= 0);
	assert_int_equal(container_start(&c, &err), 0);
	assert_int_equal(wait_status(c.init_pid), 0);
	char buf[512];
	ssize_t n = read(io.console, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	close(io.console);
	assert_string_equal(buf, "/dev/pts/0\r\ninteractive\r\nconsole\r\nxterm\r\n");
	assert_int_equal(container_destroy(&c, &err), 0);
}

static void test_exec_and_lifecycle(void **state)
{
	(void)state;
	char *args[] = { "sleep", "1000", NULL };
	struct container_rt c;
	struct cc_error err = { 0 };
	struct spawn_stdio none = { -1, -1, -1, -1 };
	init_rt(&c, "life", make_spec(args, NULL));
	assert_int_equal(container_create(&c, &none, &err), 0);
	assert_int_equal(container_start(&c, &err), 0);

	/* An exec'd process sees the container's hostname, pid namespace and root. */
	char *eargs[] = { "sh", "-c", "hostname; cat /proc/1/comm; echo $$; pwd; ls /bin/busybox",
			  NULL };
	char *eenv[] = { "PATH=/bin", NULL };
	struct oci_process p = { .args = eargs, .env = eenv, .cwd = "/dev" };
	int out[2];
	pid_t pid;
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	struct spawn_stdio io = { -1, out[1], out[1], -1 };
	if (container_exec(&c, &p, &io, &pid, &err) < 0)
		fail_msg("exec: %s", err.msg);
	close(out[1]);
	char *text = read_all(out[0]);
	close(out[0]);
	assert_int_equal(wait_status(pid), 0);
	assert_string_equal(text, "box\nsleep\n2\n/dev\n/bin/busybox\n");

	char *missing[] = { "nope", NULL };
	p.args = missing;
	assert_int_equal(container_exec(&c, &p, &none, &pid, &err), -1);
	assert_string_equal(err.msg, "exec in life: exec: nope: not found");
	assert_true(pid > 0);
	assert_int_equal(wait_status(pid), 127);

	pid_t *pids;
	size_t n;
	assert_int_equal(container_pids(&c, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], c.init_pid);
	free(pids);
	struct container_stats st;
	assert_int_equal(container_stats(&c, &st, &err), 0);
	assert_true(st.cpu_usage_ns > 0);

	assert_int_equal(container_freeze(&c, 1, &err), 0);
	assert_int_equal(container_freeze(&c, 0, &err), 0);

	assert_int_equal(container_kill(&c, SIGTERM, 0, &err), 0);
	/* sleep as pid 1 of its namespace ignores SIGTERM (no handler): still alive */
	usleep(50000);
	assert_int_equal(waitpid(c.init_pid, NULL, WNOHANG), 0);
	assert_int_equal(container_kill(&c, SIGKILL, 1, &err), 0);
	assert_int_equal(wait_status(c.init_pid), 128 + SIGKILL);
	char cgdir[256];
	snprintf(cgdir, sizeof(cgdir), "%s", c.cgroup);
	assert_int_equal(container_destroy(&c, &err), 0);
	assert_int_equal(access(cgdir, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process_view),
		cmocka_unit_test(test_user_readonly_masked),
		cmocka_unit_test(test_seccomp_sysctl),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_exec_and_lifecycle),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
