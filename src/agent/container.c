/* Container lifecycle: the init process is forked into new namespaces, set up
 * completely and parked until container_start; exec'd processes join its namespaces
 * and cgroup. A SOCK_SEQPACKET pair carries the child's progress: "ready", or an error
 * text; the child's end is close-on-exec, so end-of-file after the start byte means
 * execve succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/container_priv.h"
#include "shared/log.h"
#include "shared/util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum { MSG_READY = 1, MSG_ERROR = 2, MSG_CONSOLE = 3 };

struct sync_msg {
	int kind;
	char text[sizeof(((struct cc_error *)0)->msg)];
};

/* ---- child side ---- */

static void __attribute__((noreturn)) child_fail(int sock, const struct cc_error *err, int status)
{
	struct sync_msg m = { .kind = MSG_ERROR };
	snprintf(m.text, sizeof(m.text), "%s", err->msg);
	if (send(sock, &m, sizeof(m), MSG_NOSIGNAL) < 0)
		dprintf(STDERR_FILENO, "cocoon-agent: %s\n", err->msg);
	_exit(status);
}

static void reset_signals(void)
{
	sigset_t all;
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* Puts the caller's fds on 0/1/2 (-1 means /dev/null) and starts a session. Every
 * other fd is closed at exec. A terminal replaces them later (open_console). */
static int setup_stdio(const struct spawn_stdio *io, int terminal, struct cc_error *err)
{
	int fds[3] = { io->in, io->out, io->err };
	for (int i = 0; i < 3; i++) {
		if (fds[i] < 0 || terminal)
			fds[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
		else if (fds[i] < 3)
			fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0)
			return cc_error_set(err, errno, "stdio");
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(fds[i], i) < 0)
			return cc_error_set(err, errno, "dup2 stdio");
	}
	if (setsid() < 0)
		return cc_error_set(err, errno, "setsid");
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return cc_error_set(err, errno, "close_range");
	return 0;
}

static int send_fd(int sock, int fd)
{
	struct sync_msg m = { .kind = MSG_CONSOLE };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* A pty from the container's own devpts (the mount namespace is the container's by
 * now): its master goes to the agent, its slave becomes stdio and the controlling
 * terminal, and for init also /dev/console, as runc does. */
static int open_console(const struct oci_process *p, int sock, bool bind_console,
			struct cc_error *err)
{
	cleanup_close int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return cc_error_set(err, errno,
				    "terminal: open /dev/ptmx (needs devpts on /dev/pts)");
	char name[64];
	if (unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		return cc_error_set(err, errno, "terminal: pty setup");
	cleanup_close int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0)
		return cc_error_set(err, errno, "terminal: open %s", name);
	if (p->uid != 0 && fchown(sl, p->uid, (gid_t)-1) < 0)
		return cc_error_set(err, errno, "terminal: chown %s", name);
	if (p->console_width > 0 && p->console_height > 0) {
		struct winsize ws = { .ws_row = (unsigned short)p->console_height,
				      .ws_col = (unsigned short)p->console_width };
		if (ioctl(sl, TIOCSWINSZ, &ws) < 0)
			return cc_error_set(err, errno, "terminal: set its size");
	}
	if (bind_console && mount(name, "/dev/console", NULL, MS_BIND, NULL) < 0)
		return cc_error_set(err, errno, "bind %s onto /dev/console", name);
	if (send_fd(sock, m) < 0)
		return cc_error_set(err, errno, "terminal: hand over the pty");
	for (int i = 0; i < 3; i++) {
		if (dup2(sl, i) < 0)
			return cc_error_set(err, errno, "terminal: dup2");
	}
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		return cc_error_set(err, errno, "set the controlling terminal");
	return 0;
}

static const char *path_of(char *const *env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], "PATH=", 5) == 0)
			return env[i] + 5;
	}
	return DEFAULT_PATH;
}

/* execve with a PATH search in the container's own PATH. Only returns on failure:
 * 127 with "not found", 126 when found but not executable (as shells do). */
static void __attribute__((noreturn)) exec_process(const struct oci_process *p, int sock)
{
	struct cc_error err;
	const char *file = p->args[0];
	int e = ENOENT;
	if (strchr(file, '/') != NULL) {
		execve(file, p->args, p->env);
		e = errno;
	} else {
		const char *dirs = path_of(p->env);
		while (1) {
			const char *end = strchrnul(dirs, ':');
			char path[4096];
			int n = snprintf(path, sizeof(path), "%.*s%s%s", (int)(end - dirs), dirs,
					 end == dirs ? "" : "/", file);
			if (n > 0 && (size_t)n < sizeof(path)) {
				execve(path, p->args, p->env);
				if (errno != ENOENT && errno != ENOTDIR && e != EACCES)
					e = errno;
			}
			if (*end == '\0')
				break;
			dirs = end + 1;
		}
	}
	if (e == ENOENT || e == ENOTDIR) {
		cc_error_set(&err, 0, "exec: %s: not found", file);
		child_fail(sock, &err, 127);
	}
	cc_error_set(&err, e, "exec: %s", file);
	child_fail(sock, &err, 126);
}

static int apply_sysctls(const struct oci_spec *s, struct cc_error *err)
{
	for (size_t i = 0; s->sysctl_keys != NULL && s->sysctl_keys[i] != NULL; i++) {
		const char *k = s->sysctl_keys[i], *v = s->sysctl_values[i];
		char path[256];
		if (strstr(k, "..") != NULL || strchr(k, '/') != NULL ||
		    snprintf(path, sizeof(path), "/proc/sys/%s", k) >= (int)sizeof(path))
			return cc_error_set(err, 0, "linux.sysctl: invalid key %s", k);
		for (char *c = path + 10; *c != '\0'; c++)
			*c = *c == '.' ? '/' : *c;
		if (cc_write_file(path, v, strlen(v), 0644, err) < 0)
			return cc_error_prefix(err, "linux.sysctl %s", k);
	}
	return 0;
}

static int join_ns(const char *path, struct cc_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, 0) < 0)
		return cc_error_set(err, errno, "join namespace %s", path);
	return 0;
}

static int ns_flag(enum oci_ns_type t)
{
	switch (t) {
	case OCI_NS_MOUNT: return CLONE_NEWNS;
	case OCI_NS_UTS: return CLONE_NEWUTS;
	case OCI_NS_IPC: return CLONE_NEWIPC;
	case OCI_NS_CGROUP: return CLONE_NEWCGROUP;
	case OCI_NS_PID: return CLONE_NEWPID;
	default: return 0;
	}
}

/* Everything up to the start byte; errors end here and reach container_create. */
static int init_setup(struct container_rt *c, const struct spawn_stdio *io, int sock,
		      scmp_filter_ctx *filter, struct cc_error *err)
{
	const struct oci_spec *s = c->spec;
	int unshare_flags = 0;
	reset_signals();
	if (c->cgroup[0] != '\0' && cgroup_join_self(c->cgroup, err) < 0)
		return -1;
	for (size_t i = 0; i < s->n_namespaces; i++) {
		const struct oci_namespace *ns = &s->namespaces[i];
		if (ns->type == OCI_NS_PID || ns->type == OCI_NS_NETWORK)
			continue; /* pid: done by the parent; network: the VM's is shared */
		if (ns->path != NULL && join_ns(ns->path, err) < 0)
			return -1;
		if (ns->path == NULL)
			unshare_flags |= ns_flag(ns->type);
	}
	if (unshare(unshare_flags) < 0)
		return cc_error_set(err, errno, "unshare namespaces");
	if (setup_stdio(io, s->process.terminal, err) < 0 || security_limits(&s->process, err) < 0)
		return -1;
	if (mounts_prepare(s->root_path, err) < 0 ||
	    mounts_apply(s, s->root_path, s->process.terminal, err) < 0 ||
	    mounts_pivot(s->root_path, err) < 0)
		return -1;
	if (s->process.terminal && open_console(&s->process, sock, true, err) < 0)
		return -1;
	if (s->hostname != NULL && sethostname(s->hostname, strlen(s->hostname)) < 0)
		return cc_error_set(err, errno, "sethostname");
	if (apply_sysctls(s, err) < 0)
		return -1;
	/* runc creates a missing cwd too; it must exist before the root turns read-only. */
	if (cc_mkdir_p(s->process.cwd, 0755, err) < 0)
		return cc_error_prefix(err, "process.cwd");
	if (mounts_finish(s, err) < 0)
		return -1;
	return security_build_seccomp(s->seccomp, filter, err);
}

static void __attribute__((noreturn))
init_child(struct container_rt *c, const struct spawn_stdio *io, int sock)
{
	struct cc_error err = { 0 };
	scmp_filter_ctx filter = NULL;
	if (init_setup(c, io, sock, &filter, &err) < 0)
		child_fail(sock, &err, 1);
	struct sync_msg m = { .kind = MSG_READY };
	char start;
	if (send(sock, &m, sizeof(m), MSG_NOSIGNAL) < 0 || recv(sock, &start, 1, 0) != 1)
		_exit(1); /* the agent gave up on this container */
	const struct oci_process *p = &c->spec->process;
	if (security_drop(p, filter, &err) < 0)
		child_fail(sock, &err, 1);
	if (chdir(p->cwd) < 0) {
		cc_error_set(&err, errno, "chdir %s", p->cwd);
		child_fail(sock, &err, 1);
	}
	exec_process(p, sock);
}

/* ---- parent side ---- */

/* Forks with the child in the pid namespace `pidns_fd` (or a new one when it is -1
 * and `new_pidns` is set). Only this thread's pid_for_children changes, and it is
 * restored before returning, so the agent itself never leaves its namespace. */
static pid_t fork_in_pidns(int pidns_fd, int new_pidns, struct cc_error *err)
{
	if (pidns_fd < 0 && !new_pidns) {
		pid_t pid = fork();
		return pid < 0 ? cc_error_set(err, errno, "fork") : pid;
	}
	cleanup_close int self = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return cc_error_set(err, errno, "open /proc/self/ns/pid");
	if (pidns_fd >= 0 ? setns(pidns_fd, CLONE_NEWPID) : unshare(CLONE_NEWPID))
		return cc_error_set(err, errno, "enter pid namespace");
	pid_t pid = fork();
	int saved = errno;
	if (pid == 0)
		return 0;
	if (setns(self, CLONE_NEWPID) < 0)
		cc_err("cannot return to the agent's pid namespace: %s", strerror(errno));
	return pid < 0 ? cc_error_set(err, saved, "fork") : pid;
}

/* Reads the child's verdict: 1 ready, 0 end-of-file (exec done), -1 error text. A
 * terminal's master arriving first is stored in *console. */
static int read_verdict(int fd, int *console, struct cc_error *err)
{
	for (;;) {
		struct sync_msg m;
		struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} u;
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t n;
		do
			n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
		int passed = -1;
		struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
		if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&passed, CMSG_DATA(c), sizeof(int));
		if (n == 0)
			return 0;
		if (n != (ssize_t)sizeof(m)) {
			if (passed >= 0)
				close(passed);
			return cc_error_set(err, n < 0 ? errno : EPROTO, "container sync");
		}
		if (m.kind == MSG_CONSOLE && passed >= 0 && console != NULL && *console < 0) {
			*console = passed;
			continue;
		}
		if (passed >= 0)
			close(passed);
		if (m.kind == MSG_READY)
			return 1;
		m.text[sizeof(m.text) - 1] = '\0';
		cc_error_set(err, 0, "%s", m.text);
		return -1;
	}
}

static int validate(const struct container_rt *c, int *new_pidns, const char **pidns_path,
		    struct cc_error *err)
{
	const struct oci_spec *s = c->spec;
	int has_mnt = 0, has_uts = 0;
	*new_pidns = 0;
	*pidns_path = NULL;
	if (s == NULL)
		return cc_error_set(err, 0, "container %s has no spec", c->id);
	if (s->root_path[0] != '/')
		return cc_error_set(err, 0, "root.path: must be absolute in the guest, got %s",
				    s->root_path);
	for (size_t i = 0; i < s->n_namespaces; i++) {
		const struct oci_namespace *ns = &s->namespaces[i];
		if (ns->type == OCI_NS_USER || ns->type == OCI_NS_TIME)
			return cc_error_set(err, 0,
					    "linux.namespaces: %s namespaces are not "
					    "supported",
					    ns->type == OCI_NS_USER ? "user" : "time");
		has_mnt |= ns->type == OCI_NS_MOUNT;
		has_uts |= ns->type == OCI_NS_UTS;
		if (ns->type == OCI_NS_PID) {
			*new_pidns = ns->path == NULL;
			*pidns_path = ns->path;
		}
	}
	if (!has_mnt)
		return cc_error_set(err, 0, "linux.namespaces: a mount namespace is required");
	if (s->hostname != NULL && !has_uts)
		return cc_error_set(err, 0, "hostname: needs a uts namespace");
	return 0;
}

int container_create(struct container_rt *c, struct spawn_stdio *io, struct cc_error *err)
{
	io->console = -1;
	int new_pidns, sv[2];
	const char *pidns_path;
	cleanup_close int pidns_fd = -1;
	c->init_pid = 0;
	c->start_fd = -1;
	if (validate(c, &new_pidns, &pidns_path, err) < 0)
		return -1;
	if (mounts_memory_volumes(c->spec, err) < 0)
		return cc_error_prefix(err, "create container %s", c->id);
	if (cgroup_create(c->id, c->cgroup, sizeof(c->cgroup), err) < 0) {
		c->cgroup[0] = '\0';
		return -1;
	}
	if (cgroup_apply(c->cgroup, &c->spec->resources, err) < 0)
		goto fail;
	if (pidns_path != NULL && (pidns_fd = open(pidns_path, O_RDONLY | O_CLOEXEC)) < 0) {
		cc_error_set(err, errno, "open pid namespace %s", pidns_path);
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		cc_error_set(err, errno, "socketpair");
		goto fail;
	}
	pid_t pid = fork_in_pidns(pidns_fd, new_pidns, err);
	if (pid == 0) {
		close(sv[0]);
		init_child(c, io, sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		goto fail;
	}
	c->init_pid = pid;
	c->start_fd = sv[0];
	int r = read_verdict(c->start_fd, &io->console, err);
	if (r == 1)
		return 0;
	if (io->console >= 0) {
		close(io->console);
		io->console = -1;
	}
	if (r == 0)
		cc_error_set(err, 0, "container init exited during setup");
	close(c->start_fd);
	c->start_fd = -1;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	c->init_pid = 0;
fail:
	cc_error_prefix(err, "create container %s", c->id);
	struct cc_error ignored;
	cgroup_remove(c->cgroup, &ignored);
	c->cgroup[0] = '\0';
	return -1;
}

int container_start(struct container_rt *c, struct cc_error *err)
{
	if (c->start_fd < 0)
		return cc_error_set(err, 0, "container %s: not created or already started", c->id);
	int r = cc_write_all(c->start_fd, "s", 1, err);
	if (r == 0)
		r = read_verdict(c->start_fd, NULL, err);
	close(c->start_fd);
	c->start_fd = -1;
	if (r < 0)
		return cc_error_prefix(err, "start container %s", c->id);
	return 0;
}

static void __attribute__((noreturn))
exec_child(struct container_rt *c, const struct oci_process *p, const struct spawn_stdio *io,
	   int *ns_fds, size_t n_ns, int sock)
{
	struct cc_error err = { 0 };
	scmp_filter_ctx filter = NULL;
	reset_signals();
	if (c->cgroup[0] != '\0' && cgroup_join_self(c->cgroup, &err) < 0)
		child_fail(sock, &err, 1);
	for (size_t i = 0; i < n_ns; i++) {
		if (setns(ns_fds[i], 0) < 0) {
			cc_error_set(&err, errno, "join the container's namespaces");
			child_fail(sock, &err, 1);
		}
	}
	if (setup_stdio(io, p->terminal, &err) < 0 ||
	    (p->terminal && open_console(p, sock, false, &err) < 0) ||
	    security_limits(p, &err) < 0 ||
	    security_build_seccomp(c->spec->seccomp, &filter, &err) < 0 ||
	    security_drop(p, filter, &err) < 0)
		child_fail(sock, &err, 1);
	if (chdir(p->cwd) < 0) {
		cc_error_set(&err, errno, "chdir %s", p->cwd);
		child_fail(sock, &err, 1);
	}
	exec_process(p, sock);
}

int container_exec(struct container_rt *c, const struct oci_process *p, struct spawn_stdio *io,
		   pid_t *pid, struct cc_error *err)
{
	io->console = -1;
	/* mnt last: after it, paths resolve in the container. */
	static const char *const names[] = { "cgroup", "ipc", "uts", "mnt" };
	int ns_fds[CC_ARRAY_SIZE(names)], sv[2];
	size_t n = 0;
	*pid = 0;
	if (c->init_pid <= 0)
		return cc_error_set(err, 0, "exec in %s: container not created", c->id);
	cleanup_close int pidns = -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)c->init_pid);
	if ((pidns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cc_error_set(err, errno, "exec in %s: open %s", c->id, path);
	for (; n < CC_ARRAY_SIZE(names); n++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)c->init_pid, names[n]);
		if ((ns_fds[n] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			cc_error_set(err, errno, "exec in %s: open %s", c->id, path);
			goto out;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		cc_error_set(err, errno, "socketpair");
		goto out;
	}
	pid_t child = fork_in_pidns(pidns, 0, err);
	if (child == 0) {
		close(sv[0]);
		exec_child(c, p, io, ns_fds, n, sv[1]);
	}
	close(sv[1]);
	if (child > 0) {
		*pid = child;
		if (read_verdict(sv[0], &io->console, err) == 0) {
			close(sv[0]);
			for (size_t i = 0; i < n; i++)
				close(ns_fds[i]);
			return 0;
		}
	}
	close(sv[0]);
	if (io->console >= 0) {
		close(io->console);
		io->console = -1;
	}
	cc_error_prefix(err, "exec in %s", c->id);
out:
	for (size_t i = 0; i < n; i++)
		close(ns_fds[i]);
	return -1;
}

int container_kill(struct container_rt *c, int sig, int all, struct cc_error *err)
{
	if (all && c->cgroup[0] != '\0')
		return cgroup_signal_all(c->cgroup, sig, err);
	if (c->init_pid <= 0)
		return cc_error_set(err, 0, "kill %s: container not created", c->id);
	if (kill(c->init_pid, sig) < 0)
		return cc_error_set(err, errno, "kill %s (pid %d)", c->id, (int)c->init_pid);
	return 0;
}

int container_freeze(struct container_rt *c, int frozen, struct cc_error *err)
{
	if (c->cgroup[0] == '\0')
		return cc_error_set(err, 0, "%s: no cgroup", c->id);
	return cgroup_freeze(c->cgroup, frozen, err);
}

int container_update(struct container_rt *c, const struct oci_resources *r, struct cc_error *err)
{
	if (c->cgroup[0] == '\0')
		return cc_error_set(err, 0, "%s: no cgroup", c->id);
	return cgroup_apply(c->cgroup, r, err);
}

int container_destroy(struct container_rt *c, struct cc_error *err)
{
	if (c->start_fd >= 0) {
		close(c->start_fd);
		c->start_fd = -1;
	}
	if (c->cgroup[0] != '\0') {
		if (cgroup_signal_all(c->cgroup, SIGKILL, err) < 0 ||
		    cgroup_remove(c->cgroup, err) < 0)
			return cc_error_prefix(err, "destroy %s", c->id);
		c->cgroup[0] = '\0';
	} else if (c->init_pid > 0 && kill(c->init_pid, SIGKILL) < 0 && errno != ESRCH) {
		return cc_error_set(err, errno, "destroy %s: kill", c->id);
	}
	oci_spec_free(c->spec);
	c->spec = NULL;
	return 0;
}

int container_stats(struct container_rt *c, struct container_stats *st, struct cc_error *err)
{
	if (c->cgroup[0] == '\0')
		return cc_error_set(err, 0, "%s: no cgroup", c->id);
	return cgroup_read_stats(c->cgroup, st, err);
}

int container_pids(struct container_rt *c, pid_t **pids, size_t *n, struct cc_error *err)
{
	if (c->cgroup[0] == '\0')
		return cc_error_set(err, 0, "%s: no cgroup", c->id);
	return cgroup_read_pids(c->cgroup, pids, n, err);
}
